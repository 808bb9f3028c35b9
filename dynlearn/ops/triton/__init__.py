"""Triton kernels for the scan ops. Nothing here imports Triton at package import time.

Kernel modules import `triton` at their top and are imported lazily by the public ops, only
once `dynlearn.ops._backend.resolve_backend` has chosen ``"triton"``.
"""

from collections import Counter

# Kernel launches by kernel name, so tests can assert that a Triton kernel really ran (the
# interpreter gives no other sign). Every launch site increments it.
LAUNCHES: Counter[str] = Counter()
