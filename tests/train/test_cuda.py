"""Training on CUDA end to end: `device=cuda` moves the model, its batches and its judging to the GPU
(the Triton kernels then run), the checkpoints load on a machine without one, and the kept model
free-runs on the GPU as it does on the CPU, to float32 rounding."""

import copy
import json

import numpy as np
import pytest
import torch

from dynlearn import load_run
from dynlearn.cli import main
from dynlearn.data import evaluation_cases, validate
from dynlearn.ops.triton import LAUNCHES

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _tensors(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            yield from _tensors(value)


@pytest.mark.parametrize("model", ["phyxmamba", "alrnn"])
def test_a_run_trained_on_cuda_completes_and_free_runs_as_on_the_cpu(workdir, monkeypatch, model):
    launches = sum(LAUNCHES.values())
    assert main(["train", "+exp=lorenz", f"model={model}", "debug=fast", "device=cuda"]) == 0
    (run_dir,) = (workdir / "runs" / "lorenz63-debug").iterdir()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    if model == "phyxmamba":  # its Mamba2 layers dispatched on CUDA tensors: the kernels ran
        assert sum(LAUNCHES.values()) > launches

    # Plain torch.load, no map_location: what a CPU-only machine does with these files.
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert all(t.device.type == "cpu" for t in (*_tensors(last), *_tensors(best)))
    assert "cuda_rng" in last

    run = load_run(run_dir)
    param = next(run.model.parameters())
    assert param.device.type == "cuda"
    ds = validate(run.data_store)
    cases = evaluation_cases(ds, "test", n_cases=2, n_steps=50, context=run.config["eval"]["context"])
    context = run.normalizer.normalize(torch.from_numpy(cases.contexts.astype(np.float64))).to(param.dtype)
    # Float32 on both sides: TF32 (cuDNN's default for convolutions) would round to 10 bits.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    on_gpu = run.model.rollout(context.cuda(), 50).cpu()
    on_cpu = copy.deepcopy(run.model).cpu().rollout(context, 50)
    assert on_gpu.dtype == on_cpu.dtype == param.dtype
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-4, atol=1e-4)
