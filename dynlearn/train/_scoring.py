"""Invariant-based model selection: score free runs against validation trajectories."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data import WindowDataset
from ..metrics import d_h, d_stsp

# Steps of the free run discarded before comparing, so the score judges the attractor the
# model settles on rather than how it leaves the initial condition.
SCORE_TRANSIENT = 200


@torch.no_grad()
def score_free_runs(model, val_data: WindowDataset, n_steps: int) -> tuple[float, float]:
    """Median (D_stsp, D_H) of free runs from each validation trajectory's first state.

    Args:
        model: an `AbstractModel`.
        val_data: validation split (normalized); each trajectory gives one context and truth.
        n_steps: free-run length compared (capped by the trajectory length).

    Returns:
        (D_stsp, D_H) medians; NaN where a free run left the data range entirely.
    """
    was_training = model.training
    model.eval()
    dtype = next(model.parameters()).dtype
    truths = [val_data.trajectory(j) for j in range(len(val_data.trajectories))]
    n = min(n_steps, truths[0].shape[0] - 1)
    context = torch.stack([t[:1] for t in truths]).to(dtype)  # (B, 1, D)
    generated = model.rollout(context, SCORE_TRANSIENT + n)[:, SCORE_TRANSIENT:].double().numpy()
    stsp, dh = [], []
    for truth, gen in zip(truths, generated):
        truth = truth[1:1 + n].double().numpy()
        finite = np.isfinite(gen).all()
        stsp.append(d_stsp(truth, gen) if finite else math.nan)
        dh.append(d_h(truth, gen) if finite else math.nan)
    model.train(was_training)
    return float(np.median(stsp)), float(np.median(dh))
