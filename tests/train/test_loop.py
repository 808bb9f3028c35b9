"""The loop itself: divergence keeps the last good epoch; a mid-epoch stop resumes exactly."""

import pytest
import torch

from dynlearn import TrainingDiverged
from dynlearn.data import GenerationSpec, WindowDataset, generate_store
from dynlearn.models import make_model
from dynlearn.systems import make_system
from dynlearn.train import TrainerConfig, fit, load_checkpoint

CONFIG = TrainerConfig(epochs=5, batches_per_epoch=4, batch_size=4, seq_len=10, eval_every=0, progress=False)
EPOCH = CONFIG.batches_per_epoch


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("loop") / "lorenz.zarr"
    spec = GenerationSpec(n_train=2, n_val=0, n_test=0, n_steps=300, chunk_steps=300, transient_time=2.0)
    generate_store(path, make_system("lorenz63"), spec, config_hash="loop")
    return WindowDataset(path, "train", CONFIG.seq_len + 1)


def _model():
    return make_model("alrnn", 3, latent_dim=8)


def _failing_after(model, n_batches: int, failure):
    """`model` whose loss calls `failure(out)` from batch n_batches + 1 on."""
    loss, calls = model.loss, [0]

    def patched(batch):
        calls[0] += 1
        out = loss(batch)
        return failure(out) if calls[0] > n_batches else out

    model.loss = patched  # an instance attribute: the state_dict keys stay the model's own
    return model


def _nan(out):
    return {**out, "loss": out["loss"] * float("nan")}


def _kill(out):
    raise KeyboardInterrupt  # what a SIGKILL does to the epoch in progress


def test_divergence_raises_and_keeps_the_last_good_epoch(train_data, tmp_path):
    with pytest.raises(TrainingDiverged, match="epoch 3"):
        fit(_failing_after(_model(), 2 * EPOCH + 1, _nan), train_data, None, CONFIG, tmp_path / "diverged")
    kept = load_checkpoint(tmp_path / "diverged" / "last.pt")
    assert kept["epoch"] == 2
    # The kept weights are those after epoch 2 (a run stopped right there has the same), not the
    # half-trained epoch 3.
    with pytest.raises(KeyboardInterrupt):
        fit(_failing_after(_model(), 2 * EPOCH, _kill), train_data, None, CONFIG, tmp_path / "stopped")
    stopped = load_checkpoint(tmp_path / "stopped" / "last.pt")
    assert stopped["epoch"] == 2
    for key, value in stopped["model"].items():
        assert torch.isfinite(value).all() and torch.equal(kept["model"][key], value), key


def test_resume_after_a_mid_epoch_stop_matches_uninterrupted(train_data, tmp_path):
    straight = _model()
    fit(straight, train_data, None, CONFIG, tmp_path / "a", seed=7)
    with pytest.raises(KeyboardInterrupt):
        fit(_failing_after(_model(), 2 * EPOCH + 2, _kill), train_data, None, CONFIG, tmp_path / "b", seed=7)
    resumed = _model()  # a new process rebuilds the model from scratch
    fit(resumed, train_data, None, CONFIG, tmp_path / "b", seed=7, resume=True)
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


@pytest.mark.parametrize("schedule", ["exponential", "cosine", "constant"])
def test_the_configured_schedule_gives_its_closed_form_learning_rates(schedule, train_data, tmp_path):
    import csv
    import dataclasses
    import math

    config = dataclasses.replace(CONFIG, scheduler=schedule, optimizer="adamw", weight_decay=0.01,
                                 lr_start=1e-2, lr_end=1e-4)
    fit(_model(), train_data, None, config, tmp_path)
    with (tmp_path / "train_log.csv").open() as f:
        lrs = [float(row["lr"]) for row in csv.DictReader(f)]
    e, a, b = config.epochs, config.lr_start, config.lr_end
    expected = {"exponential": [a * (b / a) ** (k / e) for k in range(1, e + 1)],
                "cosine": [b + (a - b) * (1 + math.cos(math.pi * k / e)) / 2 for k in range(1, e + 1)],
                "constant": [a] * e}[schedule]
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert lrs[-1] == pytest.approx(a if schedule == "constant" else b, rel=1e-9)
    groups = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]
    assert groups[0]["weight_decay"] == 0.01 and groups[0]["decoupled_weight_decay"] is True  # AdamW


def test_unknown_optimizer_or_schedule_is_a_config_error():
    import dataclasses

    from dynlearn import ConfigError

    with pytest.raises(ConfigError, match="trainer.optimizer 'sgdd'"):
        dataclasses.replace(CONFIG, optimizer="sgdd")
    with pytest.raises(ConfigError, match="trainer.scheduler 'linear'"):
        dataclasses.replace(CONFIG, scheduler="linear")
    with pytest.raises(ConfigError, match="trainer.future_forcing must be observed or climatology"):
        dataclasses.replace(CONFIG, future_forcing="forecast")
    with pytest.raises(ConfigError, match="needs trainer.forecast_context"):
        dataclasses.replace(CONFIG, future_forcing="climatology")
    with pytest.raises(ConfigError, match="trainer.normalization must be channel or cell"):
        dataclasses.replace(CONFIG, normalization="pixel")
