"""The model registry, and the `AbstractModel` contract for every registered family."""

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.models import AbstractModel, IOShape, list_models, make_model, model_family


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown model 'nope'.*alrnn"):
        make_model("nope", 3)


def test_unknown_option_lists_valid_options():
    with pytest.raises(ConfigError, match="latent_dims.*valid: .*latent_dim"):
        make_model("alrnn", 3, latent_dims=10)


# What each layout reads in the contract test: a 3-D vector, or one channel on a 4 x 5 grid with 2
# forcings (without them for the autonomous field families, which learn no river grid).
SHAPES = {"vector": IOShape((3,)), "field": IOShape((1, 4, 5), (2, 4, 5)), "autonomous field": IOShape((1, 4, 5))}
# Options a family needs from its data to train: Φ-ROM's latent memory covers the 9-step windows
# below; without a store's equations, its data-only (DINo-style) variant.
OPTIONS = {"phirom": {"n_times": 9, "physics_weight": 0.0}}


@pytest.mark.parametrize("name", list_models())
def test_contract(name, generator):
    family = model_family(name)
    io = SHAPES["autonomous field" if family.layout == "field" and "grid" not in family.kinds else family.layout]
    model = make_model(name, io, **OPTIONS.get(name, {}))
    assert isinstance(model, AbstractModel)
    x = torch.randn(2, 9, *io.state, generator=generator)
    u = torch.randn(2, 9, *io.forcing, generator=generator)
    out = model.loss({"x": x, "u": u, "index": torch.zeros(2, 2, dtype=torch.int64)})
    assert "loss" in out and all(v.ndim == 0 for v in out.values())
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    state = model.initial_state(x[:, :4], u[:, :4])
    assert model.step(state, u[:, 4]).shape == state.shape
    assert model.observe(state).shape == (2, *io.state)
    assert model.rollout(x[:, :4], 5, u).shape == (2, 5, *io.state)
