"""The model registry, and the `AbstractModel` contract for every registered family."""

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.models import AbstractModel, list_models, make_model


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown model 'nope'.*alrnn"):
        make_model("nope", 3)


def test_unknown_option_lists_valid_options():
    with pytest.raises(ConfigError, match="latent_dims.*valid: .*latent_dim"):
        make_model("alrnn", 3, latent_dims=10)


@pytest.mark.parametrize("name", list_models())
def test_contract(name, generator):
    model = make_model(name, 3)
    assert isinstance(model, AbstractModel)
    x = torch.randn(2, 9, 3, generator=generator)
    out = model.loss({"x": x})
    assert "loss" in out and all(v.ndim == 0 for v in out.values())
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    state = model.initial_state(x[:, :4])
    assert model.step(state).shape == state.shape
    assert model.observe(state).shape == (2, 3)
    assert model.rollout(x[:, :4], 5).shape == (2, 5, 3)
