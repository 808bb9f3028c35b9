"""Φ-ROM: an auto-decoded latent neural ODE whose dynamics the PDE itself teaches.

Hosseini Dashtbayaz, Salehipour, Butscher & Morris (2025), "Physics-informed reduced order modeling
of time-dependent PDEs via differentiable solvers", NeurIPS, arXiv 2505.14595 (reference/models.md
§6). There is no encoder: every training field (trajectory i, time j) owns a latent α_ij in a
memory trained with the model; a conditional INR decodes a latent at any coordinates
(`PeriodicINR`); a latent ODE α̇ = Ψ(α) carries it forward. The loss is

    λ · L_rec + (1 − λ) · [w · L_phys + (1 − w) · L_labels],

L_rec = ‖D(α) − u‖ / ‖u‖ per field; L_phys = ‖Ψ(α) − α̇*‖ / ‖α̇*‖ with α̇* the PDE's du/dt at the
decoded field projected into latent space through the decoder's Jacobian at a random γ share of
the points (`least_squares`), gradients flowing through the solver; L_labels = the latent ODE
integrated over the window against the stored latents (DINo; w = 0 is the DINo-style variant).
A new field's latent is found by inverting the decoder (`invert_latent`), from any points.
"""

from __future__ import annotations

import math
from typing import final

import numpy as np
import torch
from torch import Tensor, nn

from dynlearn._errors import ConfigError, DataError
from dynlearn.layers import mlp
from dynlearn.models._base import AbstractModel, DataFacts, IOShape
from dynlearn.models.phirom._config import PhiROMConfig
from dynlearn.models.phirom._decoder import PeriodicINR, grid_coordinates
from dynlearn.models.phirom._physics import PDEResidual
from dynlearn.models.phirom._projection import decoder_jacobian, invert_latent, least_squares


def _relative(error: Tensor, reference: Tensor) -> Tensor:
    """mean over samples of ‖error‖ / ‖reference‖ (the paper's nmse), (B, ...) each."""
    return (error.flatten(1).norm(dim=1) / reference.flatten(1).norm(dim=1).clamp_min(1e-12)).mean()


