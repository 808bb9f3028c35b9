"""Next-frame models on fields: encoder → stack of recurrent conv layers → decoder.

The frame of ConvS5 and of its ConvLSTM baseline (NVlabs/ConvSSM
``sequence_models/noVQ/convS5.py``, ``convLSTM.py``; models.md §2.1–2.2). Input at frame k: the
field x_k with the forcing of the frame it predicts, u_{k+1}, as extra channels (the reference pairs
frame k with action k+1, and `step` receives the forcing of t + 1); output at k: x̂_{k+1}.
Training is next-frame prediction from ground-truth frames (full teacher forcing, the reference's),
optionally followed by a short free run (`free_run_steps`) whose predictions are fed back.

The model state (`initial_state`, `step`) is one real tensor (B, M): every layer's recurrent state
(its `state_channels` × latent pixels), then the current frame (C × pixels), which `observe`
returns; `step` feeds that frame back, so `rollout` is free-running generation.

Masks: cells that are NaN in an input frame (off a river mask) enter the network as 0 (the
normalized mean), the loss counts only finite target cells, and predicted frames are NaN wherever
the frame they came from was. Non-finite forcing enters as 0. Fields whose sizes the encoder's
2^(levels − 1) does not divide are zero-padded at the far end and cropped after decoding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.models._base import AbstractModel, IOShape

from ._conv import Conv
from ._layer import SequenceLayer
from ._resnet import Decoder, Encoder

FILL = 0.0  # what a NaN (off-mask) cell of an input frame becomes: the normalized mean


@dataclasses.dataclass(frozen=True)
class FrameConfig:
    """Hyperparameters shared by the next-frame families (ConvS5, ConvLSTM).

    Attributes:
        depths: encoder widths per resolution level, finest first; each further level halves every
            spatial axis (the reference's Moving-MNIST: 64, 128, 256, 64² → 16²).
        blocks: ResNet blocks per coarser level of the encoder and decoder.
        d_model: channels of the sequence stack (a 1×1 conv maps depths[-1] to it).
        n_layers: layers of the sequence stack.
        use_norm: a channel LayerNorm in every layer; prenorm: before the core (else after the residual).
        dropout: per-layer dropout, one mask per sequence (the reference's 0).
        padding: ``zeros`` (the reference's SAME convolutions) or ``circular`` (periodic fields: KS, NS).
        residual: predict x_{k+1} − x_k instead of x_{k+1} (the reference predicts frames).
        loss_weight: w in w·MSE + (1 − w)·L1 over the finite target cells (reference 0.5; means, not
            the reference's per-frame sums: Adam does not see the scale, and means compare across grids).
        free_run_steps: the last n predictions of each training window are generated freely (own
            predictions fed back, gradients through them) after teacher forcing on the rest; 0 is the
            reference's full teacher forcing. At most window length − 2.
        input_noise: standard deviation of Gaussian noise added in training to the frames read from
            the data (standardized units; targets stay clean), so the model learns to pull a slightly
            off state back: free runs otherwise drift into directions the data never visit (the FNO's
            KS runs: bench/RESULTS.md). 0: off.
        seed: seed of the parameter initialization.
    """

    depths: tuple[int, ...] = (16, 32, 32)
    blocks: int = 1
    d_model: int = 32
    n_layers: int = 4
    use_norm: bool = True
    prenorm: bool = False
    dropout: float = 0.0
    padding: Literal["zeros", "circular"] = "zeros"
    residual: bool = False
    loss_weight: float = 0.5
    free_run_steps: int = 0
    input_noise: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        for ok, message in self.checks():
            if not ok:
                family = type(self).__name__.removesuffix("Config")
                raise ConfigError(f"{family}: {message} (got {self}); fix the model config")

    def checks(self) -> list[tuple[bool, str]]:
        """(condition, message) pairs that must hold; families add their own."""
        return [
            (len(self.depths) >= 1 and all(d >= 1 for d in self.depths), "depths must be a non-empty list of widths >= 1"),
            (self.blocks >= 1, "blocks must be >= 1"),
            (self.d_model >= 1, "d_model must be >= 1"),
            (self.n_layers >= 1, "n_layers must be >= 1"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.padding in ("zeros", "circular"), "padding must be zeros or circular"),
            (0 <= self.loss_weight <= 1, "loss_weight must be in [0, 1]"),
            (self.free_run_steps >= 0, "free_run_steps must be >= 0"),
            (self.input_noise >= 0, "input_noise must be >= 0"),
        ]


class FrameModel(AbstractModel):
    """Encoder → `n_layers` `SequenceLayer`s → decoder on fields ``(B, T, C, *s)``, s = (X,) or (H, W).

    Families subclass it with the layer they stack (module docstring for the data flow).

    Args:
        io: state ``(C, *s)`` and forcing ``(U, *s)`` (U = 0: none).
        config: the shared hyperparameters (a family's config extends `FrameConfig`).
        make_layer: builds one layer from (spatial dims, generator).
    """

    layout = "field"
    kinds = ("field1d", "field2d", "grid")
    differentiable_step = True  # λ_max by Jacobian-vector products of `step`

    def __init__(self, io: IOShape | int, config: FrameConfig,
                 make_layer: Callable[[int, torch.Generator], SequenceLayer]) -> None:
        super().__init__()
        io = IOShape.of(io)
        name = type(self).__name__
        if len(io.state) not in (2, 3) or (io.n_inputs > 0 and tuple(io.forcing[1:]) != tuple(io.state[1:])):
            raise ConfigError(f"{name} reads 1-D or 2-D fields (C, X) or (C, H, W) with any forcing on the same grid; "
                              f"got {io.state} with forcing {io.forcing}: use it on a field or grid system")
        self.config = config
        self.channels, self.spatial, self.n_inputs = io.state[0], tuple(io.state[1:]), io.n_inputs
        ndim, factor = len(self.spatial), 2 ** (len(config.depths) - 1)
        self.padded = tuple(-(-s // factor) * factor for s in self.spatial)
        self.latent = tuple(p // factor for p in self.padded)
        g, cfg = torch.Generator().manual_seed(config.seed), config
        self.encoder = Encoder(self.channels + self.n_inputs, cfg.depths, cfg.blocks, ndim, cfg.padding, g)
        self.embed = Conv(cfg.depths[-1], cfg.d_model, 1, ndim, cfg.padding, g)
        self.layers = nn.ModuleList(make_layer(ndim, g) for _ in range(cfg.n_layers))
        self.decoder = Decoder(cfg.d_model, self.channels, cfg.depths, cfg.blocks, ndim, cfg.padding, g)

    # -- one pass of the network ------------------------------------------------------------------

    def _forcing(self, u: Tensor | None) -> Tensor | None:
        """`u` when the model reads forcing, else None; refuses a missing one."""
        if self.n_inputs == 0:
            return None
        if u is None or u.shape[-len(self.spatial) - 1] != self.n_inputs:
            raise ValueError(f"{type(self).__name__} was built for {self.n_inputs} forcing channels; "
                             f"got {None if u is None else tuple(u.shape)}")
        return u

    def _encode(self, frames: Tensor, forcing: Tensor | None) -> Tensor:
        """Frames ``(n, C, *s)`` (+ forcing ``(n, U, *s)``) -> features ``(n, d_model, *latent)``."""
        x = torch.where(torch.isfinite(frames), frames, FILL)
        if forcing is not None:
            x = torch.cat([x, torch.nan_to_num(forcing, nan=0.0, posinf=0.0, neginf=0.0)], 1)
        pad = [n for p, s in zip(reversed(self.padded), reversed(self.spatial)) for n in (0, p - s)]
        if any(pad):
            x = F.pad(x, pad)
        return self.embed(self.encoder(x))

    def _decode(self, z: Tensor, frames: Tensor) -> Tensor:
        """Features ``(n, d_model, *latent)`` -> predicted next frames ``(n, C, *s)`` (finite everywhere)."""
        y = self.decoder(z)[(..., *[slice(0, s) for s in self.spatial])]
        return y + torch.where(torch.isfinite(frames), frames, FILL) if self.config.residual else y

    def _teacher_forced(self, frames: Tensor, forcing: Tensor | None) -> tuple[Tensor, list[Tensor]]:
        """Parallel mode: frames ``(B, T, C, *s)`` with the forcing of the frames they predict
        ``(B, T, U, *s)`` -> predictions of the next frames ``(B, T, C, *s)`` and each layer's last state."""
        B, T = frames.shape[:2]
        z = self._encode(frames.flatten(0, 1), None if forcing is None else forcing.flatten(0, 1))
        z = z.reshape(B, T, *z.shape[1:])
        states = []
        for layer in self.layers:
            z, state = layer(z)
            states.append(state)
        return self._decode(z.flatten(0, 1), frames.flatten(0, 1)).reshape(frames.shape), states

    def _advance(self, frame: Tensor, forcing: Tensor | None, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Recurrent mode: one frame ``(B, C, *s)`` -> the next ``(B, C, *s)`` and the layers' new states."""
        z = self._encode(frame, forcing)
        new = []
        for layer, state in zip(self.layers, states):
            z, state = layer.step(z, state)
            new.append(state)
        return self._decode(z, frame), new

    # -- the state --------------------------------------------------------------------------------

    def _pack(self, states: list[Tensor], frame: Tensor) -> Tensor:
        return torch.cat([s.flatten(1) for s in states] + [frame.flatten(1)], 1)

    def _unpack(self, state: Tensor) -> tuple[list[Tensor], Tensor]:
        sizes = [layer.core.state_channels * math.prod(self.latent) for layer in self.layers]
        *parts, frame = state.split(sizes + [self.channels * math.prod(self.spatial)], 1)
        states = [p.reshape(state.shape[0], -1, *self.latent) for p in parts]
        return states, frame.reshape(state.shape[0], self.channels, *self.spatial)

    # -- AbstractModel ----------------------------------------------------------------------------

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Next-frame loss w·MSE + (1 − w)·L1 over the finite cells of frames 1..T−1.

        Frames 0..T−2−n are read from the data (teacher forcing, in parallel); with
        n = `free_run_steps` the last n predictions are generated by feeding predictions back.

        Returns:
            ``"loss"``, ``"mse"`` and ``"l1"``.
        """
        x, u = batch["x"], self._forcing(batch.get("u"))
        T = x.shape[1]
        if T < 2:
            raise ValueError(f"{type(self).__name__}.loss needs windows of >= 2 frames, got {T}")
        head = T - 1 - min(self.config.free_run_steps, T - 2)  # frames read from the data
        read = x[:, :head]
        if self.config.input_noise > 0 and self.training:  # masked (NaN) cells stay NaN
            read = read + self.config.input_noise * torch.randn_like(read)
        pred, states = self._teacher_forced(read, None if u is None else u[:, 1:head + 1])
        preds = [pred]
        frame = torch.where(torch.isfinite(x[:, head - 1]), pred[:, -1], math.nan)
        for t in range(head, T - 1):
            p, states = self._advance(frame, None if u is None else u[:, t + 1], states)
            preds.append(p[:, None])
            frame = torch.where(torch.isfinite(frame), p, math.nan)
        target = x[:, 1:]
        valid = torch.isfinite(target)
        error = torch.where(valid, torch.cat(preds, 1) - torch.nan_to_num(target), 0.0)
        count = valid.sum().clamp(min=1)
        mse, l1 = error.square().sum() / count, error.abs().sum() / count
        w = self.config.loss_weight
        return {"loss": w * mse + (1 - w) * l1, "mse": mse.detach(), "l1": l1.detach()}

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """Reads frames 0..Tc−2 in parallel; the state holds the layers' states and frame Tc−1.

        Args:
            context: ``(B, Tc, C, *s)``; u: its forcing ``(B, Tc, U, *s)`` (frame k reads u_{k+1}).

        Returns:
            ``(B, M)`` real.
        """
        u = self._forcing(u)
        if context.shape[1] > 1:
            _, states = self._teacher_forced(context[:, :-1], None if u is None else u[:, 1:])
        else:
            states = [layer.core.zero_state(context.shape[0], self.latent).to(context) for layer in self.layers]
        return self._pack(states, context[:, -1])

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """Feeds the state's frame (with the forcing u of t + 1, ``(B, U, *s)``) through the network
        in recurrent mode: ``(B, M)`` -> ``(B, M)``, the new frame NaN where the old one was."""
        states, frame = self._unpack(state)
        pred, states = self._advance(frame, self._forcing(u), states)
        return self._pack(states, torch.where(torch.isfinite(frame), pred, math.nan))

    def observe(self, state: Tensor) -> Tensor:
        """The state's frame, ``(B, M)`` -> ``(B, C, *s)``."""
        return self._unpack(state)[1]
