"""ConvLSTM: the gate equations by hand for a 1×1 kernel, the parameter count against ConvS5's at
every config size, and learning a one-cell advection. The frame tests (parallel = recurrent,
rollout = step, masks, free run, tangent, seeding) run for both families in test_convs5.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dynlearn.models import IOShape
from dynlearn.models.convlstm import ConvLSTM, ConvLSTMCell, ConvLSTMConfig
from dynlearn.models.convs5 import ConvS5, ConvS5Config
from tests.models.test_convs5 import advection_error, one_thread  # noqa: F401 (one_thread: autouse fixture)

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


def test_cell_is_the_lstm_gate_equations_on_one_pixel(float64, generator):
    U = 3
    cell = ConvLSTMCell(U, 1, 2, "zeros", generator)
    with torch.no_grad():
        cell.gates.bias.copy_(torch.randn(4 * U, generator=generator))
    W, b = cell.gates.weight[:, :, 0, 0], cell.gates.bias  # (4U, 2U): rows i, f, o, g; columns u, h
    u, c, h = (torch.randn(U, generator=generator) for _ in range(3))
    z = {name: W[k * U:(k + 1) * U, :U] @ u + W[k * U:(k + 1) * U, U:] @ h + b[k * U:(k + 1) * U]
         for k, name in enumerate("ifog")}
    c_new = torch.sigmoid(z["f"]) * c + torch.sigmoid(z["i"]) * torch.tanh(z["g"])
    h_new = torch.sigmoid(z["o"]) * torch.tanh(c_new)
    out, state = cell.step(u.view(1, U, 1, 1), torch.cat([c, h]).view(1, 2 * U, 1, 1))
    torch.testing.assert_close(out.flatten(), h_new, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(state.flatten(), torch.cat([c_new, h_new]), rtol=1e-14, atol=1e-15)


def _options(family: str, size: str) -> dict:
    """The model options of conf/model/<family>.yaml at a model size (cpu: the defaults)."""
    options = yaml.safe_load((CONF / f"{family}.yaml").read_text())
    blocks = {"small": options.pop("small"), "gpu": options.pop("gpu"), "cpu": {}}
    del options["name"]
    return options | {"seed": 0} | blocks[size]


LINE, GRID = IOShape((1, 64), (0, 64)), IOShape((1, 16, 16), (2, 16, 16))


# The paper size on a grid (22 M parameters) takes seconds to build; on a line it has the same layers
# with 3-wide instead of 3×3 kernels.
@pytest.mark.parametrize("io, size", [(LINE, "cpu"), (LINE, "small"), (LINE, "gpu"), (GRID, "cpu"), (GRID, "small")])
def test_parameter_count_is_within_ten_percent_of_convs5(io, size):
    count = {}
    for name, family, config in (("convs5", ConvS5, ConvS5Config), ("convlstm", ConvLSTM, ConvLSTMConfig)):
        model = family(io, config(**_options(name, size)))
        count[name] = sum(p.numel() for p in model.parameters())
    assert abs(count["convlstm"] / count["convs5"] - 1) < 0.1, count


def test_convlstm_learns_a_one_cell_advection():
    io = IOShape((1, 32), (0, 32))
    model = ConvLSTM(io, ConvLSTMConfig(depths=(8,), d_model=8, n_layers=1, padding="circular"))
    assert advection_error(model) < 0.05
