"""Checkpoints that load with ``torch.load(weights_only=True)`` and are written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch


def atomic_torch_save(obj: Any, path: Path) -> None:
    """`torch.save` through a temporary file and `os.replace`: a kill leaves old or new, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(text: str, path: Path) -> None:
    """Write a text file through a temporary file and `os.replace`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_write_json(obj: Any, path: Path) -> None:
    atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint safely (no arbitrary pickles)."""
    return torch.load(path, map_location="cpu", weights_only=True)
