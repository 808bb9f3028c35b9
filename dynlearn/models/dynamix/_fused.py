"""DynaMix's free run as one fused CPU kernel (a C++ extension built on first use), and its PyTorch twin.

A free run steps z -> z' sequentially; in PyTorch every step is ~20 small ops whose dispatch
(~0.2 ms) dwarfs their arithmetic. `csrc/dynamix_rollout_cpu.cpp` runs all steps of a batch row in
one C++ loop (rows in parallel with `at::parallel_for`, buffers allocated once per call).
`rollout_cpu` calls it; `rollout_ref` is the same run as a plain PyTorch loop, in the operations
of `DynaMix.step` (`gate_weights`, `mix_experts`), so the two can be compared and the model can
fall back on it. Both take the gating noise ε of every step pre-drawn, so they consume no
randomness and agree to rounding.

The extension is compiled by `torch.utils.cpp_extension.load` (g++ and ninja) into torch's
extension cache (``TORCH_EXTENSIONS_DIR`` if set, else ``~/.cache/torch_extensions``); `status`
says why it is unavailable when it cannot build. ``python -m dynlearn.models.dynamix._fused
--build`` builds it ahead of time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

from torch import Tensor

from dynlearn._cpp_extension import build_command, load_extension, why_not_built
from dynlearn.models.dynamix._experts import experts_flat, mix_experts
from dynlearn.models.dynamix._gating import gate_weights

SOURCE = Path(__file__).parent / "csrc" / "dynamix_rollout_cpu.cpp"


@functools.cache
def _load() -> ModuleType:
    """Compile (or load from the cache) and import the extension; raises if it cannot."""
    return load_extension("dynlearn_dynamix_rollout_cpu", SOURCE)


@functools.cache
def status() -> str | None:
    """None when the fused kernel is loaded (building it if needed), else why not (one line)."""
    return why_not_built(_load, "DynaMix rollout", "the PyTorch loop")


def rollout_cpu(z0: Tensor, keys: Tensor, values: Tensor, noise: Tensor, A: Tensor, W: Tensor, h: Tensor,
                floor: Tensor, D: Tensor, sigma: Tensor, tau_attention: Tensor | float, tau_gate: Tensor | float,
                mlp1: Tensor, mlp2: Tensor) -> Tensor:
    """The free run on the fused kernel (no autograd); arguments and result as `rollout_ref`
    (CPU tensors of one dtype, float32 or float64: `dynlearn._cpp_extension.takes`)."""
    tensors = [t.detach().contiguous() for t in (z0, keys, values, noise, A, W, h, floor, D, sigma)]
    return _load().rollout(*tensors, float(tau_attention), float(tau_gate),
                           mlp1.detach().contiguous(), mlp2.detach().contiguous())


def rollout_ref(z0: Tensor, keys: Tensor, values: Tensor, noise: Tensor, A: Tensor, W: Tensor, h: Tensor,
                floor: Tensor, D: Tensor, sigma: Tensor, tau_attention: Tensor | float, tau_gate: Tensor | float,
                mlp1: Tensor, mlp2: Tensor) -> Tensor:
    """DynaMix's free run as a PyTorch loop, step by step as `DynaMix.step` computes it but with ε given.

    Args:
        z0: initial latent states (B, M).
        keys, values: the gate's features of the context (B, T, N) (`ContextGate.features`).
        noise: ε of every step (S, B, N), S = the number of steps.
        A, h: the experts' diagonals and biases (J, M); W: their matrices (J, M, M).
        floor: Φ*'s floor (M,): −inf on linear units, 0 on piecewise-linear ones.
        D: the gate's read-out (N, M); sigma: its noise scale (N,).
        tau_attention, tau_gate: τ₁ and τ₂ (their absolute values are used).
        mlp1: the gate MLP's first layer (J, N + M); mlp2: its second (J, J).

    Returns:
        The first N latent units after each step, (B, S, N).
    """
    a, wt, hf = experts_flat(A, W, h)
    z = z0
    out = z0.new_empty(z0.shape[0], noise.shape[0], keys.shape[-1])
    for t in range(noise.shape[0]):
        weights = gate_weights(z, keys, values, noise[t], D, sigma, tau_attention, tau_gate, mlp1, mlp2)
        z = mix_experts(z, weights, a, wt, hf, floor)
        out[:, t] = z[:, :keys.shape[-1]]
    return out



if __name__ == "__main__":
    build_command(status, "DynaMix rollout")
