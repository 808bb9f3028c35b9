"""The training loop for any model family: sampled windows, the configured optimizer and
per-epoch schedule, a log of whatever the model's loss returns, safe checkpoints, resume.

Every epoch ends with an atomic checkpoint that holds everything needed to continue bit for
bit (model, optimizer, scheduler, the torch (CPU and, on a GPU, CUDA) and NumPy RNG states, the
best model so far and its score), so a run killed at any moment and resumed ends with the same
weights as one that was never interrupted. The model trains where its parameters are; batches
follow them, and checkpoints hold CPU tensors, so a run trained on a GPU loads anywhere.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._errors import TrainingDiverged
from ..atomic import atomic_torch_save, atomic_write_json
from ..data import WindowDataset
from ..models import AbstractModel
from ._checkpoint import load_checkpoint
from ._config import TrainerConfig
from ._device import fork_rng, model_device
from ._optim import make_optimizer, make_scheduler
from ._field_judge import FieldJudge
from ._scoring import Judge

@dataclass(frozen=True)
class TrainResult:
    """What `fit` ends with.

    Attributes:
        epochs_done: epochs completed (== config epochs unless stopped by the wall-time limit).
        stopped_early: True when the wall-time limit ended training.
        best_score: the kept model's validation key (`FreeRunScore.key`: failed free runs,
            pooled D_stsp, pooled D_H; `FieldScore.key` on 2-D fields), if scored.
        best_epoch: the epoch of the kept model.
    """

    epochs_done: int
    stopped_early: bool
    best_score: tuple[float, ...] | None
    best_epoch: int


def fit(
    model: AbstractModel,
    train_data: WindowDataset,
    validation: Judge | FieldJudge | None,
    config: TrainerConfig,
    checkpoint_dir: Path,
    *,
    seed: int = 0,
    resume: bool = False,
    metadata: dict | None = None,
) -> TrainResult:
    """Train `model`, writing ``last.pt``, ``best.pt`` (+ JSON metadata) and ``train_log.csv``.

    Args:
        model: any `AbstractModel`, on the device and in the dtype to train in (CPU or CUDA).
        train_data: training windows (length seq_len + 1).
        validation: judges free runs from validation cases every `config.eval_every` epochs;
            the model kept is the one with the smallest score key (`Judge`: the fewest
            collapsed or diverged runs, then the lowest pooled D_stsp, then D_H; `FieldJudge`:
            the fewest failed runs, then the relative L2) (None: keep the last model).
        config: trainer settings.
        checkpoint_dir: where checkpoints and the log go (created if missing).
        seed: seeds window sampling (NumPy) and the torch RNGs (noise, dropout), CUDA's included.
        resume: continue from ``checkpoint_dir/last.pt``.
        metadata: JSON-able facts stored beside each checkpoint (model family and config, ...).

    Returns:
        A `TrainResult`.

    Raises:
        TrainingDiverged: NaN/Inf or a loss above `config.max_loss`; ``last.pt`` then still holds
            the last good epoch.
    """
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    optimizer = make_optimizer(model.parameters(), config)
    # The torch RNG (input noise, dropout) is seeded inside a fork, so the caller's global state
    # is left as it was, and its state is checkpointed for an exact resume.
    with fork_rng(model_device(model)):
        torch.manual_seed(seed)
        job = _Job(model, optimizer, make_scheduler(optimizer, config), train_data, validation, config,
                   checkpoint_dir, np.random.default_rng(seed), metadata or {})
        return _fit(job, resume=resume)


@dataclass
class _Job:
    """Everything one training run works with (what `fit` was given, and built from it)."""

    model: AbstractModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    data: WindowDataset
    validation: Judge | FieldJudge | None
    config: TrainerConfig
    checkpoint_dir: Path
    rng: np.random.Generator  # window sampling
    metadata: dict = field(default_factory=dict)


def _fit(job: _Job, *, resume: bool) -> TrainResult:
    model, optimizer, config, checkpoint_dir = job.model, job.optimizer, job.config, job.checkpoint_dir
    validation = job.validation
    state = _TrainingState(best_model=None, best_score=None, best_epoch=0, epoch=0)
    if resume and (checkpoint_dir / "last.pt").exists():  # killed before its first epoch: start over
        state = _restore(checkpoint_dir / "last.pt", job)
    log = _CsvLog(checkpoint_dir / "train_log.csv", keep_through_epoch=state.epoch,
                  validation_fields=validation.fields if validation is not None else Judge.fields)
    started = time.monotonic()
    epochs = range(state.epoch, config.epochs)
    if config.progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc="train", unit="epoch", initial=state.epoch, total=config.epochs,
                      dynamic_ncols=True)
    stopped = False
    for epoch in epochs:
        t0 = time.monotonic()
        sums = _run_epoch(job, epoch)
        job.scheduler.step()
        row = {"epoch": epoch + 1, **sums, "lr": optimizer.param_groups[0]["lr"]}
        if validation is not None and config.eval_every and (epoch + 1) % config.eval_every == 0:
            score = validation.score(model)
            row.update(score.row())
            if state.best_score is None or score.key() < state.best_score:
                state.best_score, state.best_epoch = score.key(), epoch + 1
                state.best_model = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        row["seconds"] = time.monotonic() - t0
        state.epoch = epoch + 1
        _save(job, state)
        log.write(row)
        if config.progress:
            epochs.set_postfix(loss=f"{row['loss']:.4g}", lr=f"{row['lr']:.2g}")
        if config.wall_time_limit is not None and time.monotonic() - started > config.wall_time_limit:
            stopped = epoch + 1 < config.epochs
            break
    if state.best_model is None:  # never scored: the last model is the one to keep
        state.best_epoch = state.epoch
        atomic_torch_save(_on_cpu(model.state_dict()), checkpoint_dir / "best.pt")
        _write_meta(checkpoint_dir / "best.json", job.metadata, state.epoch, None)
    return TrainResult(state.epoch, stopped, state.best_score, state.best_epoch)


@dataclass
class _TrainingState:
    best_model: dict | None
    best_score: tuple[float, ...] | None
    best_epoch: int
    epoch: int


def _run_epoch(job: _Job, epoch: int) -> dict[str, float]:
    model, optimizer, data, config, checkpoint_dir = job.model, job.optimizer, job.data, job.config, job.checkpoint_dir
    model.begin_epoch(epoch, config.epochs)  # staged families switch here (a function of the epoch: resumable)
    model.train()
    sums: dict[str, float] = {}
    param = next(model.parameters())
    for _ in range(config.batches_per_epoch):
        batch = data.batch(job.rng.integers(0, len(data), size=config.batch_size))
        batch = {k: v.to(param.device, param.dtype if v.is_floating_point() else v.dtype, non_blocking=True)
                 for k, v in batch.items()}
        out = model.loss(batch)
        loss = out["loss"]
        if not torch.isfinite(loss) or loss.item() > config.max_loss:
            raise TrainingDiverged(
                f"training diverged in epoch {epoch + 1} (loss {loss.item():.3g}); the last good "
                f"checkpoint is kept in {checkpoint_dir}; lower trainer.lr_start or trainer.grad_clip")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        for key, value in out.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach()) / config.batches_per_epoch
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise TrainingDiverged(
            f"training diverged in epoch {epoch + 1} (non-finite weights); the last good checkpoint is "
            f"kept in {checkpoint_dir}; lower trainer.lr_start or trainer.grad_clip")
    model.eval()
    return sums


def _save(job: _Job, state: _TrainingState) -> None:
    checkpoint_dir, metadata = job.checkpoint_dir, job.metadata
    if state.best_model is not None and state.best_epoch == state.epoch:
        atomic_torch_save(state.best_model, checkpoint_dir / "best.pt")
        _write_meta(checkpoint_dir / "best.json", metadata, state.best_epoch, state.best_score)
    checkpoint = {
        "model": job.model.state_dict(),
        "optimizer": job.optimizer.state_dict(),
        "scheduler": job.scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": job.rng.bit_generator.state,
        "epoch": state.epoch,
        "best_model": state.best_model,
        "best_score": list(state.best_score) if state.best_score is not None else None,
        "best_epoch": state.best_epoch,
    }
    device = model_device(job.model)
    if device.type == "cuda":  # the GPU's own stream (noise drawn there) resumes bit for bit too
        checkpoint["cuda_rng"] = torch.cuda.get_rng_state(device)
    atomic_torch_save(_on_cpu(checkpoint), checkpoint_dir / "last.pt")
    _write_meta(checkpoint_dir / "last.json", metadata, state.epoch, state.best_score)


def _write_meta(path: Path, metadata: dict, epoch: int, score) -> None:
    atomic_write_json({**metadata, "epoch": epoch,
                       "val_score": [v if math.isfinite(v) else None for v in score]
                       if score is not None else None}, path)


def _restore(path: Path, job: _Job) -> _TrainingState:
    ckpt = load_checkpoint(path)
    job.model.load_state_dict(ckpt["model"])
    job.optimizer.load_state_dict(ckpt["optimizer"])
    job.scheduler.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["torch_rng"])
    device = model_device(job.model)
    if device.type == "cuda" and "cuda_rng" in ckpt:  # a run resumed on another kind of device starts its stream anew
        torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
    job.rng.bit_generator.state = ckpt["numpy_rng"]
    score = tuple(ckpt["best_score"]) if ckpt["best_score"] is not None else None
    return _TrainingState(ckpt["best_model"], score, ckpt["best_epoch"], ckpt["epoch"])


def _on_cpu(tree):
    """`tree` (nested dicts, lists, tuples) with every tensor on the CPU: a checkpoint written on a
    GPU then loads with ``torch.load(weights_only=True)`` on a machine without one."""
    if isinstance(tree, torch.Tensor):
        return tree.cpu()
    if isinstance(tree, dict):
        return {k: _on_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_on_cpu(v) for v in tree)
    return tree


class _CsvLog:
    """The per-epoch CSV log: epoch, every scalar the model's `loss` returns (the keys of the first
    epoch, in order), lr, the validation scores and seconds. On resume, rows after the
    checkpoint's epoch are dropped and the columns stay those of the file."""

    def __init__(self, path: Path, keep_through_epoch: int, validation_fields: tuple[str, ...]) -> None:
        self.path, self.fields, self.validation_fields = path, None, validation_fields
        rows = []
        if keep_through_epoch > 0 and path.exists():
            with path.open() as f:
                reader = csv.DictReader(f)
                rows = [r for r in reader if int(r["epoch"]) <= keep_through_epoch]
                self.fields = reader.fieldnames
        path.unlink(missing_ok=True)
        if self.fields is not None:
            self._append(rows, header=True)

    def write(self, row: dict) -> None:
        header = self.fields is None
        if header:
            losses = [k for k in row if k not in ("epoch", "lr", "seconds", *self.validation_fields)]
            self.fields = ["epoch", *losses, "lr", *self.validation_fields, "seconds"]
        self._append([row], header=header)

    def _append(self, rows: list[dict], *, header: bool) -> None:
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if header:
                writer.writeheader()
            writer.writerows(rows)
