"""PhyxMamba: causal delay embedding, patches, the automatic (m, tau), the residual Mamba-2 stack
against its recurrence, MMD, multi-token targets, rollout == repeated step, the training stages,
and debug=fast through train -> evaluate -> rollout with the short-forecast protocol."""

import dataclasses
import json

import numpy as np
import pytest
import torch

import dynlearn
from dynlearn import ConfigError, DataError
from dynlearn.models import DataFacts, PhyxMamba, PhyxMambaConfig, make_model
from dynlearn.models.phyxmamba import causal_delay_embed, choose_delays, mmd, patchify, unpatchify
from dynlearn.models.phyxmamba._model import shifted_targets
from dynlearn.solvers import make_step, rollout
from dynlearn.systems import make_system
from tests.helpers import REPO

TINY = dict(m=2, tau=3, context=12, patch=4, d_model=16, d_state=8, headdim=8, n_layers=2, mtp_steps=2,
            dropout=0.0, rollout_steps=8)


def test_delay_embedding_is_causal_and_its_first_coordinate_is_the_input(generator):
    x = torch.randn(2, 20, 3, generator=generator, dtype=torch.float64)
    out = causal_delay_embed(x, 4, 3)  # (B, T, V, m)
    assert out.shape == (2, 20, 3, 4)
    torch.testing.assert_close(out[..., 0], x, rtol=0, atol=0)
    for t in range(20):
        for k in range(4):
            expected = x[:, t - 3 * k] if t - 3 * k >= 0 else torch.zeros(2, 3, dtype=x.dtype)
            torch.testing.assert_close(out[:, t, :, k], expected, rtol=0, atol=0)
    # Nothing after t reaches step t.
    y = x.clone()
    y[:, 11:] += 1.0
    torch.testing.assert_close(causal_delay_embed(y, 4, 3)[:, :11], out[:, :11], rtol=0, atol=0)
    assert (causal_delay_embed(y, 4, 3)[:, 11] != out[:, 11]).any()


def test_patching_round_trips_and_keeps_steps_in_order():
    x = torch.arange(2 * 12 * 3, dtype=torch.float64).reshape(2, 12, 3)
    tokens = patchify(x, 4)
    assert tokens.shape == (2, 3, 12)
    torch.testing.assert_close(tokens[1, 2], x[1, 8:12].reshape(-1))  # token s holds steps 4s..4s+3
    torch.testing.assert_close(unpatchify(tokens, 4), x, rtol=0, atol=0)
    with pytest.raises(ValueError, match="does not split"):
        patchify(x[:, :11], 4)


def test_automatic_delays_recover_known_values():
    # A sine of ~41.2 steps per period (no exact repeats): a quarter period, and a closed curve (m = 2).
    period = 10 * np.sqrt(17)
    phase = 2 * np.pi * np.arange(2000) / period
    m, tau = choose_delays(np.sin(phase))
    assert abs(tau - period / 4) <= 1 and abs(m - 2) <= 1
    # Lorenz-63 x at 30 points per Lyapunov time: the paper's (m, tau) = (3, 7) (README commands).
    step = make_step(make_system("lorenz63"), 1.1055281937 / 30)
    with torch.no_grad():
        states = rollout(step, torch.tensor([[1.0, 1.0, 20.0]], dtype=torch.float64), 2000, n_transient=300)
    m, tau = choose_delays(states[0, :, 0].numpy())
    assert abs(m - 3) <= 1 and abs(tau - 7) <= 1, (m, tau)


def test_residual_stack_scan_equals_its_step_recurrence(generator):
    """The parallel (chunked SSD) forward of the residual stack equals running every Mamba-2 block
    token by token through `ssd_step`, with the same residual updates."""
    with torch.random.fork_rng(devices=[]):
        torch.set_default_dtype(torch.float64)
        try:
            model = PhyxMamba(3, PhyxMambaConfig(**{**TINY, "chunk_size": 2}))
        finally:
            torch.set_default_dtype(torch.float32)
    e = torch.randn(2, 5, 16, generator=generator, dtype=torch.float64)  # 5 tokens: ragged chunks
    stack = model.backbone
    states = [block.allocate_state(2) for block in stack.blocks]
    for t in range(5):
        residual, out = e[:, t], torch.zeros(2, 16, dtype=torch.float64)
        for i, block in enumerate(stack.blocks):
            h, states[i] = block.step(residual, states[i])
            residual = residual - stack.explained(h)
            out = out + h
        torch.testing.assert_close(stack(e)[:, t], out, rtol=1e-12, atol=1e-12)


