"""PNG plots of a free run against the truth (headless: the Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.ndimage import gaussian_filter1d  # noqa: E402


def plot_attractors(truth: np.ndarray, generated: np.ndarray, path: Path, names=None) -> None:
    """True vs generated attractor as 3-D projections of the first three dimensions, (T, D) each."""
    names = list(names or [f"x{i}" for i in range(truth.shape[1])])
    dims = list(range(min(3, truth.shape[1])))
    fig = plt.figure(figsize=(10, 4.5))
    for k, (data, title) in enumerate(((truth, "true"), (generated, "generated"))):
        if len(dims) == 3:
            ax = fig.add_subplot(1, 2, k + 1, projection="3d")
            ax.plot(*(data[:, d] for d in dims), lw=0.3)
            ax.set_zlabel(names[dims[2]])
        else:
            ax = fig.add_subplot(1, 2, k + 1)
            ax.plot(data[:, dims[0]], data[:, dims[-1]], lw=0.3)
        ax.set_xlabel(names[dims[0]])
        ax.set_ylabel(names[dims[min(1, len(dims) - 1)]])
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_space_time(truth: np.ndarray, generated: np.ndarray, dt: float, path: Path, steps: int = 800) -> None:
    """True vs generated 1-D fields (T, X) as space-time images of their first `steps` steps (the
    view of a Kuramoto–Sivashinsky run: travelling and merging cells), on one colour scale."""
    n = min(steps, len(truth), len(generated))
    low, high = np.nanpercentile(truth[:n], [1, 99])
    fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    for ax, data, title in zip(axes, (truth, generated), ("true", "generated")):
        ax.imshow(data[:n].T, aspect="auto", origin="lower", cmap="RdBu_r", vmin=low, vmax=high,
                  extent=(0, n * dt, 0, data.shape[1]))
        ax.set_ylabel("grid point")
        ax.set_title(title)
    axes[-1].set_xlabel("time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_spectra(truth: np.ndarray, generated: np.ndarray, dt: float, path: Path, smoothing: float = 20.0,
                 max_dims: int = 4) -> None:
    """Smoothed, normalized power spectra of the first `max_dims` dimensions (the quantity D_H compares)."""
    d = min(truth.shape[1], max_dims)
    fig, axes = plt.subplots(1, d, figsize=(4 * d, 3.2), squeeze=False)
    freqs = np.fft.rfftfreq(truth.shape[0], dt)
    for i, ax in enumerate(axes[0]):
        for data, label in ((truth, "true"), (generated, "generated")):
            x = (data[:, i] - data[:, i].mean()) / (data[:, i].std() or 1.0)
            spectrum = gaussian_filter1d(np.abs(np.fft.rfft(x)) ** 2, smoothing)
            if not spectrum.sum() > 0:  # a constant run has no spectrum to draw
                continue
            ax.semilogy(freqs, spectrum / spectrum.sum(), label=label, lw=1)
        ax.set_xlim(0, freqs[-1] / 4)
        ax.set_xlabel("frequency [1/time]")
        ax.set_title(f"dim {i}")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
