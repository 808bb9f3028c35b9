"""SpectralPDE's Jacobian-vector products: central differences of rhs, and adjointness of vjp."""

import pytest
import torch

from dynlearn.systems import KuramotoSivashinsky, NavierStokes2D

pytestmark = pytest.mark.usefixtures("float64")

SYSTEMS = {
    "ks": KuramotoSivashinsky(),
    "ks_dealiased": KuramotoSivashinsky(dealias=True),
    "ns_kolmogorov": NavierStokes2D.kolmogorov(16),
    "ns_fno": NavierStokes2D.fno(n=16),
}


def _smooth_fields(system, n: int, generator: torch.Generator) -> torch.Tensor:
    """Random fields whose Fourier amplitudes decay like a state on the attractor, (n, *shape)."""
    white = torch.randn(n, *system.state_shape, generator=generator)
    modes = system.to_fourier(white)
    return system.to_physical(modes / (1 + system.linear.abs()))


@pytest.mark.parametrize("name", SYSTEMS)
def test_jvp_is_the_central_difference_of_rhs(name, generator):
    """rhs is linear plus quadratic, so the central difference is exact up to rounding."""
    system = SYSTEMS[name]
    x, v = _smooth_fields(system, 3, generator), _smooth_fields(system, 3, generator)
    eps = 1e-4
    difference = (system.rhs(0.0, x + eps * v) - system.rhs(0.0, x - eps * v)) / (2 * eps)
    jvp = system.jvp(x, v)
    assert jvp.shape == x.shape
    relative = (jvp - difference).norm() / difference.norm()
    assert relative < 1e-7, relative


@pytest.mark.parametrize("name", SYSTEMS)
def test_vjp_is_the_adjoint_of_jvp(name, generator):
    """⟨vjp(x, w), v⟩ = ⟨w, jvp(x, v)⟩ for each batch member."""
    system = SYSTEMS[name]
    x, v, w = (_smooth_fields(system, 3, generator) for _ in range(3))
    dims = tuple(range(1, x.ndim))
    jv = system.jvp(x, v)
    left = (system.vjp(x, w) * v).sum(dims)
    right = (w * jv).sum(dims)
    scale = w.flatten(1).norm(dim=1) * jv.flatten(1).norm(dim=1)
    assert ((left - right).abs() / scale).max() < 1e-10
