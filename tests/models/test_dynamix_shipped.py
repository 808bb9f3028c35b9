"""The pretrained DynaMix shipped with dynlearn (`run=dynamix`, dynlearn/pretrained/dynamix/): it loads
with `weights_only=True`, is small, and reproduces the zero-shot figures recorded when it was shipped."""

import json

import numpy as np
import pytest
import torch

from dynlearn._context_forecast import PRETRAINED, resolve_run
from dynlearn.pretrained._ship import check_figures

SHIPPED = PRETRAINED / "dynamix"


def test_run_dynamix_names_the_shipped_run_and_its_checkpoint_is_small_and_loads_with_weights_only():
    assert resolve_run("dynamix") == SHIPPED
    checkpoint = SHIPPED / "checkpoints" / "best.pt"
    assert checkpoint.stat().st_size < 1_000_000
    state = torch.load(checkpoint, weights_only=True)
    assert {"A", "W", "h", "L"} <= set(state) and state["A"].shape == (10, 30)  # J = 10 experts of M = 30


def test_the_shipped_checkpoint_reproduces_its_recorded_zero_shot_figures():
    expected = json.loads((SHIPPED / "check" / "expected.json").read_text())
    context, truth = np.load(SHIPPED / "check" / "context.npy"), np.load(SHIPPED / "check" / "truth.npy")
    got = check_figures(SHIPPED, context, truth)
    # The first steps agree to float32 rounding; over 3,000 chaotic steps the last bits of another
    # CPU's vector units could move the forecast, not its statistics.
    np.testing.assert_allclose(got["first_steps"], expected["first_steps"], rtol=1e-4, atol=1e-4)
    assert got["d_stsp"] == pytest.approx(expected["d_stsp"], rel=0.05)
    assert got["d_h"] == pytest.approx(expected["d_h"], rel=0.05)


def test_the_shipped_corpus_description_names_no_held_out_system():
    corpus = json.loads((SHIPPED / "corpus.json").read_text())
    assert not set(corpus["systems"]) & set(corpus["held_out"])
    assert {"lorenz63", "chen", "rossler", "chua", "sprott_s"} == set(corpus["held_out"])
