"""Delay embedding of observed series: the embedding, its delay and its dimension (pure NumPy).

A partially observed system (say the x component of Lorenz-63) is reconstructed from delayed
copies of what is observed (Takens 1981). Two numbers fix the reconstruction: the delay tau,
taken at the first minimum of the time-delayed mutual information (Fraser & Swinney 1986), and
the dimension m, the first one at which almost no nearest neighbours are false, i.e. close
only because the attractor was projected too flat (Kennel, Brown & Abarbanel 1992).
"""

from __future__ import annotations

import numpy as np


def delay_embed(x: np.ndarray, m: int, tau: int) -> np.ndarray:
    """Delay vectors of a series.

    Row i is ``[x[i], x[i + tau], ..., x[i + (m - 1) tau]]``: oldest first, each block holding
    all D components at one delay, so columns ``k D ... (k + 1) D - 1`` hold ``x[i + k tau]``.
    The row's last block is its newest sample, at step ``i + (m - 1) tau``.

    Args:
        x: the series, (T, D) or (T,) for a scalar one.
        m: embedding dimension (number of delays), >= 1.
        tau: delay in steps, >= 1.

    Returns:
        (T - (m - 1) tau, m D) delay vectors.
    """
    x = _as_2d(x)
    if m < 1 or tau < 1:
        raise ValueError(f"m and tau must be >= 1, got m={m}, tau={tau}")
    rows = len(x) - (m - 1) * tau
    if rows < 1:
        raise ValueError(f"a series of {len(x)} steps is too short for m={m}, tau={tau}")
    return np.concatenate([x[k * tau:k * tau + rows] for k in range(m)], axis=1)


def mutual_information_delay(x: np.ndarray, max_lag: int, bins: int = 128, bandwidth: float = 1 / 32) -> int:
    """The first local minimum of the time-delayed mutual information I(tau) (Fraser & Swinney 1986).

    I(tau) between x(t) and x(t + tau) is estimated from their joint histogram (`bins`
    equal-width bins per axis) smoothed by a Gaussian of `bandwidth` times the range of x, a
    binned kernel estimate. A plain histogram of a smooth signal gives I(tau) a staircase whose
    steps make spurious early minima (a sine of 40 steps per period gave tau = 6 with 16 bins);
    the smoothing removes them. For a sine sampled N times per period the result is N / 4 within
    a step: at a quarter period the two copies are as independent as the curve allows. Like every
    estimate of this minimum it depends on the resolution: for Lorenz-63 x at dt = 0.01 a plain
    histogram of 64 bins gives 16 steps, this default 20-21, a smoothing of 1/16 of the range 22.

    Args:
        x: a scalar series, (T,) or (T, 1).
        max_lag: largest delay tried, in steps.
        bins: histogram bins per axis.
        bandwidth: standard deviation of the smoothing, as a fraction of the range of x.

    Returns:
        The smallest tau >= 1 with I(tau) <= I(tau + 1).

    Raises:
        ValueError: x is not scalar, or I decreases all the way to `max_lag` (raise it).
    """
    x = _as_2d(x)
    if x.shape[1] != 1:
        raise ValueError(f"mutual_information_delay takes a scalar series, got {x.shape[1]} components")
    if not 1 <= max_lag < len(x) - 1:
        raise ValueError(f"max_lag must be in [1, {len(x) - 2}] for a series of {len(x)} steps, got {max_lag}")
    lo, hi = x.min(), x.max()
    labels = np.minimum(((x[:, 0] - lo) / ((hi - lo) or 1.0) * bins).astype(np.int64), bins - 1)
    kernel = _smoothing(bins, bandwidth * bins)

    def information(tau: int) -> float:
        joint = np.bincount(labels[:-tau] * bins + labels[tau:], minlength=bins * bins).reshape(bins, bins)
        joint = kernel @ joint @ kernel.T
        joint /= joint.sum()
        outer = np.outer(joint.sum(axis=1), joint.sum(axis=0))
        seen = joint > 0
        return float(np.sum(joint[seen] * np.log(joint[seen] / outer[seen])))

    current = information(1)
    for tau in range(1, max_lag + 1):
        following = information(tau + 1)
        if following >= current:
            return tau
        current = following
    raise ValueError(f"the mutual information still decreases at max_lag={max_lag}; raise max_lag")


def _smoothing(bins: int, sigma: float) -> np.ndarray:
    """(bins + 2r, bins) Gaussian blur of width `sigma` bins, spreading each bin over its neighbours
    (and past the edges, so no mass is lost)."""
    r = int(np.ceil(3 * sigma))
    offsets = np.arange(bins + 2 * r)[:, None] - r - np.arange(bins)[None, :]
    kernel = np.exp(-0.5 * (offsets / max(sigma, 1e-12)) ** 2)
    return kernel / kernel.sum(axis=0)


