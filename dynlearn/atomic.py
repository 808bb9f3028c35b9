"""Atomic writes: a file or folder appears whole or not at all, never half written.

Every writer goes through a temporary name beside the target and one rename (``os.replace``
for files, ``os.rename`` for folders), atomic on a POSIX file system: a process killed at any
moment leaves the old version or the new one. Runs, checkpoints, metrics, datasheets, NetCDF
files, Zarr stores and the flows all write through here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; the file written there replaces `path` if the block
    succeeds, and is removed if it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`, renamed to `path` if the block succeeds and
    removed if it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def atomic_write_text(text: str, path: str | Path) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(obj: Any, path: str | Path) -> None:
    """Write `obj` as indented, key-sorted JSON atomically."""
    atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """`torch.save` atomically (checkpoints that load with ``weights_only=True``)."""
    import torch

    with atomic_file(path) as tmp:
        torch.save(obj, tmp)
