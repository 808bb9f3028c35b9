"""The ConvLSTM baseline of ConvS5: the same encoder, decoder, training and state as `ConvS5`
(`dynlearn.models.convs5.FrameModel`) around a stack of ConvLSTM cells (Shi et al. 2015, NeurIPS,
arXiv 1506.04214), as in ConvSSM's Moving-MNIST comparison (NVlabs/ConvSSM
``sequence_models/noVQ/convLSTM.py``).

A ConvLSTM layer holds 8·U²·k^d kernel weights, a ConvS5 layer (ssm_size = d_model, ``resnet``
block) 4·U²·k^d, so the default stacks half as many layers as ConvS5's: the parameter counts agree
within a few per cent at every size (tests/models/test_convlstm.py).
"""

from __future__ import annotations

import dataclasses
from typing import final

import torch

from dynlearn.models._base import IOShape
from dynlearn.models.convs5 import FrameConfig, FrameModel, SequenceLayer

from ._cell import ConvLSTMCell


@dataclasses.dataclass(frozen=True)
class ConvLSTMConfig(FrameConfig):
    """Hyperparameters of `ConvLSTM` (those of `FrameConfig`, and the cell's).

    Attributes:
        n_layers: ConvLSTM layers (half of ConvS5's, for the same parameter count).
        kernel_size: k of the gate convolution, odd (the reference's 3).
    """

    n_layers: int = 2
    kernel_size: int = 3

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [(self.kernel_size >= 1 and self.kernel_size % 2 == 1, "kernel_size must be odd")]


@final
class ConvLSTM(FrameModel):
    """ConvLSTM on 1-D or 2-D fields ``(B, T, C, *s)`` with optional forcing ``(B, T, U, *s)``.

    Each layer: h from the cell, added to the layer's input, then a channel LayerNorm (the
    reference's SequenceLayer, no activation). Parameters: ``encoder``, ``embed``, ``decoder``,
    ``layers.i.core.gates`` and the LayerNorms.

    Args:
        io: state ``(C, X)`` or ``(C, H, W)``, forcing ``(U, ...)`` on the same grid.
        config: hyperparameters; `ConvLSTMConfig` defaults when None.
    """

    Config = ConvLSTMConfig

    def __init__(self, io: IOShape | int, config: ConvLSTMConfig | None = None) -> None:
        cfg = ConvLSTMConfig() if config is None else config

        def make_layer(ndim: int, g: torch.Generator) -> SequenceLayer:
            core = ConvLSTMCell(cfg.d_model, cfg.kernel_size, ndim, cfg.padding, g)
            return SequenceLayer(core, None, cfg.d_model, cfg.use_norm, cfg.prenorm, cfg.dropout)

        super().__init__(io, cfg, make_layer)
