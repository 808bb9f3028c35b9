"""A trained Lorenz run for the forecast tests (trained once), and run directories for test-only families."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import yaml

import dynlearn
from dynlearn.cli import main
from dynlearn.data import IngestSpec
from dynlearn.models import AbstractModel, _registry
from tests.helpers import REPO


@pytest.fixture(scope="session")
def lorenz_run(tmp_path_factory):
    """(run directory, its data store) of `train +exp=lorenz debug=fast`: an AL-RNN on Lorenz-63."""
    root = tmp_path_factory.mktemp("lorenz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
        assert main(["train", "+exp=lorenz", "debug=fast", f"paths.data={root}/data", f"paths.runs={root}/runs"]) == 0
    (run_dir,) = (root / "runs").glob("*/*")
    return run_dir, root / "data" / "lorenz63-debug.zarr"


class Persistence(AbstractModel):
    """Tomorrow = today: the last context observation, forever (a vector family; forcing is ignored)."""

    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, io, config=None):
        super().__init__()

    def loss(self, batch):
        raise NotImplementedError("persistence is not trained")

    def initial_state(self, context, u=None):
        return context[:, -1]

    def step(self, state, u=None):
        return state

    def observe(self, state):
        return state


class FieldPersistence(Persistence):
    layout = "field"
    kinds = ("grid",)


class FlowMap(AbstractModel):
    """The true RK4 map of a catalogue system, on states standardized by `mean` and `std`."""

    @dataclasses.dataclass
    class Config:
        system: str = "lorenz63"
        dt: float = 0.01
        mean: tuple = (0.0,)
        std: tuple = (1.0,)

    def __init__(self, io, config):
        super().__init__()
        from dynlearn.solvers import make_system_step
        from dynlearn.systems import make_system

        self._step = make_system_step(make_system(config.system), config.dt)
        self.mean = torch.tensor(config.mean, dtype=torch.float64)
        self.std = torch.tensor(config.std, dtype=torch.float64)

    def loss(self, batch):
        raise NotImplementedError("the true map is not trained")

    def initial_state(self, context, u=None):
        return context[:, -1]

    def step(self, state, u=None):
        return (self._step(state * self.std + self.mean) - self.mean) / self.std

    def observe(self, state):
        return state


FAMILIES = {"persistence": Persistence, "field_persistence": FieldPersistence, "flow_map": FlowMap}


@pytest.fixture
def families(monkeypatch):
    for name, cls in FAMILIES.items():
        monkeypatch.setitem(_registry.MODELS, name, cls)


def make_run(run_dir, family: str, store, *, options=None, dtype="float64", normalizer=None):
    """A run directory as training leaves it (config, checkpoint and its metadata) for a family
    that needs no training, reading `store` in its layout (with the store's statistics, or
    `normalizer`'s)."""
    ds = dynlearn.open_store(store)
    data = dynlearn.data.WindowDataset(store, "train", 2, layout=FAMILIES[family].layout, check_values=False,
                                       normalizer=normalizer)
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"name": family}}))
    torch.save({}, run_dir / "checkpoints" / "best.pt")
    meta = {"model_name": family, "model_options": options or {}, "obs_dim": data.dim, "dtype": dtype,
            "io": {"state": list(data.item_shape), "forcing": list(data.forcing_shape)},
            "dt": float(ds.attrs["dt"]), "system": ds.attrs["system"], "data_store": str(store),
            "norm_mean": data.normalizer.tolist()[0], "norm_std": data.normalizer.tolist()[1]}
    (run_dir / "checkpoints" / "best.json").write_text(json.dumps(meta))
    return run_dir


def ingest_npy(tmp_path, name: str, states: np.ndarray):
    """A store `name` (its system is its name) ingested from (traj, time, dim) states at dt 0.01."""
    source = tmp_path / f"{name}.npy"
    np.save(source, states)
    return dynlearn.ingest(source, tmp_path / "data" / f"{name}.zarr", IngestSpec(dt=0.01))