def test_mmd_is_zero_for_identical_batches_and_grows_with_a_shift(generator):
    x = torch.randn(7, 64, 3, generator=generator, dtype=torch.float64)  # 7 time steps, 64 samples
    assert torch.equal(mmd(x, x), torch.zeros(7, dtype=torch.float64))
    values = [mmd(x, x + shift).mean().item() for shift in (0.05, 0.2, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    # One sample each: 2 Σ_σ (1 - σ² / (σ² + d²)) in closed form.
    a, b = torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[0.3, 0.4]], dtype=torch.float64)  # d = 0.5
    expected = 2 * sum(1 - s * s / (s * s + 0.25) for s in (0.2, 0.5, 0.9, 1.3))
    assert mmd(a, b).item() == pytest.approx(expected, rel=1e-12)


def test_multi_token_targets_are_the_right_shifts():
    window = torch.arange(16, dtype=torch.float64).reshape(1, 16, 1)  # L = 12, P = 4: 3 tokens
    for depth in range(3):
        target = shifted_targets(window, 12, 4, depth)
        assert target.shape == (1, (3 - depth) * 4, 1)
        for s in range(3 - depth):  # token s of depth k: the patch k + 1 ahead, steps (s+k+1)P ..
            first = (s + depth + 1) * 4
            assert target[0, 4 * s:4 * s + 4, 0].tolist() == list(range(first, first + 4))


def test_next_patch_and_mtp_losses_score_the_shifted_targets(generator):
    model = PhyxMamba(3, PhyxMambaConfig(**TINY)).double()
    x = torch.randn(4, 17, 3, generator=generator, dtype=torch.float64)
    out = model.loss({"x": x})
    e = model.tokens(x[:, :12])
    h0 = model.backbone(e)
    main = (unpatchify(model.head(h0), 4) - x[:, 4:16]).pow(2).mean()
    h1 = model.mtp[0](h0[:, :-1], e[:, 1:])
    h2 = model.mtp[1](h1[:, :-1], e[:, 2:])
    depths = [(unpatchify(model.head(h), 4) - x[:, 4 * (k + 1):16]).pow(2).mean() for k, h in ((1, h1), (2, h2))]
    torch.testing.assert_close(out["next_patch"], main.detach())
    torch.testing.assert_close(out["mtp"], torch.stack(depths).mean().detach())
    torch.testing.assert_close(out["loss"], main + 0.1 * torch.stack(depths).mean())


def test_rollout_equals_repeated_step_and_short_contexts_repeat_their_first_observation(generator):
    model = PhyxMamba(3, PhyxMambaConfig(**TINY)).double().eval()
    context = torch.randn(2, 15, 3, generator=generator, dtype=torch.float64)
    generated = model.rollout(context, 11)
    state, steps = model.initial_state(context), []
    for _ in range(11):
        state = model.step(state)
        steps.append(model.observe(state))
    torch.testing.assert_close(torch.stack(steps, dim=1), generated, rtol=0, atol=0)
    torch.testing.assert_close(model.observe(model.initial_state(context)), context[:, -1], rtol=0, atol=0)
    short = context[:, -5:]
    padded = torch.cat([short[:, :1].expand(-1, 7, -1), short], dim=1)
    torch.testing.assert_close(model.rollout(short, 6), model.rollout(padded, 6), rtol=0, atol=0)