@final
class PhiROM(AbstractModel):
    """Auto-decoder + periodic INR + latent neural ODE, trained with the PDE's projected velocity.

    The state of `initial_state` / `step` is the latent α (B, k); `observe` decodes it on the
    training grid. Parameters: the decoder's, Ψ's (``field``) and the latent memory
    (``memory``, (n_slots, n_times, k), indexed by a window's (trajectory, time)).

    Args:
        io: one field (1, *grid) (or C channels, for the data-only variant), no forcing.
        config: hyperparameters; `PhiROMConfig` defaults when None.
    """

    layout = "field"
    kinds = ("field1d", "field2d")
    differentiable_step = True  # λ_max by Jacobian-vector products of the latent map
    Config = PhiROMConfig

    def __init__(self, io: IOShape | int, config: PhiROMConfig | None = None) -> None:
        super().__init__()
        io = IOShape.of(io)
        cfg = PhiROMConfig() if config is None else config
        if len(io.state) < 2 or io.n_inputs:
            raise ConfigError(f"Φ-ROM learns autonomous fields (channels, *grid); got observations {io.state} "
                              f"with {io.n_inputs} exogenous inputs")
        self.config = cfg
        self.channels, self.grid = io.state[0], tuple(io.state[1:])
        k = cfg.latent_dim
        dtype = torch.get_default_dtype()
        self.decoder = PeriodicINR(len(self.grid), self.channels, k, width=cfg.width, depth=cfg.depth,
                                   harmonics=cfg.harmonics, seed=cfg.seed).to(dtype)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            self.field = mlp([k] + [cfg.node_width] * cfg.node_depth + [k], "silu").to(dtype)
            self.memory = nn.Parameter(cfg.memory_init * torch.randn(cfg.n_slots, cfg.n_times, k, dtype=dtype))
        self.register_buffer("coords", grid_coordinates(self.grid, dtype=dtype), persistent=False)
        self.residual = None
        if cfg.physics_weight > 0 and cfg.system is not None:
            if self.channels != 1:
                raise ConfigError("Φ-ROM's physics reads one field variable; use model.physics_weight=0 for several")
            self.residual = PDEResidual(cfg.system, float(np.ravel(cfg.norm_mean)[0]), float(np.ravel(cfg.norm_std)[0]))
        self._dynamics_teaches_all = cfg.warmup_epochs == 0

    @classmethod
    def resolve_options(cls, options: dict, data: DataFacts | None) -> dict:
        """The system, normalization and latent-memory size from the training data (when left null)."""
        if data is None:  # a config checked before the data exist: a one-field memory, no physics yet
            return {**options, **{key: 1 for key in ("n_slots", "n_times") if options.get(key) is None}}
        mean, std = np.ravel(data.norm_mean), np.ravel(data.norm_std)
        if options.get("physics_weight", PhiROMConfig.physics_weight) > 0 and (mean.size != 1 or std.size != 1):
            raise DataError("Φ-ROM's physics needs one mean and std for the field (data normalized per channel), "
                            f"got {mean.size}; use trainer.normalization=channel or model.physics_weight=0")
        filled = {"system": data.system, "norm_mean": mean.tolist(), "norm_std": std.tolist(),
                  "n_slots": data.n_slots, "n_times": data.n_times}
        return {**options, **{key: value for key, value in filled.items() if options.get(key) is None}}

    def begin_epoch(self, epoch: int, n_epochs: int) -> None:
        """After the warm-up the dynamics loss also shapes the decoder and the latent memory."""
        self._dynamics_teaches_all = epoch >= self.config.warmup_epochs

    # -- decoding and the latent ODE -------------------------------------------------------

    def decode(self, alpha: Tensor, grid: tuple[int, ...] | None = None) -> Tensor:
        """Fields (B, C, *grid) from latents (B, k), on the training grid or any other (super-resolution)."""
        grid = self.grid if grid is None else tuple(grid)
        coords = self.coords if grid == self.grid else grid_coordinates(grid, dtype=alpha.dtype).to(alpha.device)
        values = self.decoder(alpha, coords)  # (B, P, C)
        return values.transpose(1, 2).reshape(len(alpha), self.channels, *grid)

    def velocity(self, t: Tensor, alpha: Tensor) -> Tensor:
        """Ψ(α), the latent ODE's right-hand side (autonomous: t unused)."""
        return self.field(alpha)

    def integrate(self, alpha: Tensor, n_steps: int) -> Tensor:
        """Latents at 0, dt, ..., n_steps·dt from α (B, k): (n_steps + 1, B, k), torchdiffeq's RK4 (3/8 rule)."""
        from torchdiffeq import odeint

        cfg = self.config
        times = torch.arange(n_steps + 1, dtype=alpha.dtype, device=alpha.device) * cfg.dt
        return odeint(self.velocity, alpha, times, method="rk4", options={"step_size": cfg.dt / cfg.substeps})

    # -- the model interface ---------------------------------------------------------------

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """The latent of the context's last field, by inverting the decoder on the full grid, (B, Tc, C, *grid) -> (B, k)."""
        last = context[:, -1]
        values = last.reshape(len(last), self.channels, -1).transpose(1, 2)  # (B, P, C)
        return self.invert(values, self.coords.to(last.dtype))

    def invert(self, values: Tensor, coords: Tensor) -> Tensor:
        """Latents (B, k) whose decoding fits `values` (B, P, C) observed at `coords` (P, d) in [0, 1)^d:
        any points, e.g. a random 10 % of the grid (`invert_latent`, from the memory's mean latent)."""
        return invert_latent(lambda a: self.decoder(a, coords).flatten(1), values.flatten(1),
                             self._mean_latent(values), steps=self.config.inversion_steps)

    def invert_observations(self, observations: list[tuple[int, Tensor, Tensor]]) -> Tensor:
        """The latent at step 0 (B, k) that fits observations at several steps, each at its own points:
        ``(step, values (B, P_t, C), coords (P_t, d))``. Started from the inversion of the first
        observation alone (a latent at its step: a start near enough when it is step 0 or close),
        refined through the latent ODE against all of them."""
        _, values, coords = min(observations, key=lambda o: o[0])
        start = self.invert(values, coords)
        last = max(t for t, _, _ in observations)

        def predict(alpha: Tensor) -> Tensor:
            path = self.integrate(alpha, last)
            return torch.cat([self.decoder(path[t], coords).flatten(1) for t, _, coords in observations], dim=1)

        observed = torch.cat([values.flatten(1) for _, values, _ in observations], dim=1)
        return invert_latent(predict, observed, start, steps=self.config.inversion_steps)

    def _mean_latent(self, like: Tensor) -> Tensor:
        """The memory's mean latent, one row per sample of `like` (where inversions start)."""
        mean = self.memory.detach().reshape(-1, self.config.latent_dim).mean(0)
        return mean.to(like.dtype).expand(len(like), -1)

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """The latent one dt later, (B, k) -> (B, k)."""
        return self.integrate(state, 1)[-1]

    def observe(self, state: Tensor) -> Tensor:
        """The decoded field on the training grid, (B, k) -> (B, C, *grid)."""
        return self.decode(state)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """λ · L_rec + (1 − λ) · [w · L_phys + (1 − w) · L_labels] on windows x (B, T, C, *grid) (module docstring).

        Returns:
            ``"loss"``, ``"rec"``, and ``"phys"`` / ``"labels"`` for the terms with weight > 0.
        """
        cfg = self.config
        x, index = batch["x"], batch["index"]
        b, t = x.shape[:2]
        slots = index[:, 0].clamp_min(0)
        steps = index[:, 1:2] + torch.arange(t, device=x.device)  # (B, T)
        if int(slots.max()) >= cfg.n_slots or int(steps.max()) >= cfg.n_times:
            raise DataError(f"a window reaches trajectory {int(slots.max())}, step {int(steps.max())} beyond the latent "
                            f"memory ({cfg.n_slots} x {cfg.n_times}); train on the store the model was sized for")
        alpha = self.memory[slots[:, None], steps]  # (B, T, k)
        flat = alpha.reshape(b * t, -1)
        fields = self.decode(flat)
        rec = _relative(fields - x.reshape(fields.shape), x.reshape(fields.shape))
        out = {"rec": rec.detach()}
        dynamics = rec.new_zeros(())
        if cfg.physics_weight > 0:
            phys = self._physics_loss(flat, fields)
            dynamics = dynamics + cfg.physics_weight * phys
            out["phys"] = phys.detach()
        if cfg.physics_weight < 1:
            source = alpha if self._dynamics_teaches_all else alpha.detach()
            path = self.integrate(source[:, 0], t - 1)[1:].transpose(0, 1)  # (B, T - 1, k)
            target = alpha[:, 1:].detach()
            labels = _relative((path - target).reshape(-1, path.shape[-1]), target.reshape(-1, path.shape[-1]))
            dynamics = dynamics + (1 - cfg.physics_weight) * labels
            out["labels"] = labels.detach()
        out["loss"] = cfg.rec_weight * rec + (1 - cfg.rec_weight) * dynamics
        return out

    def _physics_loss(self, alpha: Tensor, fields: Tensor) -> Tensor:
        """‖Ψ(α) − α̇*‖ / ‖α̇*‖ with α̇* the PDE's du/dt projected by least squares at random points."""
        if self.residual is None:
            raise ConfigError("Φ-ROM's physics needs the store's system (model.system, filled when training from a "
                              "store); set model.physics_weight=0 to train without it")
        n_points = self.coords.shape[0]
        m = min(n_points, max(math.ceil(self.config.hyper_fraction * n_points),
                              -(-2 * self.config.latent_dim // self.channels)))
        points = torch.randperm(n_points, device=alpha.device)[:m]
        if not self._dynamics_teaches_all:  # warm-up: the target teaches Ψ only
            alpha, fields = alpha.detach(), fields.detach()
        du_dt = self.residual(fields).reshape(len(alpha), self.channels, -1)[..., points]  # (B, C, m)
        jac = decoder_jacobian(self.decoder, alpha, self.coords[points])  # (B, m·C, k), point-major
        target = least_squares(jac, du_dt.transpose(1, 2).reshape(len(alpha), -1))
        if not self._dynamics_teaches_all:
            target = target.detach()
        return _relative(self.field(alpha) - target, target.detach())
