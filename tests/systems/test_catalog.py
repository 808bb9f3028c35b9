"""The ODE catalogue: Jacobians against autograd, binding by name, errors that list the valid
names, samples on the attractor, angles on their circles. The equations themselves are checked
against independent references in test_catalog_fidelity.py."""

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest
import torch
import yaml

from dynlearn._errors import ConfigError
from dynlearn.systems import (
    AbstractSystem,
    ODESystem,
    SystemSpec,
    list_ode_systems,
    load_catalog,
    make_system,
)

pytestmark = pytest.mark.usefixtures("float64")

ALL_SYSTEMS = list_ode_systems()


def _small(name: str) -> ODESystem:
    """The system with a small state where the dimension is a parameter (fast tests)."""
    return make_system(name, n=6) if name == "lorenz96" else make_system(name)


def test_catalogue_lists_the_systems():
    # The catalogue grew (issue 3, item 4); the original three stay first, in order.
    assert ALL_SYSTEMS[:3] == ["lorenz63", "rossler", "lorenz96"] and len(ALL_SYSTEMS) >= 20
    assert all(isinstance(make_system(name), AbstractSystem) for name in ALL_SYSTEMS)


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_rhs_and_jacobian_batch_over_leading_dims(name, generator):
    system = _small(name)
    x = torch.randn(2, 3, system.dim, generator=generator)
    assert torch.equal(system.rhs(0.0, x)[1, 2], system.rhs(0.0, x[1, 2]))
    assert system.jacobian(x).shape == (2, 3, system.dim, system.dim)
    assert torch.equal(system.jacobian(x)[1, 2], system.jacobian(x[1, 2]))


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_analytic_jacobian_equals_autograd(name, generator):
    system = _small(name)
    x = 4 * torch.randn(5, system.dim, generator=generator)
    expected = torch.func.vmap(torch.func.jacrev(lambda y: system.rhs(0.0, y)))(x)
    torch.testing.assert_close(system.jacobian(x), expected, rtol=1e-14, atol=1e-14)


