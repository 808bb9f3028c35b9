"""Latent SDE: a posterior SDE read from the data, a prior SDE that generates, one ELBO.

Li, Wong, Chen & Duvenaud (2020), "Scalable Gradients for Stochastic Differential Equations",
AISTATS, arXiv 2001.01328, §5 (the latent SDE; torchsde's examples/latent_sde_lorenz.py). A GRU run
backwards over the window gives a context c_k at every observation (a summary of x_k, .., x_{T-1},
and x_k itself, so the posterior steers toward the next observation from the start; Li et al.'s
contexts are the summary alone) and q(z_0) = N(μ, s²) from c_0. Between observations k-1 and k the latent state follows

    posterior  dz = f_φ(z, c_k, τ) dt + g(z) dW     (τ ∈ [0, 1): the fraction of the interval passed)
    prior      dz = h_θ(z) dt + g(z) dW,             z_0 ~ N(m_0, S_0²) learned,

with the diffusion g shared (otherwise the path measures would not be comparable), and x_k ~
N(D z(t_k), ε²) with a linear (or identity) decoder D. The ELBO

    E_q[Σ_k log p(x_k | z(t_k))] − KL(q(z_0) ‖ p(z_0)) − E_q[∫ ½ |(f_φ − h_θ) / g|² dt]

has its path KL (Girsanov) accumulated by torchsde (``sdeint(..., logqp=True)``) along
Euler–Maruyama steps of dt / substeps. Free runs (`step`) follow the prior SDE from q(z_0)'s mean
carried over the context by the posterior SDE, and observe D z (or, with `sample_observations`, a
draw of N(D z, ε²)): a stochastic generator, seeded by the caller through torch's RNG.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.layers import mlp
from dynlearn.models._base import AbstractModel, IOShape


@dataclasses.dataclass(frozen=True)
class LatentSDEConfig:
    """Hyperparameters of `LatentSDE`.

    Attributes:
        latent_dim: dimension L of the latent SDE.
        context_dim: dimension C of the encoder's context c_k.
        hidden: hidden units of the encoder's GRU.
        width, depth: units per hidden layer and hidden layers of the drift MLPs f_φ and h_θ.
        diffusion: ``diagonal`` (g_i(z_i), a small MLP per latent coordinate, as Li et al.) or
            ``additive`` (a learned σ_i per coordinate, independent of z).
        diffusion_width: hidden units of each coordinate's MLP (``diagonal``).
        sigma_init: the diffusion at initialization (both kinds).
        decoder: ``linear`` (x = W z + b) or ``identity`` (x = z; needs latent_dim = D): the latent
            SDE then lives in the observed coordinates and g is the noise in data units.
        obs_std: the observation noise ε (at initialization when learned).
        learn_obs_std: learn ε, one per observed dimension.
        sample_observations: `observe` draws x ~ N(D z, ε²), the model's distribution of the data,
            instead of returning the mean D z: free runs are then judged against noisy data as
            they are (against 10 % noisy Lorenz-63, a noise-free perfect model's pooled D_stsp is
            2.8, where two noisy true sets give 0.1).
        dt: time between consecutive observations; training fills it in with the store's dt when
            the model config leaves it null (conf/model/latent_sde.yaml).
        substeps: Euler–Maruyama steps per observation interval (strong order 0.5 in general, 1
            for additive noise); with more, the posterior can steer its path to the next observation.
            The posterior cannot take back the variance σ² h that the last step h = dt / substeps
            before an observation adds, which costs σ² h / (2 ε²) nats there: the bound prefers a
            smaller σ than the likelihood does (noisy OU with σ = 0.5, σ² dt ≈ ε²: σ̂ 0.40 with 10
            substeps, 0.45 with 20; tests/models/test_latent_sde.py).
        kl_anneal: training batches over which the KL terms' weight rises linearly from 1/kl_anneal
            to 1 (0: weight 1 from the start). The logged ``elbo`` is always the full bound.
        seed: seed of the parameter initialization.
    """

    latent_dim: int = 4
    context_dim: int = 64
    hidden: int = 64
    width: int = 64
    depth: int = 2
    diffusion: Literal["diagonal", "additive"] = "diagonal"
    diffusion_width: int = 16
    sigma_init: float = 0.1
    decoder: Literal["linear", "identity"] = "linear"
    obs_std: float = 0.1
    learn_obs_std: bool = True
    sample_observations: bool = False
    dt: float = 0.01
    substeps: int = 1
    kl_anneal: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (min(self.latent_dim, self.context_dim, self.hidden, self.width, self.diffusion_width) >= 1,
             "latent_dim, context_dim, hidden, width and diffusion_width must be >= 1"),
            (self.depth >= 0, "depth must be >= 0"),
            (self.diffusion in ("diagonal", "additive"), "diffusion must be diagonal or additive"),
            (self.decoder in ("linear", "identity"), "decoder must be linear or identity"),
            (self.sigma_init > 0 and self.obs_std > 0, "sigma_init and obs_std must be positive"),
            (isinstance(self.dt, (int, float)) and self.dt > 0, "dt must be positive (null only in the model config)"),
            (self.substeps >= 1, "substeps must be >= 1"),
            (self.kl_anneal >= 0, "kl_anneal must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"LatentSDE: {message} (got {self}); fix the model config")


def _softplus_inverse(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def _mlp(fan_in: int, width: int, depth: int, fan_out: int) -> nn.Sequential:
    return mlp([fan_in] + [width] * depth + [fan_out], "softplus")


class _DiagonalDiffusion(nn.Module):
    """g_i(z) = softplus(MLP_i(z_i)), (B, L) -> (B, L): noise channel i driven by coordinate i alone,
    so the noise is diagonal and its Itô/Stratonovich correction stays per coordinate."""

    def __init__(self, dim: int, width: int, sigma_init: float) -> None:
        super().__init__()
        self.w_in = nn.Parameter(torch.zeros(dim, width))
        self.b_in = nn.Parameter(torch.zeros(dim, width))
        self.w_out = nn.Parameter(torch.zeros(dim, width))
        self.b_out = nn.Parameter(torch.full((dim,), _softplus_inverse(sigma_init)))

    def redraw(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for p, bound in ((self.w_in, 1.0), (self.b_in, 1.0), (self.w_out, 0.1 / math.sqrt(self.w_out.shape[1]))):
                p.copy_((2 * torch.rand(p.shape, generator=generator, dtype=torch.float64) - 1) * bound)

    def forward(self, z: Tensor) -> Tensor:
        hidden = torch.tanh(z[..., None] * self.w_in + self.b_in)  # (B, L, H)
        return F.softplus((hidden * self.w_out).sum(-1) + self.b_out)


class _AdditiveDiffusion(nn.Module):
    """g(z) = σ, a learned positive scale per coordinate, (B, L) -> (B, L)."""

    def __init__(self, dim: int, sigma_init: float) -> None:
        super().__init__()
        self.raw = nn.Parameter(torch.full((dim,), _softplus_inverse(sigma_init)))

    def redraw(self, generator: torch.Generator) -> None:
        pass  # σ starts at sigma_init

    def forward(self, z: Tensor) -> Tensor:
        return F.softplus(self.raw).expand_as(z)


class _PosteriorSDE(nn.Module):
    """The posterior SDE of one batch in the form torchsde integrates: ``f`` (posterior drift),
    ``h`` (prior drift) and ``g`` (diagonal diffusion), each (B, L) -> (B, L)."""

    sde_type = "ito"
    noise_type = "diagonal"

    def __init__(self, model: LatentSDE, context: Tensor, times: Tensor) -> None:
        super().__init__()
        self.model, self.context, self.times = model, context, times  # (B, T, C + D), (T,)

    def f(self, t: Tensor, z: Tensor) -> Tensor:
        # A step starting at t in [t_{k-1}, t_k) reads c_k, the context from x_k on.
        k = int(torch.searchsorted(self.times, t.reshape(1), right=True).clamp(1, len(self.times) - 1))
        phase = float((t - self.times[k - 1]) / (self.times[k] - self.times[k - 1]))
        return self.model.posterior_drift(z, self.context[:, k], phase)

    def h(self, t: Tensor, z: Tensor) -> Tensor:
        return self.model.prior_drift(z)

    def g(self, t: Tensor, z: Tensor) -> Tensor:
        return self.model.diffusion(z)


@final
class LatentSDE(AbstractModel):
    """A latent SDE with a GRU encoder, trained on the ELBO of noisy observations.

    Parameters: ``encoder`` (GRU) and ``to_context``; ``to_q0`` (q(z_0)'s mean and log-std from
    c_0); ``posterior`` (f_φ on [z, c_k, τ]); ``prior`` (h_θ on z); ``diffusion`` (g);
    ``decoder`` (linear; absent for the identity); ``p0_mean``, ``p0_log_std`` (p(z_0));
    ``log_obs_std`` (ε, a buffer when fixed). Buffer ``updates``: training batches seen (KL annealing).

    Args:
        io: D, the observed dimension, or an `IOShape` ((D,),) without exogenous inputs.
        config: hyperparameters; `LatentSDEConfig` defaults when None.
    """

    Config = LatentSDEConfig

    def __init__(self, io: IOShape | int, config: LatentSDEConfig | None = None) -> None:
        super().__init__()
        io = IOShape.of(io)
        if len(io.state) != 1 or io.n_inputs > 0:
            raise ConfigError(f"LatentSDE learns autonomous vectors; got observations {io.state} with "
                              f"{io.n_inputs} exogenous inputs: use a driven family (e.g. alrnn) for forced data")
        cfg = self.config = LatentSDEConfig() if config is None else config
        d, latent = io.dim, cfg.latent_dim
        if cfg.decoder == "identity" and latent != d:
            raise ConfigError(f"LatentSDE: an identity decoder needs latent_dim = {d} (the data's dimension), "
                              f"got {latent}; set model.latent_dim={d} or model.decoder=linear")
        # Construction draws torch's default initialization from the global RNG; fork_rng keeps the
        # caller's stream as it was, and every value is then redrawn from the seed's own generator.
        with torch.random.fork_rng(devices=[]):
            self.encoder = nn.GRU(d, cfg.hidden, batch_first=True)
            self.to_context = nn.Linear(cfg.hidden, cfg.context_dim)
            self.to_q0 = nn.Linear(cfg.context_dim + d, 2 * latent)
            self.posterior = _mlp(latent + cfg.context_dim + d + 1, cfg.width, cfg.depth, latent)
            self.prior = _mlp(latent, cfg.width, cfg.depth, latent)
            self.diffusion = (_DiagonalDiffusion(latent, cfg.diffusion_width, cfg.sigma_init)
                              if cfg.diffusion == "diagonal" else _AdditiveDiffusion(latent, cfg.sigma_init))
            self.decoder = nn.Linear(latent, d) if cfg.decoder == "linear" else None
        self.p0_mean = nn.Parameter(torch.zeros(latent))
        self.p0_log_std = nn.Parameter(torch.zeros(latent))
        log_obs_std = torch.full((d,), math.log(cfg.obs_std))
        if cfg.learn_obs_std:
            self.log_obs_std = nn.Parameter(log_obs_std)
        else:
            self.register_buffer("log_obs_std", log_obs_std)
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))
        self._redraw(torch.Generator().manual_seed(cfg.seed))
        self.to(torch.get_default_dtype())

    def _redraw(self, generator: torch.Generator) -> None:
        """torch's default initialization (uniform, ±1/√fan-in; ±1/√hidden for the GRU), from `generator`."""
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    bound, params = 1 / math.sqrt(module.in_features), list(module.parameters())
                elif isinstance(module, nn.GRU):
                    bound, params = 1 / math.sqrt(module.hidden_size), list(module.parameters())
                else:
                    continue
                for p in params:
                    p.copy_((2 * torch.rand(p.shape, generator=generator, dtype=torch.float64) - 1) * bound)
        self.diffusion.redraw(generator)

    # The three fields of the SDEs, (B, L) -> (B, L).
    def posterior_drift(self, z: Tensor, context: Tensor, phase: float) -> Tensor:
        """f_φ(z, c_k, τ): z (B, L), the context of the interval's end c_k (B, C + D), τ in [0, 1)."""
        return self.posterior(torch.cat([z, context, z.new_full((z.shape[0], 1), phase)], dim=-1))

    def prior_drift(self, z: Tensor) -> Tensor:
        """h_θ(z), the generator's drift, (B, L) -> (B, L)."""
        return self.prior(z)

    def _encode(self, x: Tensor) -> Tensor:
        """Contexts c_k of x (B, T, D): the GRU reads x_{T-1}, .., x_0, so c_k summarizes x_k, .., x_{T-1};
        (B, T, C + D), the summary and x_k."""
        hidden, _ = self.encoder(x.flip(1))
        # x_k itself beside the summary: the posterior steers toward the next observation from the start.
        return torch.cat([self.to_context(hidden).flip(1), x], dim=-1)

    def _q0(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """q(z_0)'s mean and std from c_0 (B, C + D): two (B, L)."""
        mean, log_std = self.to_q0(context).chunk(2, dim=-1)
        return mean, log_std.exp()

    def _em_step(self, z: Tensor, drift: Tensor, h: float) -> Tensor:
        """One Euler–Maruyama step of size h with Gaussian increments from torch's RNG."""
        return z + drift * h + self.diffusion(z) * math.sqrt(h) * torch.randn_like(z)

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """The posterior mean of z_0, carried through the context by the posterior SDE, (B, Tc, D) -> (B, L).

        With one context observation this is q(z_0)'s mean; with more, the posterior SDE follows
        the context to its last time (sampled: a draw of torch's RNG per step).
        """
        c = self._encode(context)  # (B, Tc, C + D)
        z, _ = self._q0(c[:, 0])
        h = self.config.dt / self.config.substeps
        for k in range(1, context.shape[1]):
            for j in range(self.config.substeps):
                z = self._em_step(z, self.posterior_drift(z, c[:, k], j / self.config.substeps), h)
        return z

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """The prior SDE over one observation interval: `substeps` Euler–Maruyama steps, (B, L) -> (B, L).
        Stochastic: it draws from torch's RNG."""
        h = self.config.dt / self.config.substeps
        for _ in range(self.config.substeps):
            state = self._em_step(state, self.prior_drift(state), h)
        return state

    def observe(self, state: Tensor) -> Tensor:
        """The decoder's mean D z, (B, L) -> (B, D); with `sample_observations`, a draw of
        N(D z, ε²) from torch's RNG."""
        mean = self._decode(state)
        if not self.config.sample_observations:
            return mean
        return mean + self.log_obs_std.exp() * torch.randn_like(mean)

    def _decode(self, z: Tensor) -> Tensor:
        """D z, (..., L) -> (..., D)."""
        return z if self.decoder is None else self.decoder(z)

    def _times(self, n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """The n observation times, accumulated step by step as torchsde advances its clock, so
        its Euler steps land on them exactly (no interpolated extra step)."""
        h, t, times = self.config.dt / self.config.substeps, torch.zeros((), dtype=dtype, device=device), []
        for k in range(n):
            if k:
                for _ in range(self.config.substeps):
                    t = t + h
            times.append(t)
        return torch.stack(times)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The negative ELBO per observation time (KL terms weighted by the annealing schedule).

        A window x (B, T, D) is encoded, z_0 drawn from q(z_0) (reparametrized), the posterior
        SDE integrated over the T observation times with torchsde (the Brownian path drawn from
        torch's RNG), and the bound estimated with one sample path per window.

        Returns:
            ``"loss"``; per observation time and averaged over windows: ``"elbo"`` (the full bound),
            ``"log_lik"``, ``"kl_z0"``, ``"kl_path"``; ``"kl_weight"``, ``"obs_std"`` (ε averaged over
            dimensions) and ``"sigma"`` (g averaged along the posterior paths).
        """
        import torchsde

        x = batch["x"]
        b, n = x.shape[0], x.shape[1]
        c = self._encode(x)  # (B, T, C + D)
        q_mean, q_std = self._q0(c[:, 0])
        z0 = q_mean + q_std * torch.randn_like(q_mean)
        times = self._times(n, x.dtype, x.device)
        h = self.config.dt / self.config.substeps
        # The Brownian path from torch's RNG (torchsde's default would draw its seed from NumPy's);
        # logqp integrates one extra coordinate, the KL, with zero noise.
        bm = torchsde.BrownianInterval(t0=times[0], t1=times[-1], size=(b, self.config.latent_dim + 1),
                                       dtype=x.dtype, device=x.device, dt=h, levy_area_approximation="none",
                                       entropy=int(torch.randint(0, 2**31 - 1, ()).item()))
        z, log_ratio = torchsde.sdeint(_PosteriorSDE(self, c, times), z0, times, bm=bm, method="euler",
                                       dt=h, logqp=True)  # (T, B, L), (T - 1, B)
        z = z.transpose(0, 1)  # (B, T, L)
        obs_std = self.log_obs_std.exp()
        error = (x - self._decode(z)) / obs_std
        log_lik = (-0.5 * error.pow(2) - self.log_obs_std - 0.5 * math.log(2 * math.pi)).sum((1, 2)).mean()
        p_std = self.p0_log_std.exp()
        kl_z0 = (torch.log(p_std / q_std) + (q_std.pow(2) + (q_mean - self.p0_mean).pow(2)) / (2 * p_std.pow(2))
                 - 0.5).sum(-1).mean()
        kl_path = log_ratio.sum(0).mean()
        anneal = self.config.kl_anneal
        weight = 1.0 if anneal == 0 else min(1.0, (int(self.updates) + 1) / anneal)
        if self.training and torch.is_grad_enabled():
            self.updates += 1
        elbo = (log_lik - kl_z0 - kl_path) / n
        out = {
            "loss": -(log_lik - weight * (kl_z0 + kl_path)) / n,
            "elbo": elbo.detach(),
            "log_lik": log_lik.detach() / n,
            "kl_z0": kl_z0.detach() / n,
            "kl_path": kl_path.detach() / n,
            "kl_weight": x.new_tensor(weight),
        }
        with torch.no_grad():
            out["obs_std"] = obs_std.mean()
            out["sigma"] = self.diffusion(z.reshape(-1, z.shape[-1])).mean()
        return out
