"""Free runs of a model judged by evaluation protocol v2: for model selection and for evaluation.

Both use the same judge on different cases (validation during training, test afterwards), so
the model training keeps is the one the evaluation would prefer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..data import EvalCases
from ..metrics import d_h, lyap_rosenstein, lyapunov_spectrum
from ..metrics import COLLAPSED, DIVERGED, TruthStats, free_run_status, pooled_d_stsp, stsp_bins
from ._device import fork_rng, model_device

# Validation free runs drop this many steps before the comparison (the test protocol: 1,000).
VALIDATION_TRANSIENT = 500


@dataclass(frozen=True)
class FreeRunScore:
    """Pooled invariants of K free runs and how many of them failed.

    Attributes:
        d_stsp, d_h: pooled over the runs that stayed finite (NaN if none did).
        status: per run, ``"ok"``, ``"collapsed"`` or ``"diverged"``.
        lyap: the model's λ_max along each run (NaN where the model has no step Jacobian).
        generated: the free runs (K, transient + n, D), in the units of the cases.
        probe_status: per probe run (shorter runs from further starting points, judged for
            collapse and divergence only; empty when the judge has none).
    """

    d_stsp: float
    d_h: float
    status: tuple[str, ...]
    lyap: np.ndarray
    generated: np.ndarray
    probe_status: tuple[str, ...] = ()

    @property
    def n_collapsed(self) -> int:
        """Collapsed runs, probes included."""
        return (self.status + self.probe_status).count(COLLAPSED)

    @property
    def n_diverged(self) -> int:
        """Diverged runs, probes included."""
        return (self.status + self.probe_status).count(DIVERGED)

    def key(self) -> tuple[int, float, float]:
        """Smaller is better: failed runs first, then D_stsp, then D_H (NaN worst)."""
        finite = lambda v: v if math.isfinite(v) else math.inf  # noqa: E731
        return self.n_collapsed + self.n_diverged, finite(self.d_stsp), finite(self.d_h)

    def row(self) -> dict:
        """The training log's validation columns (`Judge.fields`)."""
        return {"val_d_stsp": self.d_stsp, "val_d_h": self.d_h, "val_failed": self.n_collapsed + self.n_diverged}


@dataclass(frozen=True)
class Judge:
    """Scores a model's free runs from `cases` (protocol v2).

    Attributes:
        cases: contexts and truths, in the model's (normalized) units.
        dt: time per step.
        truth: statistics of the truth for the collapse / divergence checks (same units).
        n_bins: D_stsp bins per dimension (None: the Gaussian-mixture estimate).
        dh_cutoff: D_H frequency cutoff (fraction of Nyquist), or None.
        transient: free-run steps dropped before comparing with the truths.
        lyap_steps, lyap_transient: length and transient of the Jacobian-QR λ_max per run.
        reference_kind: where ``truth.lyap_reference`` comes from, for tables.
        probes: further contexts (P, C, ...) whose free runs of transient + probe_steps are
            judged for collapse and divergence only: a coexisting attractor that the cases'
            few starts miss still counts against the model (None: no probes).
        probe_steps: free-run steps of each probe after the transient.
        seed: torch's seed for the free runs of stochastic models (the caller's RNG is left alone).
    """

    cases: EvalCases
    dt: float
    truth: TruthStats
    n_bins: int | None
    dh_cutoff: float | None = None
    transient: int = 1_000
    lyap_steps: int = 2_000
    lyap_transient: int = 200
    reference_kind: str = ""
    probes: np.ndarray | None = None
    probe_steps: int = 0
    seed: int = 0
    # The columns its scores fill in the training log.
    fields: ClassVar[tuple[str, ...]] = ("val_d_stsp", "val_d_h", "val_failed")

    @classmethod
    def build(cls, attrs: dict, cases: EvalCases, dt: float, *, bins: int | None = None, **options) -> Judge:
        """A judge for normalized `cases` of the store with `attrs`: the truth's λ1 (catalogue, or
        Rosenstein on the cases), its statistics, and D_stsp bins by `stsp_bins` unless given.

        Args:
            options: dh_cutoff, transient, lyap_steps, lyap_transient.
        """
        lyap_ref, kind = reference_lyapunov(attrs, cases.truths, dt)
        chaotic = lyap_ref is not None and lyap_ref > 0
        dim = int(np.prod(cases.truths.shape[2:]))
        return cls(cases, dt, TruthStats.of(cases.truths, chaotic=chaotic, lyap_reference=lyap_ref),
                   bins if bins is not None else stsp_bins(dim), reference_kind=kind, **options)

    @torch.no_grad()
    def score(self, model) -> FreeRunScore:
        """Free-run `model` from every case and judge the runs (on the model's device; the results
        come back to the CPU)."""
        was_training = model.training
        model.eval()
        # Stochastic families (the latent SDE) draw their free runs from torch's RNG: a judge
        # seeded by its own `seed`, leaving the caller's stream as it was, scores the same model
        # the same way in training, after a resume and in evaluation (on a GPU, its generator too).
        with fork_rng(model_device(model)):
            torch.manual_seed(self.seed)
            try:
                return self._score(model)
            finally:
                model.train(was_training)

    def _score(self, model) -> FreeRunScore:
        param = next(model.parameters())
        context = torch.from_numpy(self.cases.contexts).to(param.device, param.dtype)
        generated = free_run(model, context, self.transient + self.cases.n_steps).cpu().double().numpy()
        lyap = model_lyapunov(model, context, self.lyap_steps, self.lyap_transient, self.dt)
        probes = None if self.probes is None else torch.from_numpy(self.probes).to(param.device, param.dtype)
        probe_status = () if probes is None else self._probe(model, probes)
        status = self._status(generated, lyap)
        attractor = generated[:, self.transient:]
        finite = np.isfinite(attractor).all(axis=(1, 2))
        if finite.any():
            stsp = pooled_d_stsp(self.cases.truths, attractor[finite], n_bins=self.n_bins)
            dh = d_h(self.cases.truths[finite], attractor[finite], cutoff=self.dh_cutoff)
        else:
            stsp = dh = math.nan
        return FreeRunScore(stsp, dh, status, lyap, generated, probe_status)

    def _probe(self, model, contexts: torch.Tensor) -> tuple[str, ...]:
        generated = free_run(model, contexts, self.transient + self.probe_steps).cpu().double().numpy()
        return self._status(generated, model_lyapunov(model, contexts, self.lyap_steps, self.lyap_transient, self.dt))

    def _status(self, generated: np.ndarray, lyap: np.ndarray) -> tuple[str, ...]:
        return tuple(free_run_status(g, self.truth, lyap_max=float(lam)) for g, lam in zip(generated, lyap))


