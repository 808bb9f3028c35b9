"""Hyperparameters of Φ-ROM (defaults: a CPU-sized model; the paper's sizes in conf/model/phirom.yaml's gpu block)."""

from __future__ import annotations

import dataclasses

from dynlearn._errors import ConfigError


@dataclasses.dataclass(frozen=True)
class PhiROMConfig:
    """Hyperparameters of `PhiROM`.

    Attributes:
        latent_dim: k, latent units per field (the paper: 100 for NS, 4 for Burgers).
        width, depth, harmonics: the decoder (`PeriodicINR`): units, multiplicative layers, Fourier
            features per axis.
        node_width, node_depth: the latent vector field Ψ: an MLP of `node_depth` hidden SiLU (swish) layers.
        dt: time between stored fields (filled from the store when null).
        substeps: RK4 steps per dt when the latent ODE is integrated.
        rec_weight: λ, the reconstruction loss's share; the dynamics loss gets 1 − λ (the paper's 0.5).
        physics_weight: w, the share of the dynamics loss taught by the PDE (the latent velocity
            projected from its right-hand side); 1 − w is taught by the latent memory's own
            trajectories (DINo: the latent ODE integrated over the window against the stored
            latents). 1: Φ-ROM; 0: the DINo-style variant, otherwise identical.
        hyper_fraction: γ, the share of grid points where the projection is evaluated each step
            (at least 2k points, so the least-squares problem stays overdetermined).
        warmup_epochs: epochs in which the dynamics loss teaches Ψ only (the paper's evolve_start):
            no gradient from it reaches the decoder or the latent memory.
        memory_init: standard deviation of the initial latents.
        inversion_steps: Levenberg–Marquardt iterations that find a field's latent at inference.
        system, norm_mean, norm_std: the store's system description and normalization (filled
            from the data; the physics needs them).
        n_slots, n_times: the latent memory's trajectories and times (filled from the data).
        seed: seed of the initialization.
    """

    latent_dim: int = 16
    width: int = 64
    depth: int = 3
    harmonics: int = 8
    node_width: int = 128
    node_depth: int = 2
    dt: float = 1.0
    substeps: int = 1
    rec_weight: float = 0.5
    physics_weight: float = 1.0
    hyper_fraction: float = 0.1
    warmup_epochs: int = 0
    memory_init: float = 0.01
    inversion_steps: int = 20
    system: dict | None = None
    norm_mean: list | None = None
    norm_std: list | None = None
    n_slots: int = 1
    n_times: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.latent_dim >= 1 and self.width >= 1 and self.depth >= 1 and self.harmonics >= 1,
             "latent_dim, width, depth and harmonics must be >= 1"),
            (self.node_width >= 1 and self.node_depth >= 0, "node_width must be >= 1 and node_depth >= 0"),
            (isinstance(self.dt, (int, float)) and self.dt > 0, "dt must be positive (null only in the model config)"),
            (self.substeps >= 1, "substeps must be >= 1"),
            (0 < self.rec_weight < 1, "rec_weight must be in (0, 1)"),
            (0 <= self.physics_weight <= 1, "physics_weight must be in [0, 1]"),
            (0 < self.hyper_fraction <= 1, "hyper_fraction must be in (0, 1]"),
            (self.warmup_epochs >= 0 and self.inversion_steps >= 1, "warmup_epochs must be >= 0 and inversion_steps >= 1"),
            (self.memory_init >= 0, "memory_init must be >= 0"),
            (self.n_slots >= 1 and self.n_times >= 1, "n_slots and n_times must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"PhiROM: {message} (got {self}); fix the model config")
