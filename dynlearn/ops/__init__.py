"""Scan ops for sequence models: diagonal linear recurrences, Mamba-1 and Mamba-2 scans.

Each op dispatches on ``backend=`` (None: Triton on CUDA tensors, else the chunked CPU path;
``"ref"``, ``"torch"``, ``"triton"``), has a sequential pure-PyTorch ``*_ref`` twin with the same
signature and a one-step ``*_step`` for recurrent generation. Layout and design: README.md here.
"""

from dynlearn.ops._linear_scan import linear_scan as linear_scan
from dynlearn.ops._linear_scan_ref import linear_scan_ref as linear_scan_ref
from dynlearn.ops._linear_scan_ref import linear_scan_step as linear_scan_step
from dynlearn.ops._selective_scan import selective_scan as selective_scan
from dynlearn.ops._selective_scan_ref import selective_scan_ref as selective_scan_ref
from dynlearn.ops._selective_scan_ref import selective_scan_step as selective_scan_step
from dynlearn.ops._ssd import ssd as ssd
from dynlearn.ops._ssd_ref import ssd_ref as ssd_ref
from dynlearn.ops._ssd_ref import ssd_step as ssd_step

__all__ = [
    "linear_scan",
    "linear_scan_ref",
    "linear_scan_step",
    "selective_scan",
    "selective_scan_ref",
    "selective_scan_step",
    "ssd",
    "ssd_ref",
    "ssd_step",
]