def free_run(model, context: torch.Tensor, n_steps: int) -> torch.Tensor:
    """`model.rollout` from store-shaped contexts (K, C, *state_shape) -> (K, n_steps, *state_shape):
    a field family reads and writes its one channel axis, which the cases do not carry."""
    if type(model).layout == "vector":
        return model.rollout(context, n_steps)
    return model.rollout(context.unsqueeze(2), n_steps).squeeze(2)


def model_lyapunov(model, context: torch.Tensor, n_steps: int, n_transient: int, dt: float) -> np.ndarray:
    """λ_max of the model along the free run from each context, (K,), by tangent products + QR
    (`context` on the model's device, store-shaped as in `free_run`).

    The tangents come from the family's closed-form Jacobian, or from Jacobian-vector products of
    its step on the flattened state (`differentiable_step`: fields, no M x M matrix). NaN for every
    run when the model has neither, or where the run left the finite numbers.
    """
    if not model.has_lyapunov:
        return np.full(len(context), math.nan)
    original = next(model.parameters()).dtype
    model.double()
    try:
        if model.has_jacobian:
            z0 = model.initial_state(context.double())
            result = lyapunov_spectrum(model.step, z0, n_steps, dt=dt, n_exponents=1,
                                       n_transient=n_transient, jacobian=model.jacobian)
        else:
            state = model.initial_state(context.double().unsqueeze(2) if type(model).layout == "field"
                                        else context.double())
            shape = state.shape[1:]

            def step(flat: torch.Tensor) -> torch.Tensor:  # (B, M) -> (B, M) for the Benettin loop
                return model.step(flat.reshape(-1, *shape)).flatten(1)

            result = lyapunov_spectrum(step, state.flatten(1), n_steps, dt=dt, n_exponents=1,
                                       n_transient=n_transient)
    finally:
        model.to(original)
    return result.per_ic[:, 0].cpu().numpy()


def reference_lyapunov(attrs: dict, truths: np.ndarray, dt: float) -> tuple[float | None, str]:
    """The truth's λ1 and where it comes from: the catalogue's when the store knows it, else
    Rosenstein's estimate over the true cases (K, n, D).

    The data estimate counts only when it is positive by two standard errors over the cases
    (or, with one case, positive); otherwise λ1 is unknown, the truth is not treated as chaotic
    and the VPT stays in time units.
    """
    lyapunov_time = attrs.get("lyapunov_time")
    if lyapunov_time:
        return 1.0 / float(lyapunov_time), "system λ1 (catalogue)"
    estimates = np.array([rosenstein(t, dt) for t in truths])
    estimates = estimates[np.isfinite(estimates)]
    if estimates.size == 0:
        return None, "unknown (Rosenstein failed on the true cases)"
    mean = float(estimates.mean())
    stderr = float(estimates.std(ddof=1) / math.sqrt(estimates.size)) if estimates.size > 1 else 0.0
    kind = f"Rosenstein on {estimates.size} true case(s): {mean:.4g} ± {stderr:.2g}"
    return (mean, kind) if mean > 0 and mean > 2 * stderr else (None, f"not chaotic by {kind}")


def rosenstein(x: np.ndarray, dt: float) -> float:
    """Rosenstein's λ1 of one series (T, D), NaN where the estimate is undefined."""
    try:
        return float(lyap_rosenstein(x, dt=dt))
    except ValueError:
        return math.nan