def false_nearest_neighbours_dimension(
    x: np.ndarray, tau: int, max_dim: int = 10, *, r_tol: float = 15.0, a_tol: float = 2.0,
    threshold: float = 0.01, theiler: int | None = None, max_points: int = 2000,
) -> int:
    """The smallest embedding dimension with (almost) no false nearest neighbours (Kennel et al. 1992).

    For each m, every query point's nearest neighbour in the m-dimensional delay embedding is
    false if adding the (m + 1)-th delay moves them apart by more than `r_tol` times their
    distance (criterion 1), or to more than `a_tol` times the attractor size, the standard
    deviation of x (criterion 2).

    Args:
        x: the series, (T,) or (T, D) (the added delay is then D-dimensional).
        tau: delay in steps (e.g. from `mutual_information_delay`).
        max_dim: largest m tried.
        r_tol, a_tol: the two thresholds; Kennel et al. use 15 (10 to 50 behave alike) and 2.
        threshold: the fraction of false neighbours counted as none (noise never gives zero).
        theiler: neighbours closer than this many steps in time are skipped, so a flow sampled
            finely does not count its own trajectory as neighbours; default `tau`.
        max_points: query points, evenly spaced in time (neighbours are sought among all points).

    Returns:
        The first m in 1..max_dim whose false-neighbour fraction is below `threshold`.

    Raises:
        ValueError: no m up to `max_dim` gets there (raise it, or `threshold` for noisy data).
    """
    best = 1.0
    for m, fraction in enumerate(_fractions(x, tau, max_dim, r_tol, a_tol, theiler, max_points), start=1):
        if fraction < threshold:
            return m
        best = min(best, fraction)
    raise ValueError(f"the false-neighbour fraction is still {best:.3f} at best up to m={max_dim}; "
                     "raise max_dim, or threshold for noisy data")


def false_neighbour_fractions(
    x: np.ndarray, tau: int, max_dim: int, *, r_tol: float = 15.0, a_tol: float = 2.0,
    theiler: int | None = None, max_points: int = 2000,
) -> np.ndarray:
    """Fraction of false nearest neighbours for m = 1 .. max_dim, (max_dim,); arguments as in
    `false_nearest_neighbours_dimension`."""
    return np.fromiter(_fractions(x, tau, max_dim, r_tol, a_tol, theiler, max_points), float, max_dim)


def _fractions(x, tau, max_dim, r_tol, a_tol, theiler, max_points):
    """The false-neighbour fraction for m = 1, 2, ..., max_dim, one at a time (callers may stop early)."""
    x = _as_2d(x).astype(np.float64)
    theiler = tau if theiler is None else theiler
    size = np.sqrt(np.sum(np.var(x, axis=0)))  # R_A, the attractor size
    n = len(x) - max_dim * tau  # the same points for every m, each with its (m + 1)-th delay
    if n < 2 * theiler + 2:
        raise ValueError(f"a series of {len(x)} steps is too short for max_dim={max_dim}, tau={tau}")
    full = delay_embed(x, max_dim + 1, tau)  # (n, (max_dim + 1) D)
    queries = np.unique(np.linspace(0, n - 1, min(max_points, n)).astype(np.int64))
    width = x.shape[1]
    for m in range(1, max_dim + 1):
        points, extra = full[:, :m * width], full[:, m * width:(m + 1) * width]
        near, distance = _nearest(points, queries, theiler)
        grow = np.linalg.norm(extra[queries] - extra[near], axis=1)
        # The 1e-9 floor: round-off never makes a neighbour false (an exactly periodic series has
        # neighbours at distance ~1e-16, whose ratio is noise).
        false = (grow > r_tol * distance + 1e-9 * size) | (np.sqrt(distance**2 + grow**2) > a_tol * size)
        yield float(false.mean())


def _nearest(points: np.ndarray, queries: np.ndarray, theiler: int, block: int = 256):
    """(index, Euclidean distance) of each query's nearest point more than `theiler` steps away, (Q,) each."""
    squared = np.sum(points**2, axis=1)
    index, distance = np.empty(len(queries), np.int64), np.empty(len(queries))
    steps = np.arange(len(points))
    for start in range(0, len(queries), block):
        q = queries[start:start + block]
        d2 = squared[q, None] + squared[None, :] - 2 * points[q] @ points.T  # (block, n)
        d2[np.abs(q[:, None] - steps[None, :]) <= theiler] = np.inf
        best = np.argmin(d2, axis=1)
        index[start:start + len(q)] = best
        distance[start:start + len(q)] = np.linalg.norm(points[q] - points[best], axis=1)  # exact, not the expansion
    return index, distance


def choose_embedding(x: np.ndarray, max_lag: int | None = None, max_dim: int = 10) -> tuple[int, int]:
    """(m, tau) for a scalar series: tau from `mutual_information_delay`, m from
    `false_nearest_neighbours_dimension` at that tau (default thresholds).

    Args:
        x: a scalar series, (T,) or (T, 1).
        max_lag: largest delay tried; default T // 10.
        max_dim: largest dimension tried.
    """
    tau = mutual_information_delay(x, max_lag or len(_as_2d(x)) // 10)
    return false_nearest_neighbours_dimension(x, tau, max_dim), tau


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise ValueError(f"expected a series (T,) or (T, D), got shape {x.shape}")
    return x
