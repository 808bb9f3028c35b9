"""Shared fixtures: deterministic seeds, float64 numerics, isolated temp dirs, headless plots."""

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
import torch

# Triton reads this when its kernels are decorated, so it must be set before they are imported;
# without a GPU the kernels run (slowly) in Triton's interpreter.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh working folder, the repository's configs: a user's first command."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(Path(__file__).resolve().parents[1] / "conf"))
    return tmp_path


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded torch generator; tests pass it explicitly instead of reseeding globals."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(1234)


@pytest.fixture
def float64():
    """Run the test with float64 as torch's default dtype (numerics tests)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield
