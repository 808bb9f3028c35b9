"""State-space divergence D_stsp: KL divergence between the occupation measures of two trajectories."""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import cdist

from dynlearn._errors import DataError

# Dimension from which "auto" switches from the histogram to the Gaussian-mixture estimate, as
# in GTF-shPLRNN's `decide_on_measure` (30^6 cells would be mostly empty for any usable T).
_GMM_MIN_DIM = 6
# A density below this is 0 in float64: such a sample "underflows" and is dropped, as in the
# reference (which underflows earlier, in float32).
_LOG_TINY = math.log(np.finfo(np.float64).smallest_subnormal)
# Monte-Carlo samples per block, so the (samples, points) distance matrix stays ~20 MB.
_CHUNK = 256


def as_float64(x) -> np.ndarray:
    """A NumPy array, torch tensor (any device or dtype, grad or not) or sequence as float64 NumPy."""
    if hasattr(x, "detach"):  # a torch.Tensor; duck-typed so metrics do not import torch
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def d_stsp(
    x_true,
    x_gen,
    *,
    n_bins: int = 30,
    margin: float = 0.1,
    alpha: float = 1e-5,
    method: str = "auto",
    gmm_scaling: float = 1.0,
    mc_samples: int = 1000,
    max_points: int = 10_000,
    seed: int = 0,
) -> float:
    """State-space divergence KL(p_true ‖ p_gen) between the occupation measures of two trajectories.

    Histogram estimate (``method="hist"``): a joint histogram with ``n_bins`` per dimension over
    ``[min − margin·σ, max + margin·σ]`` of the *true* data in each dimension (σ with ddof=1);
    points of either trajectory outside that box are discarded; Laplace smoothing
    ``p = (h + α) / (Σh + α·n_bins^D)``. Only occupied cells are stored; the cells empty in both
    histograms enter the sum in closed form, so 30^5 cells cost no memory.

    Gaussian-mixture estimate (``method="gmm"``): an isotropic Gaussian N(x_t, σ²I) with
    σ² = ``gmm_scaling`` on each of the first ``max_points`` points of each trajectory, and the
    Monte-Carlo estimate KL ≈ mean_s [log p(s) − log q(s)] over ``mc_samples`` samples of the
    true mixture (Hershey & Olsen 2007). σ² is in data units: the default 1.0 assumes
    standardized data, as in the reference. Log-densities use log-sum-exp; samples whose density
    under either mixture underflows to 0 in float64 are dropped, as in the reference.

    ``method="auto"`` uses the histogram when D < 6 and the mixture otherwise. Non-finite
    generated points (a diverged model) count as outside the box / are dropped.

    From Koppe et al. 2019 (PLOS Comput. Biol.), Brenner et al. 2022 (ICML) and Hess et al.
    2023 (ICML; GTF-shPLRNN ``stsp_measure.jl``, whose ranges and defaults this follows).
    Values depend on the binning convention; compare only numbers computed the same way.

    Args:
        x_true: ground-truth trajectory, shape (T, D); must be finite.
        x_gen: generated trajectory, shape (T', D); T' may differ from T.
        n_bins: bins per dimension (histogram).
        margin: range padding in units of the true data's std per dimension (histogram).
        alpha: Laplace-smoothing pseudo-count per cell (histogram).
        method: ``"auto"``, ``"hist"`` or ``"gmm"``.
        gmm_scaling: variance σ² of each mixture component (GMM).
        mc_samples: Monte-Carlo samples drawn from the true mixture (GMM).
        max_points: leading points of each trajectory used as mixture centres (GMM).
        seed: seed of the Monte-Carlo draw (GMM); the global RNG is never touched.

    Returns:
        D_stsp ≥ 0 (up to Monte-Carlo error for GMM), or NaN when no generated point lies in
        the box (histogram) or no generated point is finite.

    Raises:
        ValueError: on wrong shapes or an unknown ``method``.
        DataError: if the true trajectory is non-finite or constant in some dimension (histogram).
    """
    x_true, x_gen = as_float64(x_true), as_float64(x_gen)
    if x_true.ndim != 2 or x_gen.ndim != 2 or x_true.shape[1] != x_gen.shape[1]:
        raise ValueError(
            f"d_stsp needs two (T, D) trajectories with the same D; got shapes "
            f"{x_true.shape} and {x_gen.shape}"
        )
    if x_true.shape[0] < 2:
        raise ValueError(f"d_stsp needs at least 2 true points; got {x_true.shape[0]}")
    if not np.isfinite(x_true).all():
        raise DataError("the true trajectory contains NaN/Inf; drop those steps before D_stsp")
    if method == "auto":
        method = "hist" if x_true.shape[1] < _GMM_MIN_DIM else "gmm"
    if method == "hist":
        return _kl_histogram(x_true, x_gen, n_bins, margin, alpha)
    if method == "gmm":
        return _kl_gmm(x_true, x_gen, gmm_scaling, mc_samples, max_points, seed)
    raise ValueError(f"unknown d_stsp method {method!r}; use 'auto', 'hist' or 'gmm'")


