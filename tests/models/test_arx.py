"""ARX on a driven grid: the one-step loss over river cells, the recursion, NaN kept off the river."""

import math

import pytest
import torch

from dynlearn import ConfigError
from dynlearn.models import ARX, IOShape

IO = IOShape((1, 3, 4), (2, 3, 4))


def _model(generator):
    model = ARX(IO).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
    return model


def test_loss_is_the_mean_square_one_step_error_over_river_cells(generator):
    model = _model(generator)
    x = torch.randn(2, 6, *IO.state, generator=generator, dtype=torch.float64)
    x[:, :, 0, 0, 0] = math.nan  # a cell off the river
    u = 10 * torch.rand(2, 6, *IO.forcing, generator=generator, dtype=torch.float64)
    errors = []
    for b in range(2):
        for t in range(5):
            for i in range(3):
                for j in range(4):
                    if (i, j) == (0, 0):
                        continue
                    drive = sum(model.b[k, i, j] * u[b, t + 1, k, i, j] / 10 for k in range(2))
                    errors.append(model.a[i, j] * x[b, t, 0, i, j] + drive + model.e[i, j] - x[b, t + 1, 0, i, j])
    expected = torch.stack(errors).pow(2).mean()
    torch.testing.assert_close(model.loss({"x": x, "u": u})["loss"], expected, rtol=1e-13, atol=0)


def test_rollout_is_the_recursion_and_keeps_nan_off_the_river(generator):
    model = _model(generator)
    x = torch.randn(1, 2, *IO.state, generator=generator, dtype=torch.float64)
    x[:, :, 0, 2, 3] = math.nan
    u = torch.rand(1, 2 + 4, *IO.forcing, generator=generator, dtype=torch.float64)
    out = model.rollout(x, 4, u)
    q = x[0, -1, 0]
    for t in range(4):
        q = model.a * q + (model.b * u[0, 2 + t] / 10).sum(0) + model.e
        torch.testing.assert_close(out[0, t, 0], q, rtol=1e-14, atol=0, equal_nan=True)
    assert torch.isnan(out[0, :, 0, 2, 3]).all() and torch.isfinite(out[0, :, 0, :2]).all()


def test_a_vector_shape_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="ARX reads one field channel"):
        ARX(3)


def test_an_untrained_arx_is_persistence(generator):
    # Training starts from the baseline the model must beat: a = 1, b = e = 0.
    model = ARX(IO).double()
    x = torch.randn(1, 3, *IO.state, generator=generator, dtype=torch.float64)
    x[:, :, 0, 1, 2] = math.nan
    u = 10 * torch.rand(1, 3 + 5, *IO.forcing, generator=generator, dtype=torch.float64)
    out = model.rollout(x, 5, u)
    torch.testing.assert_close(out[0], x[0, -1:].expand(5, *IO.state), rtol=0, atol=0, equal_nan=True)
