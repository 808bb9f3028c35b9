"""Checkpoints load with ``torch.load(weights_only=True)``; they are written by `dynlearn.atomic`."""

from __future__ import annotations

from pathlib import Path

import torch


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint safely (no arbitrary pickles)."""
    return torch.load(path, map_location="cpu", weights_only=True)