def _kl_histogram(x_true: np.ndarray, x_gen: np.ndarray, n_bins: int, margin: float, alpha: float) -> float:
    """Histogram D_stsp; x_true (T, D) finite, x_gen (T', D)."""
    sigma = x_true.std(axis=0, ddof=1)
    lo = x_true.min(axis=0) - margin * sigma
    hi = x_true.max(axis=0) + margin * sigma
    if np.any(hi <= lo):
        dims = np.flatnonzero(hi <= lo).tolist()
        raise DataError(f"the true trajectory is constant in dimension(s) {dims}; drop them for D_stsp")

    def cells(x: np.ndarray) -> np.ndarray:  # (N, D) -> (N_inside, D) integer bin coordinates
        with np.errstate(invalid="ignore"):  # NaN/Inf rows fail the comparison: outside
            inside = np.all((x >= lo) & (x <= hi), axis=1)
        c = np.floor((x[inside] - lo) / (hi - lo) * n_bins).astype(np.int64)
        return np.minimum(c, n_bins - 1)  # the upper edge belongs to the last bin

    c_true, c_gen = cells(x_true), cells(x_gen)
    if len(c_gen) == 0:
        return float("nan")
    # Cells occupied by either set, keyed by flat index while n_bins^D fits in int64 (sorting is
    # ~17x faster than on coordinate rows, the fallback that never overflows).
    coords = np.concatenate([c_true, c_gen])
    n_cells = n_bins ** coords.shape[1]  # Python int: exact
    if n_cells <= np.iinfo(np.int64).max:
        coords = np.ravel_multi_index(coords.T, (n_bins,) * coords.shape[1])
    occupied, cell_id = np.unique(coords, axis=0, return_inverse=True)
    cell_id = cell_id.reshape(-1)
    h_true = np.bincount(cell_id[: len(c_true)], minlength=len(occupied))
    h_gen = np.bincount(cell_id[len(c_true) :], minlength=len(occupied))

    z_true = len(c_true) + alpha * n_cells
    z_gen = len(c_gen) + alpha * n_cells
    p = (h_true + alpha) / z_true
    q = (h_gen + alpha) / z_gen
    # Every cell empty in both has p = α/z_true and q = α/z_gen.
    n_empty = n_cells - len(occupied)
    kl = np.sum(p * np.log(p / q)) + n_empty * (alpha / z_true) * math.log(z_gen / z_true)
    return float(kl)


def _kl_gmm(
    x_true: np.ndarray, x_gen: np.ndarray, scaling: float, mc_samples: int, max_points: int, seed: int
) -> float:
    """Gaussian-mixture D_stsp; x_true (T, D) finite, x_gen (T', D)."""
    if not scaling > 0:
        raise ValueError(f"gmm_scaling must be > 0; got {scaling}")
    x_gen = x_gen[np.isfinite(x_gen).all(axis=1)]
    if len(x_gen) == 0:
        return float("nan")
    centres_p, centres_q = x_true[:max_points], x_gen[:max_points]
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(centres_p), size=mc_samples)
    samples = centres_p[picks] + math.sqrt(scaling) * rng.standard_normal((mc_samples, x_true.shape[1]))
    log_p = _log_mixture_density(samples, centres_p, scaling)
    log_q = _log_mixture_density(samples, centres_q, scaling)
    keep = (log_p > _LOG_TINY) & (log_q > _LOG_TINY)
    if not keep.any():
        return float("nan")
    return float(np.mean(log_p[keep] - log_q[keep]))


def _log_mixture_density(samples: np.ndarray, centres: np.ndarray, var: float) -> np.ndarray:
    """log of (1/T) Σ_t N(s; x_t, var·I) for each sample; samples (S, D), centres (T, D) -> (S,)."""
    out = np.empty(len(samples))
    for start in range(0, len(samples), _CHUNK):
        # logsumexp in place: scipy's allocates several (chunk, T) temporaries and is ~5x slower.
        e = cdist(samples[start : start + _CHUNK], centres, "sqeuclidean")  # (chunk, T)
        e *= -0.5 / var
        top = e.max(axis=1)
        e -= top[:, None]
        np.exp(e, out=e)
        out[start : start + _CHUNK] = top + np.log(e.sum(axis=1))
    dim = samples.shape[1]
    return out - math.log(len(centres)) - 0.5 * dim * math.log(2 * math.pi * var)
