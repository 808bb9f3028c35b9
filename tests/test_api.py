"""The Python API a notebook uses reproduces what the CLI's evaluation reports."""

import json

import numpy as np
import pytest
import torch

import dynlearn
from dynlearn.metrics import d_stsp
from tests.helpers import REPO, TINY_DATA, TINY_TRAIN


def test_api_free_run_reproduces_the_evaluated_d_stsp(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    settings = dynlearn.load_settings([*TINY_DATA, *TINY_TRAIN, f"paths.data={tmp_path}/data",
                                       f"paths.runs={tmp_path}/runs"])
    store = dynlearn.generate(settings)
    run_dir = dynlearn.train(settings)
    evaluated = json.loads((run_dir / "metrics.json").read_text())["per_ic"][0]

    ds = dynlearn.open_store(store)
    run = dynlearn.load_run(run_dir)
    first_test = int(np.flatnonzero(ds.split.values == 2)[0])
    assert evaluated["trajectory"] == first_test
    states = torch.from_numpy(ds.state.values[first_test])
    context = run.normalizer.normalize(states[:1])[None].float()
    n, transient = settings.eval.n_steps, settings.eval.transient
    free = run.normalizer.denormalize(run.model.rollout(context, transient + n).double())[0, transient:]
    truth = states[1:1 + n].numpy()
    std, mean = np.asarray(run.normalizer.std), np.asarray(run.normalizer.mean)
    api = d_stsp((truth - mean) / std, (free.numpy() - mean) / std)
    assert api == pytest.approx(evaluated["d_stsp"], rel=1e-6)