def test_stages_follow_the_epoch(generator):
    model = PhyxMamba(3, PhyxMambaConfig(**TINY, stage1_fraction=0.5, probe_fraction=0.1))
    x = torch.randn(8, 21, 3, generator=generator)
    seen = []
    for epoch in range(10):
        model.begin_epoch(epoch, 10)
        seen.append(model.stage)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        if model.stage == "probe":
            assert trainable == {"head.weight", "head.bias"}
        else:
            assert len(trainable) == len(list(model.parameters()))
    assert seen == ["next_patch"] * 5 + ["probe"] + ["rollout"] * 4
    out = model.loss({"x": x})  # stage 2: free-rollout MSE + λ_u MMD_u + λ_c MMD_c
    torch.testing.assert_close(out["loss"].detach(), out["rollout"] + out["mmd_u"] + 1000 * out["mmd_c"])
    assert torch.isnan(out["next_patch"]) and out["mmd_c"] > 0


def test_unset_delays_and_bad_options_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="m and tau are null"):
        PhyxMamba(3, PhyxMambaConfig(m=None))
    with pytest.raises(ConfigError, match="context must be a positive multiple of patch"):
        PhyxMambaConfig(context=30, patch=7)
    assert PhyxMamba.resolve_options({"m": None, "tau": None}, None) == {"m": 3, "tau": 7}
    sine = DataFacts(series=lambda: np.sin(np.arange(1500) / 6.5))  # 41 steps per period: a quarter is 10
    assert PhyxMamba.resolve_options({"m": 4, "tau": None, "context": 40}, sine) == {"m": 4, "tau": 10, "context": 40}
    # in the default 30-step context, 3 delays of 10 would reach its first step: the data's τ is capped
    assert PhyxMamba.resolve_options({"m": 4, "tau": None}, sine) == {"m": 4, "tau": 9}
    with pytest.raises(ConfigError, match="shorter than the context"):
        PhyxMambaConfig(m=5, tau=17, context=30)
    with pytest.raises(DataError, match="give model.m and model.tau"):  # no first minimum of the MI
        PhyxMamba.resolve_options({"m": None, "tau": None}, DataFacts(series=lambda: np.linspace(0, 1, 600)[:, None] ** 2))


def test_debug_fast_trains_evaluates_and_rolls_out_with_its_own_protocol(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    settings = dynlearn.load_settings(["+exp=lorenz_phyx", "debug=fast", "eval.short_cases=6"])
    run_dir = dynlearn.train(settings)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    short = metrics["short_forecast"]
    assert short["context"] == 30 and short["horizon"] == 300 and short["n_cases"] == 6
    assert short["points_per_lyapunov_time"] == pytest.approx(30, rel=1e-6)
    assert 0 <= short["vpt_smape"] <= 10 and 0 <= short["vpt_nrmse"] <= 10
    # Counted in another Lyapunov time (a paper's unit), the same forecasts cross at the same steps.
    spec = dataclasses.replace(settings.eval, short_cases=6, short_lyapunov_time=2.0)
    again = json.loads((dynlearn.evaluate_run(run_dir, spec) / "metrics.json").read_text())["short_forecast"]
    scale = metrics["lyapunov_time"] / 2.0
    assert again["points_per_lyapunov_time"] == pytest.approx(2.0 / metrics["dt"])
    np.testing.assert_allclose(again["per_case_vpt_smape"], np.array(short["per_case_vpt_smape"]) * scale)
    assert metrics["lyap_max_available"] is False
    log = (run_dir / "checkpoints" / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,loss,next_patch,mtp,rollout,mmd_u,mmd_c")
    run = dynlearn.load_run(run_dir)
    assert isinstance(run.model, PhyxMamba) and (run.model.config.m, run.model.config.tau) == (3, 7)
    context = torch.zeros(1, 30, 3, dtype=next(run.model.parameters()).dtype)
    assert torch.isfinite(run.model.rollout(context, 50)).all()


@pytest.mark.slow  # tests/train/test_every_family.py trains +exp=lorenz model=phyxmamba (delays null) in make test
def test_delays_left_null_are_chosen_from_the_training_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    settings = dynlearn.load_settings(["+exp=lorenz", "model=phyxmamba", "debug=fast", "trainer.epochs=1",
                                       "eval.n_steps=200", "eval.transient=10"])
    assert settings.model_options["m"] is None
    run_dir = dynlearn.train(settings)
    options = json.loads((run_dir / "checkpoints" / "best.json").read_text())["model_options"]
    assert isinstance(options["m"], int) and isinstance(options["tau"], int)
    assert make_model("phyxmamba", 3, **options).config.m == options["m"]