def test_lorenz96_jacobian_at_default_size(generator):
    system = make_system("lorenz96")
    x = torch.randn(2, 40, generator=generator)
    expected = torch.func.vmap(torch.func.jacrev(lambda y: system.rhs(0.0, y)))(x)
    torch.testing.assert_close(system.jacobian(x), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_sample_initial_conditions_is_deterministic(name):
    system = make_system(name)
    first = system.sample_initial_conditions(5, torch.Generator().manual_seed(7))
    again = system.sample_initial_conditions(5, torch.Generator().manual_seed(7))
    assert first.shape == (5, system.dim) and first.dtype == torch.float64
    assert torch.isfinite(first).all()
    assert torch.equal(first, again)
    assert torch.cdist(first, first).add(torch.eye(5)).min() > 1e-3  # distinct draws
    assert not first.is_inference() and first.requires_grad_().is_leaf


CIRCLED = [name for name in ALL_SYSTEMS if load_catalog()[name].circles]


def test_forced_systems_store_their_angles_on_circles():
    # Issue 8 §5: stored data stationary, so no angle that grows without bound.
    assert CIRCLED == ["duffing", "pendulum"]
    assert make_system("duffing").state_names == ("x", "v", "cos_phi", "sin_phi")
    assert make_system("pendulum").state_names == (
        "cos_theta", "sin_theta", "omega", "cos_phi", "sin_phi"
    )


@pytest.mark.parametrize("name", CIRCLED)
def test_angles_stay_on_their_circles(name, generator):
    """The vector field is tangent to each unit circle (d/dt (c² + s²) = 0 everywhere), and
    sampled states lie on the circles after the transient: RK4 does not keep the radius
    exactly but shrinks it by < 1e-8 a step at the catalogue dt (measured: 3e-10 for Duffing's
    phase, 5e-9 for the pendulum angle, whose rate ω reaches ~3)."""
    system = make_system(name)
    x = 4 * torch.randn(16, system.dim, generator=generator)
    rate = system.rhs(0.0, x)
    samples = system.sample_initial_conditions(16, generator)
    for i, j in system.spec.circles:
        tangent = x[:, i] * rate[:, i] + x[:, j] * rate[:, j]
        torch.testing.assert_close(tangent, torch.zeros(16), rtol=0, atol=1e-12)
        radius = samples[:, i].hypot(samples[:, j])
        steps = round(system.spec.transient_time / system.dt)
        torch.testing.assert_close(radius, torch.ones(16), rtol=0, atol=1e-8 * steps)


def test_circles_must_name_state_pairs():
    entry = yaml.safe_load(_bench_script().CATALOG.read_text("utf-8"))["duffing"]
    entry["circles"] = [["cos_phi", "sin_theta"]]
    with pytest.raises(ValueError, match="'duffing': circles must be \\[cos, sin\\] pairs"):
        SystemSpec.from_entry("duffing", entry)


def test_lorenz63_samples_have_the_attractor_statistics(generator):
    """Independent samples reproduce known long-run moments: ⟨z⟩ ≈ 23.5, std x ≈ 7.9."""
    x = make_system("lorenz63").sample_initial_conditions(512, generator)
    assert abs(x[:, 2].mean().item() - 23.5) < 1.5  # standard error ≈ 8.6/√512 ≈ 0.4
    assert abs(x[:, 0].std().item() - 7.9) < 1.0
    assert abs(x[:, 0].mean().item()) < 1.5  # symmetric attractor


def test_parameters_are_bound_by_name():
    system = make_system("lorenz63", rho=30.0)
    assert dict(system.params) == {"sigma": 10.0, "rho": 30.0, "beta": 8 / 3}
    x = torch.tensor([1.0, 2.0, 3.0])
    # y' = x(ρ − z) − y = 1·(30 − 3) − 2 = 25 only if ρ reached the right slot.
    assert system.rhs(0.0, x).tolist() == [10.0, 25.0, 2.0 - 8.0]


def test_overriding_parameters_drops_literature_exponents():
    system = make_system("lorenz63")
    # The Lyapunov time comes from the computed λ1, which matches Viswanath's 0.9056 to 1 %.
    assert system.lyapunov_time == 1 / system.computed_lyapunov.exponents[0]
    assert system.lyapunov_time == pytest.approx(1 / 0.9056, rel=0.01)
    changed = make_system("lorenz63", rho=30.0)
    assert changed.lyapunov_time is None and changed.lyapunov_exponents is None
    assert changed.computed_lyapunov is None


def test_limit_cycles_have_no_lyapunov_time():
    # Their computed λ1 is ±1/T rather than 0; the chaotic flag decides.
    for name in ALL_SYSTEMS:
        system = make_system(name)
        assert (system.lyapunov_time is not None) == system.spec.chaotic, name


def test_unknown_system_lists_the_catalogue():
    with pytest.raises(ConfigError, match="unknown system 'lorenz64'") as error:
        make_system("lorenz64")
    assert "choose one of: lorenz63, rossler, lorenz96" in str(error.value)


def test_unknown_parameter_lists_the_parameters():
    message = "unknown parameter 'r' for system 'lorenz63'; choose from: sigma, rho, beta"
    with pytest.raises(ConfigError, match=message):
        make_system("lorenz63", r=28.0)


@pytest.mark.parametrize("override", [{"n": 40.5}, {"n": True}, {"F": "8"}, {"n": 3}])
def test_bad_parameter_values_are_config_errors(override):
    with pytest.raises(ConfigError, match="lorenz96"):
        make_system("lorenz96", **override)


def test_dimension_follows_its_parameter():
    system = make_system("lorenz96", n=8)
    assert system.dim == 8 and system.state_names == tuple(f"x{i}" for i in range(8))
    assert system.rhs(0.0, torch.zeros(8)).tolist() == [8.0] * 8


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_to_dict_is_json_and_rebuilds_the_system(name):
    system = make_system(name)
    record = json.loads(json.dumps(system.to_dict()))
    assert record["name"] == name and record["dim"] == system.dim
    assert record["dt"] == system.dt and len(record["state_names"]) == system.dim
    rebuilt = make_system(record["name"], **record["params"])
    assert rebuilt.to_dict() == record


def test_catalogue_literature_values():
    catalog = load_catalog()
    assert catalog["lorenz63"].lyapunov_exponents == (0.9056, 0.0, -14.5723)
    assert catalog["rossler"].lyapunov_exponents == (0.0714, 0.0, -5.3943)
    assert catalog["lorenz96"].lyapunov_exponents[0] == 1.68
    assert catalog["lorenz63"].params["beta"] == 8 / 3
    assert all(math.isfinite(spec.dt) and spec.dt > 0 for spec in catalog.values())


def test_every_system_stores_a_full_computed_spectrum():
    for name, spec in load_catalog().items():
        stored = spec.computed_lyapunov
        system = make_system(name)
        assert stored is not None, name
        assert len(stored.exponents) == len(stored.stderr) == system.dim, name
        assert list(stored.exponents) == sorted(stored.exponents, reverse=True), name
        assert all(math.isfinite(e) and 0 <= e < 1 for e in stored.stderr), name
        assert stored.dt == spec.dt and stored.n_ics == 16 and stored.time >= 100, name
        assert stored.estimator == "QR/Benettin, RK4 tangent map"


def _bench_script():
    path = Path(__file__).parents[2] / "bench" / "catalog_lyapunov.py"
    module_spec = importlib.util.spec_from_file_location("catalog_lyapunov", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_write_catalog_rewrites_only_the_computed_blocks():
    """Replacing every block by itself is the identity; removing them all leaves the file
    as it was before any was written (comments, order and literature values intact)."""
    bench = _bench_script()
    text = bench.CATALOG.read_text("utf-8")
    blocks = re.findall(f"{re.escape(bench.BEGIN)}.*?{re.escape(bench.END)}", text, flags=re.S)
    assert len(blocks) == len(ALL_SYSTEMS)
    same, bare = text, text
    for name, block in zip(ALL_SYSTEMS, blocks):
        same = bench.replace_block(same, name, block)
        bare = bench.replace_block(bare, name, "")
    assert same == text
    header = text.index("lorenz63:")  # the comments that document the fields
    assert bare[:header] == text[:header] and "computed_lyapunov" not in bare[header:]
    assert yaml.safe_load(bare) == {
        name: {k: v for k, v in entry.items() if k != "computed_lyapunov"}
        for name, entry in yaml.safe_load(text).items()
    }


def test_malformed_computed_block_names_the_problem():
    entry = yaml.safe_load(_bench_script().CATALOG.read_text("utf-8"))["rossler"]
    entry["computed_lyapunov"]["exponents"] = [0.07, 0.0]
    with pytest.raises(ValueError, match="'rossler': computed_lyapunov lists need 3 values"):
        SystemSpec.from_entry("rossler", entry)
    del entry["computed_lyapunov"]["seed"]
    with pytest.raises(ValueError, match="computed_lyapunov needs exactly the fields"):
        SystemSpec.from_entry("rossler", entry)
