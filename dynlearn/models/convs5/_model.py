"""ConvS5: next-frame prediction with a stack of convolutional S5 layers between a ResNet encoder
and decoder (Smith, De Mello, Kautz, Linderman, Byeon 2023, "Convolutional State Space Models for
Long-Range Spatiotemporal Modeling", NeurIPS, arXiv 2310.19694; NVlabs/ConvSSM, models.md §2).

Trained in parallel (every frame convolved at once, one `linear_scan` over time per layer), run
recurrently for generation: the same parameters, the same recurrence (`FrameModel` for the data
flow, the state and the mask rules).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, final

import torch

from dynlearn.models._base import IOShape

from ._frames import FrameConfig, FrameModel
from ._layer import ACTIVATIONS, NormActivation, ResnetCD, SequenceLayer
from ._ssm import ConvS5SSM


@dataclasses.dataclass(frozen=True)
class ConvS5Config(FrameConfig):
    """Hyperparameters of `ConvS5` (those of `FrameConfig`, and the SSM's).

    Attributes:
        ssm_size: N, the real state size per pixel: P = N/2 complex channels (HiPPO-N of size N).
        kernel_b, kernel_c, kernel_d: widths of the B, C and D (or resnet-block) kernels, odd.
        cd_block: ``resnet`` (the reference's Moving-MNIST choice: a two-conv residual block on
            2·Re(C̃ ∗ x), no D term) or ``standard`` (GroupNorm → activation on 2·Re(C̃ ∗ x) + D ∗ u).
        activation: ``gelu`` (tanh approximation, flax's), ``relu``, ``swish`` or ``elu``.
        num_groups: GroupNorm groups in the C/D block (gcd with the channels).
        dt_min, dt_max: range of the log-uniform initial step Δ per state channel.
    """

    ssm_size: int = 32
    kernel_b: int = 3
    kernel_c: int = 3
    kernel_d: int = 3
    cd_block: Literal["resnet", "standard"] = "resnet"
    activation: Literal["gelu", "relu", "swish", "elu"] = "gelu"
    num_groups: int = 32
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def checks(self) -> list[tuple[bool, str]]:
        kernels = (self.kernel_b, self.kernel_c, self.kernel_d)
        return super().checks() + [
            (self.ssm_size >= 2 and self.ssm_size % 2 == 0, "ssm_size must be even and >= 2 (P = ssm_size/2 complex channels)"),
            (all(k >= 1 and k % 2 == 1 for k in kernels), "kernel_b, kernel_c and kernel_d must be odd"),
            (self.cd_block in ("resnet", "standard"), "cd_block must be resnet or standard"),
            (self.activation in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}"),
            (self.num_groups >= 1, "num_groups must be >= 1"),
            (0 < self.dt_min <= self.dt_max, "need 0 < dt_min <= dt_max"),
        ]


@final
class ConvS5(FrameModel):
    """ConvS5 on 1-D or 2-D fields ``(B, T, C, *s)`` with optional forcing ``(B, T, U, *s)``.

    Parameters: the encoder and decoder (``encoder``, ``embed``, ``decoder``) and per layer the SSM
    (``layers.i.core``: Λ as ``lambda_re``/``lambda_im``, ``log_dt``, complex ``B``, ``C`` stored as
    real and imaginary parts, ``D`` when ``standard``), its C/D block and LayerNorm.

    Args:
        io: state ``(C, X)`` or ``(C, H, W)``, forcing ``(U, ...)`` on the same grid.
        config: hyperparameters; `ConvS5Config` defaults when None.
    """

    Config = ConvS5Config

    def __init__(self, io: IOShape | int, config: ConvS5Config | None = None) -> None:
        cfg = ConvS5Config() if config is None else config

        def make_layer(ndim: int, g: torch.Generator) -> SequenceLayer:
            standard = cfg.cd_block == "standard"
            core = ConvS5SSM(cfg.d_model, cfg.ssm_size, ndim, cfg.kernel_b, cfg.kernel_c,
                             cfg.kernel_d if standard else None, cfg.dt_min, cfg.dt_max, cfg.padding, g)
            block = (NormActivation(cfg.d_model, cfg.num_groups, cfg.activation) if standard else
                     ResnetCD(cfg.d_model, cfg.kernel_d, cfg.num_groups, cfg.activation, ndim, cfg.padding, g))
            return SequenceLayer(core, block, cfg.d_model, cfg.use_norm, cfg.prenorm, cfg.dropout)

        super().__init__(io, cfg, make_layer)
