"""Per-channel causal delay embedding, patch tokens, and the automatic choice of (m, tau).

PhyxMamba reconstructs a phase space from each observed channel before tokenizing: at every
step t, channel v becomes ``[x_v(t), x_v(t - tau), ..., x_v(t - (m - 1) tau)]`` (Takens 1981),
with zeros before the window's first step, so nothing after t is ever read. The embedded
window is then cut into non-overlapping patches of P steps, one token each.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from dynlearn.data import false_neighbour_fractions, mutual_information_delay


def causal_delay_embed(x: Tensor, m: int, tau: int) -> Tensor:
    """Delay vectors of every channel, newest first, zero before the window starts.

    Args:
        x: (B, T, V) observations.
        m: delays per channel (1: the series itself).
        tau: steps between delays.

    Returns:
        (B, T, V, m): ``out[b, t, v, k] = x[b, t - k tau, v]``, 0 where ``t - k tau < 0``; the first
        coordinate is the input itself.
    """
    if m < 1 or tau < 1:
        raise ValueError(f"m and tau must be >= 1, got m={m}, tau={tau}")
    length = x.shape[1]
    delayed = [x]
    for k in range(1, m):
        shift = min(k * tau, length)
        delayed.append(torch.cat([x.new_zeros(x.shape[0], shift, x.shape[2]), x[:, :length - shift]], dim=1))
    return torch.stack(delayed, dim=-1)


def patchify(x: Tensor, patch: int) -> Tensor:
    """Non-overlapping patches of `patch` steps as flat tokens, (B, S·P, *F) -> (B, S, P·prod(F)).

    Each token holds its P steps in time order, each step's features flattened.
    """
    b, t = x.shape[:2]
    if t % patch:
        raise ValueError(f"a window of {t} steps does not split into patches of {patch}")
    return x.reshape(b, t // patch, -1)


def unpatchify(tokens: Tensor, patch: int) -> Tensor:
    """The inverse of `patchify` for one feature axis, (B, S, P·V) -> (B, S·P, V)."""
    b, s, width = tokens.shape
    return tokens.reshape(b, s * patch, width // patch)


def choose_delays(series: np.ndarray, max_lag: int | None = None, max_dim: int = 10,
                  threshold: float = 0.01) -> tuple[int, int]:
    """One (m, tau) for all channels: the largest of the channels' m, the median of their tau.

    Per channel, tau is the first minimum of the mutual information (Fraser & Swinney 1986) and m
    the first dimension with fewer than `threshold` false nearest neighbours (Kennel et al. 1992),
    or, when a short series never gets there, the one with the fewest. The paper fixes one
    (m, tau) per system; the largest m unfolds every channel, and the median delay is robust to
    one channel whose mutual information has an early spurious dip.

    Args:
        series: (T, V) one trajectory, or (T,).
        max_lag: largest delay tried (default T // 10).
        max_dim: largest m tried.
        threshold: false-neighbour fraction counted as none.

    Returns:
        (m, tau).
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim == 1:
        series = series[:, None]
    dims, delays = [], []
    for v in range(series.shape[1]):
        tau = mutual_information_delay(series[:, v], max_lag or len(series) // 10)
        fractions = false_neighbour_fractions(series[:, v], tau, max_dim)
        below = np.flatnonzero(fractions < threshold)
        dims.append(int(below[0] if below.size else np.argmin(fractions)) + 1)
        delays.append(tau)
    return max(dims), int(np.median(delays).round())
