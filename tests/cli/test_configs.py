"""Every config composes and validates; the catalogue and the YAML agree."""

import pytest
import torch

from dynlearn import ConfigError

from dynlearn._settings import build_settings
from dynlearn.cli import load_config
from dynlearn.systems import FIELD_SYSTEMS, GRID_SYSTEMS, list_ode_systems, list_systems, make_system
from dynlearn.systems._sde import list_sdes
from tests.helpers import REPO

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "exp").glob("*.yaml"))
SYSTEMS = sorted(p.stem for p in (REPO / "conf" / "system").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _conf(monkeypatch):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_every_experiment_composes_and_validates(exp):
    if exp.endswith("_gpu") and not torch.cuda.is_available():  # paper-sized, CUDA only: refused in one line here
        with pytest.raises(ConfigError, match="for a CUDA GPU and this machine has none"):
            build_settings(load_config([f"+exp={exp}"]))
        return
    settings = build_settings(load_config([f"+exp={exp}"]))
    assert settings.name and settings.trainer.epochs >= 1


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_system_config_matches_the_catalogue(system):
    config = load_config([f"system={system}"])
    settings = build_settings(config, check_model=False)
    name = config["system"]["name"]
    if name in {**FIELD_SYSTEMS, **GRID_SYSTEMS} or name in list_sdes():
        # PDEs, the river and SDEs (dt is their step): the config's parameters reach the system unchanged
        given = config["system"]["params"]
        described = {**settings.system.to_dict(), **settings.system.params}
        assert {k: described.get(k, getattr(settings.system, k, None)) for k in given} == given
        return
    catalogue = make_system(name)
    assert dict(settings.system.params) == pytest.approx(dict(catalogue.params))
    assert settings.dt == pytest.approx(catalogue.dt)


def test_hashes_ignore_what_does_not_change_results():
    a = build_settings(load_config(["threads=1", "trainer.progress=false"]))
    b = build_settings(load_config(["threads=2"]))
    c = build_settings(load_config(["trainer.epochs=7"]))
    assert a.run_hash == b.run_hash != c.run_hash
    assert a.data_hash == c.data_hash
    assert build_settings(load_config(["data.n_steps=5000"])).data_hash != a.data_hash


def test_list_systems_names_every_system_make_system_builds():
    names = list_systems()
    assert names == [*list_ode_systems(), *list_sdes(), "ks", "navier_stokes_2d", "river"]
    assert len(list_ode_systems()) == 27 and list_sdes() == ["ornstein_uhlenbeck", "stochastic_lorenz63"]
    assert {type(make_system(name, dt=0.005)).__name__ for name in list_sdes()} == {"SDESystem"}
    assert "river" not in FIELD_SYSTEMS and GRID_SYSTEMS["river"].__name__ == "RiverSystem"
    assert {type(make_system(name)).__name__ for name in names[-3:]} == \
        {"KuramotoSivashinsky", "NavierStokes2D", "RiverSystem"}
