"""Model selection on 2-D fields (Navier–Stokes): forecast error over a fixed horizon.

A field of a few thousand cells per step has no occupation measure worth estimating from a
few cases, and the FNO benchmark's trajectories (50 steps) are too short for invariants, so
validation free-runs each validation case over the protocol's horizon and keeps the model with
the smallest relative L2 of the whole predicted space-time field (the test protocol's headline,
`dynlearn._evaluate_field`), runs that leave the finite numbers counted first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..data import EvalCases
from ..metrics import relative_l2
from ._device import fork_rng, model_device
from ._scoring import free_run


@dataclass(frozen=True)
class FieldScore:
    """Validation forecasts of a field model.

    Attributes:
        rel_l2: mean over the finite runs of each run's relative L2 (NaN if none is finite).
        n_failed: runs with a non-finite value.
        generated: the forecasts (K, n, *spatial), in the units of the cases.
    """

    rel_l2: float
    n_failed: int
    generated: np.ndarray

    def key(self) -> tuple[int, float, float]:
        """Smaller is better: failed runs first, then the relative L2 (NaN worst)."""
        return self.n_failed, self.rel_l2 if math.isfinite(self.rel_l2) else math.inf, 0.0

    def row(self) -> dict:
        """The training log's validation columns (`FieldJudge.fields`)."""
        return {"val_rel_l2": self.rel_l2, "val_failed": self.n_failed}


@dataclass(frozen=True)
class FieldJudge:
    """Scores a field model's forecasts from `cases` (normalized units) by relative L2.

    Attributes:
        cases: contexts (K, C, *spatial) and truths (K, n, *spatial).
        seed: torch's seed for stochastic families (the caller's RNG is left alone).
    """

    cases: EvalCases
    seed: int = 0
    fields: ClassVar[tuple[str, ...]] = ("val_rel_l2", "val_failed")

    @torch.no_grad()
    def score(self, model) -> FieldScore:
        was_training = model.training
        model.eval()
        param = next(model.parameters())
        context = torch.from_numpy(self.cases.contexts).to(param.device, param.dtype)
        try:
            with fork_rng(model_device(model)):
                torch.manual_seed(self.seed)
                generated = free_run(model, context, self.cases.n_steps).cpu().double().numpy()
        finally:
            model.train(was_training)
        finite = np.isfinite(generated.reshape(len(generated), -1)).all(axis=1)
        errors = relative_l2(generated[finite], self.cases.truths[finite], spatial_dims=generated.ndim - 1) \
            if finite.any() else np.array([])
        return FieldScore(float(errors.mean()) if errors.size else math.nan, int((~finite).sum()), generated)
