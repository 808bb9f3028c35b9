"""Sequence layers built on the scan ops of `dynlearn.ops`."""

from dynlearn.layers._hippo import hippo_legs as hippo_legs
from dynlearn.layers._hippo import hippo_n as hippo_n
from dynlearn.layers._hippo import hippo_normal as hippo_normal
from dynlearn.layers._mamba2 import Mamba2 as Mamba2
from dynlearn.layers._mlp import ACTIVATIONS as ACTIVATIONS
from dynlearn.layers._mlp import mlp as mlp
from dynlearn.layers._s5 import S5 as S5

__all__ = ["ACTIVATIONS", "Mamba2", "S5", "hippo_legs", "hippo_n", "hippo_normal", "mlp"]
