"""The multilayer perceptron the vector-field, encoder and drift networks of the families share."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus, "gelu": nn.GELU, "silu": nn.SiLU,
               "elu": nn.ELU}


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with `activation` between them
    (none after the last); ``[a, b]`` is one linear map.

    Raises:
        KeyError: an activation not in `ACTIVATIONS` (families check their configs first).
    """
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
