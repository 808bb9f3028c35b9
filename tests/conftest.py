"""Shared fixtures: deterministic seeds, float64 numerics, isolated temp dirs, headless plots."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
import torch


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
