"""Every field family through `train +exp=ks|ns debug=fast`: trained, judged by the protocol of its
data kind (KS: the attractor's invariants with λ_max by jvp; Navier–Stokes: the field protocol,
whose persistence reference is recomputed here from the store), and its kept model rolls out as
its own step repeated."""

import json

import numpy as np
import pytest
import torch

import dynlearn
from dynlearn.cli import main
from dynlearn.models import list_models, model_family
from tests.helpers import REPO

FIELD_FAMILIES = [m for m in list_models() if {"field1d", "field2d"} <= set(model_family(m).kinds)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("field-data")  # each experiment's store, generated once for every family


@pytest.mark.parametrize("exp", ["ks", "ns"])
@pytest.mark.parametrize("model", FIELD_FAMILIES)
def test_a_field_family_trains_is_judged_by_its_kinds_protocol_and_rolls_out_its_step(
        model, exp, data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    assert main(["train", f"+exp={exp}", f"model={model}", "debug=fast", f"paths.data={data_dir}"]) == 0
    (run_dir,) = (tmp_path / "runs").glob("*/*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    run = dynlearn.load_run(run_dir)
    ds = dynlearn.open_store(run.data_store)
    if exp == "ks":
        assert "protocol" not in metrics and metrics["n_ics"] == 2  # protocol v2 on the flattened field
        assert metrics["lyap_max_available"] and np.isfinite(metrics["lyap_max"])
        assert metrics["lyap_max_reference"] == pytest.approx(0.0478, rel=0.01)
        assert (run_dir / "space_time.png").exists()
    else:
        assert metrics["protocol"] == "field_forecast" and metrics["n_steps"] == 10
        test = np.flatnonzero(ds.split.values == 2)
        w = ds.vorticity.values[test]  # (K, T, Y, X)
        held = np.repeat(w[:, 3:4], 10, axis=1)  # the last of 4 context frames, held
        truth = w[:, 4:14]
        expected = np.mean([np.linalg.norm(held[k] - truth[k]) / np.linalg.norm(truth[k]) for k in range(len(w))])
        assert metrics["persistence"]["rel_l2"] == pytest.approx(expected, rel=1e-10)
        assert np.isfinite(metrics["rel_l2"]) and metrics["n_failed"] == 0
    log = (run_dir / "checkpoints" / "train_log.csv").read_text().splitlines()[0]
    assert ("val_rel_l2" in log) == (exp == "ns")

    shape = (1, *[ds.sizes[d] for d in ds.vorticity.dims[2:]]) if exp == "ns" else (1, ds.sizes["x"])
    context = torch.randn(2, 4, *shape, generator=torch.Generator().manual_seed(0))
    rolled = run.model.rollout(context, 6)
    with torch.no_grad():
        state, stepped = run.model.initial_state(context), []
        for _ in range(6):
            state = run.model.step(state)
            stepped.append(run.model.observe(state))
    torch.testing.assert_close(rolled, torch.stack(stepped, dim=1), rtol=0, atol=0)
