"""Training: checkpoints load safely, a SIGKILLed run resumes to identical weights, divergence is caught."""

import json
import signal
import time

import numpy as np
import torch

import dynlearn
from dynlearn.cli import main
from tests.helpers import TINY_DATA, TINY_TRAIN, popen_cli, run_cli, tree

# Long enough epochs that a kill lands mid-epoch.
RESUME = [*TINY_DATA, *TINY_TRAIN, "trainer.epochs=5", "trainer.batches_per_epoch=20",
          "trainer.seq_len=40", "trainer.eval_every=2"]


def _only_run(root):
    (run_dir,) = [p for p in (root / "runs").glob("*/*") if p.is_dir()]
    return run_dir


def test_train_writes_a_complete_run_directory(workdir, capsys):
    assert main(["train", *TINY_DATA, *TINY_TRAIN]) == 0
    run_dir = _only_run(workdir)
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "provenance.json", "status.json", "checkpoints", "metrics.json",
            "metrics_table.csv", "attractor.png", "power_spectra.png"} <= names
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    for name in ("best.pt", "last.pt"):
        torch.load(run_dir / "checkpoints" / name, weights_only=True)
    log = (run_dir / "checkpoints" / "train_log.csv").read_text().splitlines()
    assert len(log) == 1 + 4  # header + one row per epoch
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_steps"] == 500 and len(metrics["per_ic"]) == 2
    run = dynlearn.load_run(run_dir)
    assert run.model.rollout(torch.zeros(1, 1, 3), 5).shape == (1, 5, 3)
    # evaluate writes a new folder and leaves what training wrote untouched
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    assert main(["evaluate", f"run={run_dir}", "eval.n_steps=300", "eval.transient=50",
                 "eval.lyap_steps=200", "eval.n_ics=2"]) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before
    (eval_dir,) = run_dir.glob("eval-*")
    rescored = json.loads((eval_dir / "metrics.json").read_text())
    assert rescored["n_steps"] == 300 and rescored["protocol_version"] == 2
    assert rescored["floor_split"] == "floor" and rescored["floor_n_ics"] == rescored["n_ics"] == 2
    assert rescored["test_data"]["cases"] == metrics["test_data"]["cases"]  # the same test ICs


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    killed.mkdir(), clean.mkdir()
    assert run_cli(["generate", *TINY_DATA], killed).returncode == 0  # time the kill on training only
    process = popen_cli(["train", *RESUME], killed)
    deadline = time.monotonic() + 180
    last = None
    while time.monotonic() < deadline:
        metas = list((killed / "runs").glob("*/*/checkpoints/last.json"))
        if metas and json.loads(metas[0].read_text())["epoch"] >= 2:
            last = metas[0]
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert last is not None, process.stderr.read()
    run_dir = last.parent.parent
    epoch_at_kill = json.loads(last.read_text())["epoch"]
    assert epoch_at_kill < 5 and json.loads((run_dir / "status.json").read_text())["state"] == "running"
    resumed = run_cli(["train", *RESUME, f"resume={run_dir}"], killed)
    assert resumed.returncode == 0, resumed.stderr
    fresh = run_cli(["train", *RESUME], clean)
    assert fresh.returncode == 0, fresh.stderr
    a = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(_only_run(clean) / "checkpoints" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 5
    for key in b["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in b["best_model"]:
        assert torch.equal(a["best_model"][key], b["best_model"][key]), key
    rows = (run_dir / "checkpoints" / "train_log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(e) for e in range(1, 6)]


def test_divergence_stops_with_one_line_and_keeps_last_good_checkpoint(workdir, capsys):
    code = main(["train", *TINY_DATA, *TINY_TRAIN, "trainer.lr_start=1e6", "trainer.lr_end=1e6",
                 "trainer.grad_clip=null", "trainer.max_loss=1.0", "trainer.epochs=30"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "diverged" in err, err
    run_dir = _only_run(workdir)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "diverged"
    if (run_dir / "checkpoints" / "last.pt").exists():
        state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_resume_true_finds_the_unfinished_run_and_refuses_others(workdir, capsys):
    assert main(["train", *TINY_DATA, *TINY_TRAIN, "resume=true"]) == 2
    assert "no unfinished run" in capsys.readouterr().err
    assert tree(workdir / "runs") == set()


def test_eval_context_is_the_window_every_free_run_reads_in_validation_and_test(workdir):
    from dynlearn._workflow import validation_judge

    assert main(["train", *TINY_DATA, *TINY_TRAIN, "eval.context=4"]) == 0
    run_dir = _only_run(workdir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_data"]["context"] == 4
    # A re-evaluation judges the run as it was judged (its context), command-line eval keys on top.
    assert main(["evaluate", f"run={run_dir}", "eval.n_steps=400"]) == 0
    (again,) = run_dir.glob("eval-*")
    rescored = json.loads((again / "metrics.json").read_text())
    assert rescored["test_data"]["context"] == 4 and rescored["n_steps"] == 400
    settings = dynlearn.load_settings([*TINY_DATA, *TINY_TRAIN, "eval.context=4"])
    judge = validation_judge(dynlearn.open_store(settings.data_store), settings)
    truths = judge.cases.truths
    assert judge.cases.contexts.shape[1] == 4 and judge.probes.shape[1:] == (4, 3)
    # a probe's context is the 4 true steps before its start inside the case's truth
    n = judge.cases.n_steps
    np.testing.assert_array_equal(judge.probes[0], truths[0, n // 4 - 4:n // 4])
