"""Koopman autoencoder with a Tustin-discretized generator and periodic re-encoding.

Fathi, Gehring, Pilault, Kanaa, Bacon, Goroshin (2024), "Course Correcting Koopman
Representations", ICLR, arXiv 2310.15386. An encoder φ lifts the state into a latent space where
the dynamics are linear, dz/dt = K z; one step of length δ is the bilinear (Tustin) map

    K̄ = (I − δ/2 K)⁻¹ (I + δ/2 K),    z_{t+1} = K̄ z_t,

and a decoder ψ maps back. Trained with alignment ‖K̄^i φ(x_t) − φ(x_{t+i})‖², reconstruction
‖ψ(φ(x)) − x‖² and an L1 penalty on z (a prediction loss ‖ψ(K̄^i φ(x_t)) − x_{t+i}‖² optional). At
inference the latent is re-encoded every k steps, z ← φ(ψ(z)), which pulls it back onto the
encoder's image (the paper's periodic re-encoding; k = 0 is the plain linear rollout).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal, final

import torch
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.layers import ACTIVATIONS, mlp
from dynlearn.atomic import atomic_file, atomic_write_text
from dynlearn.models._base import AbstractModel, IOShape



@dataclasses.dataclass(frozen=True)
class KoopmanConfig:
    """Hyperparameters of `Koopman`.

    Attributes:
        latent_dim: n, the dimension of the Koopman latent space (the paper: 128, overcomplete).
        width: units per hidden layer of the encoder (and of an ``mlp`` decoder).
        depth: hidden layers of the encoder (and of an ``mlp`` decoder); 0 makes φ linear.
        decoder: ``linear`` (ψ(z) = W z + b; better on low-dimensional systems in the paper) or
            ``mlp`` (the encoder's shape mirrored).
        activation: ``relu`` (the paper's), ``tanh``, ``gelu``, ``silu`` or ``elu``.
        dt: time between observations; the generator is in units of 1/time. Training fills it in
            with the store's dt when the model config leaves it null.
        train_step: learn the Tustin step δ (initialized to dt) instead of fixing δ = dt.
        align, reconstruction, prediction, sparsity: weights of the four loss terms (alignment
            of the unrolled latent with the encoded states, auto-encoding, decoded prediction,
            mean |z|).
        dynamics_lr_ratio: learning rate of K and δ relative to the networks' (the paper: 1e-5
            vs 1e-4). Realised by training K / ratio and log δ / ratio: Adam-type optimizers move
            each parameter by about the learning rate whatever its scale, so K and δ move
            `ratio` times slower with one optimizer and one learning rate.
        reencode_every: k, latent steps between re-encodings z ← φ(ψ(z)) at inference (free runs,
            evaluation, forecasts); 0: never (the plain linear rollout). The paper picks k from
            {10, 25, 50, 100} on validation data.
        seed: seed of the parameter initialization.
    """

    latent_dim: int = 128
    width: int = 256
    depth: int = 3
    decoder: Literal["linear", "mlp"] = "linear"
    activation: Literal["relu", "tanh", "gelu", "silu", "elu"] = "relu"
    dt: float = 0.01
    train_step: bool = True
    align: float = 1.0
    reconstruction: float = 1.0
    prediction: float = 0.0
    sparsity: float = 1e-3
    dynamics_lr_ratio: float = 0.1
    reencode_every: int = 25
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.latent_dim >= 1, "latent_dim must be >= 1"),
            (self.width >= 1 and self.depth >= 0, "width must be >= 1 and depth >= 0"),
            (self.decoder in ("linear", "mlp"), "decoder must be linear or mlp"),
            (self.activation in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}"),
            (isinstance(self.dt, (int, float)) and self.dt > 0, "dt must be positive (null only in the model config)"),
            (min(self.align, self.reconstruction, self.prediction, self.sparsity) >= 0, "loss weights must be >= 0"),
            (self.reconstruction > 0 or self.prediction > 0,
             "reconstruction or prediction must be > 0 (else the latent collapses to 0)"),
            (0 < self.dynamics_lr_ratio <= 1, "dynamics_lr_ratio must be in (0, 1]"),
            (self.reencode_every >= 0, "reencode_every must be >= 0 (0: never)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"Koopman: {message} (got {self}); fix the model config")


def tustin(generator: Tensor, step: Tensor | float) -> Tensor:
    """The bilinear (Tustin, Cayley) discretization (I − h/2 K)⁻¹ (I + h/2 K) of dz/dt = K z.

    Second order: it equals expm(h K) up to h³ K³ / 12 + O(h⁴) per step, and maps the imaginary
    axis onto the unit circle (a neutral mode stays neutral for every h).

    Args:
        generator: K, (n, n).
        step: h, a scalar (tensor or float).

    Returns:
        K̄, (n, n).
    """
    eye = torch.eye(generator.shape[0], dtype=generator.dtype, device=generator.device)
    half = 0.5 * step * generator
    return torch.linalg.solve(eye - half, eye + half)


@final
class Koopman(AbstractModel):
    """A Koopman autoencoder whose state is the latent z and the steps since the last encoding.

    State layout (B, n + 1): ``[:, :n]`` is z, ``[:, n]`` counts the latent steps since z was last
    encoded from an observation (an integer kept in a float). With ``reencode_every = k > 0`` a step
    that finds the count at k first re-encodes z ← φ(ψ(z)) and resets it, then advances z ← K̄ z;
    so k = 1 is encode → advance → decode at every step, and re-encoding lives in `step` where the
    shared rollout, the evaluation and forecasting all see it.

    Parameters: ``encoder`` and ``decoder`` (MLPs / a linear map), ``generator_raw`` (K / ratio)
    and ``log_step_raw`` (log(δ / dt) / ratio).

    Args:
        io: D, the observed dimension, or an `IOShape` ((D,),) without exogenous inputs.
        config: hyperparameters; `KoopmanConfig` defaults when None.
    """

    Config = KoopmanConfig

    def __init__(self, io: IOShape | int, config: KoopmanConfig | None = None) -> None:
        super().__init__()
        io = IOShape.of(io)
        if len(io.state) != 1 or io.n_inputs > 0:
            raise ConfigError(f"Koopman learns autonomous vectors; got observations {io.state} with "
                              f"{io.n_inputs} exogenous inputs: use a driven family (e.g. alrnn) for forced data")
        cfg = self.config = KoopmanConfig() if config is None else config
        d, n = io.dim, cfg.latent_dim
        self.encoder = mlp([d] + [cfg.width] * cfg.depth + [n], cfg.activation)
        hidden = cfg.depth if cfg.decoder == "mlp" else 0
        self.decoder = mlp([n] + [cfg.width] * hidden + [d], cfg.activation)
        g = torch.Generator().manual_seed(cfg.seed)
        with torch.no_grad():  # uniform weights ±1/√fan-in as torch's default (biases ±1/√fan-out), private generator
            for p in list(self.encoder.parameters()) + list(self.decoder.parameters()):
                bound = 1 / math.sqrt(p.shape[-1] if p.ndim == 2 else p.numel())
                p.copy_((2 * torch.rand(p.shape, generator=g, dtype=torch.float64) - 1) * bound)
        # K starts skew-symmetric (neutral modes: K̄ is a rotation, nothing grows or decays) with
        # frequencies up to ~1 / time unit; training adds growth and decay where the data show it.
        k0 = torch.randn(n, n, generator=g, dtype=torch.float64) / math.sqrt(2 * n)
        k0 = k0 - k0.T
        self.generator_raw = nn.Parameter(k0 / cfg.dynamics_lr_ratio)
        self.log_step_raw = nn.Parameter(torch.zeros((), dtype=torch.float64), requires_grad=cfg.train_step)
        self.to(torch.get_default_dtype())

    # ---- the pieces -------------------------------------------------------------------------

    @property
    def generator(self) -> Tensor:
        """K, the continuous-time generator, (n, n), in units of 1/δ-time (1/time when δ = dt)."""
        return self.config.dynamics_lr_ratio * self.generator_raw

    @property
    def step_size(self) -> Tensor:
        """δ, the Tustin step (a scalar tensor): dt·exp(ratio · log_step_raw)."""
        return self.config.dt * torch.exp(self.config.dynamics_lr_ratio * self.log_step_raw)

    def transition(self) -> Tensor:
        """K̄ = tustin(K, δ), the one-step latent map, (n, n)."""
        return tustin(self.generator, self.step_size)

    def encode(self, x: Tensor) -> Tensor:
        """φ, (..., D) -> (..., n)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """ψ, (..., n) -> (..., D)."""
        return self.decoder(z)

    # ---- the model interface ----------------------------------------------------------------

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """[φ(last context observation), 0], (B, Tc, D) -> (B, n + 1)."""
        z = self.encode(context[:, -1])
        return torch.cat([z, z.new_zeros(z.shape[0], 1)], dim=1)

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """Re-encode if k steps have passed since the last encoding, then z ← K̄ z; (B, n + 1)."""
        z, count = state[:, :-1], state[:, -1:]
        k = self.config.reencode_every
        if k > 0:
            due = count >= k  # (B, 1)
            if bool(due.any()):
                z = torch.where(due, self.encode(self.decode(z)), z)
                count = torch.where(due, torch.zeros_like(count), count)
        return torch.cat([z @ self.transition().T, count + 1], dim=1)

    def observe(self, state: Tensor) -> Tensor:
        """ψ(z), (B, n + 1) -> (B, D)."""
        return self.decode(state[:, :-1])

    def jacobian(self, state: Tensor) -> Tensor:
        """∂step/∂state, (B, n + 1) -> (B, n + 1, n + 1): K̄, or K̄ · ∂(φ∘ψ)/∂z on a re-encoding
        step (by autograd); the step counter is discrete and gets a zero row and column."""
        z, count = state[:, :-1], state[:, -1]
        b, n = z.shape
        transition = self.transition()
        jac = transition.expand(b, n, n).clone()
        k = self.config.reencode_every
        due = (count >= k) if k > 0 else torch.zeros_like(count, dtype=torch.bool)
        if bool(due.any()):
            from torch.func import jacrev, vmap

            with torch.enable_grad():
                inner = vmap(jacrev(lambda v: self.encode(self.decode(v))))(z[due].detach())  # (b', n, n)
            jac[due] = transition @ inner
        out = state.new_zeros(b, n + 1, n + 1)
        out[:, :n, :n] = jac
        return out

    def unroll(self, z0: Tensor, n_steps: int) -> Tensor:
        """The linear latent rollout K̄^i z0 for i = 0..n_steps, (B, n) -> (B, n_steps + 1, n)."""
        transition_t = self.transition().T
        zs = [z0]
        for _ in range(n_steps):
            zs.append(zs[-1] @ transition_t)
        return torch.stack(zs, dim=1)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Alignment + reconstruction (+ prediction) + L1 on one batch of windows x (B, T + 1, D).

        The latent is unrolled T steps from φ(x_0) with K̄ (no re-encoding in training, as in the
        paper). Each term is a mean of squares over batch, steps and dimensions.

        Returns:
            ``"loss"`` and the terms ``"align"``, ``"reconstruction"``, ``"prediction"`` (always
            logged; weighted 0 by default), ``"sparsity"``.
        """
        cfg = self.config
        x = batch["x"]
        z = self.encode(x)  # (B, T + 1, n)
        unrolled = self.unroll(z[:, 0], x.shape[1] - 1)  # (B, T + 1, n)
        align = (unrolled[:, 1:] - z[:, 1:]).pow(2).mean()
        reconstruction = (self.decode(z) - x).pow(2).mean()
        prediction = (self.decode(unrolled[:, 1:]) - x[:, 1:]).pow(2).mean()
        sparsity = z.abs().mean()
        loss = (cfg.align * align + cfg.reconstruction * reconstruction + cfg.prediction * prediction
                + cfg.sparsity * sparsity)
        return {"loss": loss, "align": align.detach(), "reconstruction": reconstruction.detach(),
                "prediction": prediction.detach(), "sparsity": sparsity.detach()}

    # ---- what the run directory gets --------------------------------------------------------

    @torch.no_grad()
    def eigenvalues(self) -> dict[str, Tensor]:
        """The learned spectrum, sorted by decreasing real part of λ.

        Returns:
            ``"discrete"``: μ, eigenvalues of K̄ (complex, (n,)); ``"continuous"``: λ = log(μ) / dt,
            the generator in physical time that K̄ advances by exactly one dt (the Tustin error and
            the trained δ cancel out of it); ``"generator"``: eigenvalues of δ K / dt (the learned K
            in physical time, equal to λ up to Tustin's O((λ dt)²) relative error).
        """
        transition = self.transition().double()
        mu = torch.linalg.eigvals(transition)
        lam = torch.log(mu) / self.config.dt
        order = torch.argsort(lam.real, descending=True)
        scaled = torch.linalg.eigvals(self.generator.double() * (self.step_size.double() / self.config.dt))
        scaled = scaled[torch.argsort(scaled.real, descending=True)]
        return {"discrete": mu[order], "continuous": lam[order], "generator": scaled}

    @torch.no_grad()
    def write_report(self, out_dir: Path) -> list[Path]:
        """``koopman_eigenvalues.csv`` (μ, λ, δK/dt, the step δ) and ``koopman_eigenvalues.png``
        (μ against the unit circle, λ in the complex plane) in `out_dir`."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ev = {k: v.cpu() for k, v in self.eigenvalues().items()}  # matplotlib reads CPU tensors only
        mu, lam, gen = ev["discrete"], ev["continuous"], ev["generator"]
        delta = float(self.step_size)
        lines = ["index,mu_real,mu_imag,mu_abs,lambda_real,lambda_imag,generator_real,generator_imag,step"]
        for i in range(len(mu)):
            lines.append(f"{i},{mu[i].real:.10g},{mu[i].imag:.10g},{abs(mu[i]):.10g},{lam[i].real:.10g},"
                         f"{lam[i].imag:.10g},{gen[i].real:.10g},{gen[i].imag:.10g},{delta:.10g}")
        table = Path(out_dir) / "koopman_eigenvalues.csv"
        atomic_write_text("\n".join(lines) + "\n", table)
        figure = Path(out_dir) / "koopman_eigenvalues.png"
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
        angle = torch.linspace(0, 2 * math.pi, 200)
        left.plot(torch.cos(angle), torch.sin(angle), color="0.6", lw=0.8)
        left.scatter(mu.real, mu.imag, s=10)
        left.set_aspect("equal")
        left.set_title("eigenvalues μ of K̄ (unit circle)")
        right.axvline(0, color="0.6", lw=0.8)
        right.scatter(lam.real, lam.imag, s=10)
        right.set_xlabel("Re λ [1/time]")
        right.set_ylabel("Im λ [1/time]")
        right.set_title(f"λ = log(μ)/dt, dt = {self.config.dt:g}, δ = {delta:.4g}")
        fig.tight_layout()
        with atomic_file(figure) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        return [table, figure]
