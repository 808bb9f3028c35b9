"""Independent seeds of one training config, and their median ± MAD summary.

The data stay fixed (``data.seed``); the top-level ``seed`` (model initialization, window
sampling) runs over ``seed, seed+1, ..., seed+seeds-1``. Each seed trains in a subprocess
``python -m dynlearn train <overrides> seed=k seeds=null``, so a diverged or crashed seed stops
nothing else and ``jobs`` of them can run at once. A seed whose finished run (state complete,
same run hash) already exists is skipped, so rerunning the command finishes what is missing.
The summary holds the headline figures of the seeds' protocol (`_headlines`): the invariants
of protocol v2, the field protocol's forecast errors, or forecast skill.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ._compare import csv_text, latest_metrics, link, relative
from ._errors import DynlearnError
from ._headlines import LABELS, Headline, cell, headline_of
from ._run import STATUS, read_status, write_status
from ._settings import Settings
from ._workflow import generate
from ._compose import load_settings
from .atomic import atomic_write_text


@dataclass(frozen=True)
class SeedRun:
    """What became of one seed.

    Attributes:
        seed: the value of the top-level ``seed``.
        run_dir: its run directory (None if it failed before one was made).
        state: complete | skipped (complete before) | diverged | failed (a user error) |
            crashed (a bug: the subprocess exited with neither 0 nor 2).
        message: the subprocess's last error line, for diverged / failed / crashed.
        seconds: wall time of the seed (0 when skipped).
    """

    seed: int
    run_dir: Path | None
    state: str
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class SeedsResult:
    """The seeds of one config: each seed's fate, the group id, and the summary written."""

    runs: list[SeedRun]
    group: str
    summary_dir: Path
    markdown: str


def seed_group(overrides: list[str]) -> str:
    """The id shared by all seeds of one config: its run hash with ``seed`` left out.

    The config is composed with ``seed=0`` first, so values interpolated from the seed (the
    model's ``model.seed``) drop out with it.
    """
    settings = load_settings([*overrides, "seed=0"], check_model=False)
    return dataclasses.replace(settings, config={k: v for k, v in settings.config.items() if k != "seed"}).run_hash


def train_seeds(overrides: list[str], *, seeds: int, jobs: int = 1,
                echo: Callable[[str], None] = partial(print, flush=True)) -> SeedsResult:
    """Train seeds ``seed ... seed + seeds - 1`` of the config `overrides` compose, and summarize them.

    Args:
        overrides: the config overrides (as on the command line), passed on to each subprocess.
        seeds: how many seeds.
        jobs: how many seeds train at once; with more than one, each gets ``threads=1``.
        echo: receives one progress line per seed as it ends.

    Returns:
        Each seed's outcome, and the summary written to
        ``<paths.runs>/<name>/seeds-<group>/summary.md`` and ``summary.csv``.
    """
    settings = load_settings(overrides)  # every check, before anything is written
    per_seed = {k: load_settings([*overrides, f"seed={k}"], check_model=False)
                for k in range(settings.seed, settings.seed + seeds)}
    group = seed_group(overrides)
    done = {k: finished_run(s) for k, s in per_seed.items()}
    todo = [k for k, run in done.items() if run is None]
    if todo and not settings.data_given:
        generate(settings, progress=settings.trainer.progress)  # once, before seeds race for it
    extra = ["threads=1"] if jobs > 1 else []
    outcomes: dict[int, SeedRun] = {}

    def report(run: SeedRun) -> None:
        outcomes[run.seed] = run
        echo(f"seed {run.seed} ({run.seed - settings.seed + 1}/{seeds}): {_describe(run)}")

    for k, run in done.items():
        if run is not None:
            report(SeedRun(k, run, "skipped"))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_train_one, per_seed[k], overrides + extra, group) for k in todo]
        for future in as_completed(futures):
            report(future.result())
    runs = [outcomes[k] for k in sorted(outcomes)]
    summary_dir = settings.runs_root / settings.name / f"seeds-{group}"
    text = write_seed_summary(runs, summary_dir, title=f"{settings.name}: {seeds} seeds (group {group})")
    return SeedsResult(runs, group, summary_dir, text)


def finished_run(settings: Settings) -> Path | None:
    """The newest complete run of `settings` (same run hash, hence same seed), if there is one."""
    return _newest(settings, lambda status: status.get("state") == "complete")


def summarize_seeds(run_dirs: list[Path]) -> list[dict]:
    """Median ± MAD (unscaled), min and max of each headline figure over the runs that have metrics.

    Args:
        run_dirs: run directories; those without metrics (diverged, unfinished) are left out, and
            so are those judged by another protocol than the first run with metrics.

    Returns:
        One row per figure of the runs' protocol's `Headline.summary`: ``<noun>, median, mad,
        min, max, n`` (None where n is 0), where the noun is the headline's (``invariant`` for
        protocol v2, ``metric`` for the others) and names the figure.
    """
    headline, values = _seed_figures(run_dirs)
    return summary_statistics(headline, [v for v in values if v is not None])


def _seed_figures(run_dirs: list[Path | None]) -> tuple[Headline, list[dict | None]]:
    """The protocol of the first run with metrics (protocol v2 when none has any), and each run's
    headline figures under it (None: no metrics, or another protocol's)."""
    found = [_metrics(run_dir) for run_dir in run_dirs]
    known = [headline_of(m) for m in found if m is not None and headline_of(m) is not None]
    headline = known[0] if known else headline_of({})  # no metrics: protocol v2's figures, all n/a
    return headline, [headline.figures(m) if m is not None and headline_of(m) is headline else None for m in found]


def summary_statistics(headline: Headline, values: list[dict]) -> list[dict]:
    """Per figure of `headline.summary`, over the figures dicts `values` (one per seed; None
    entries left out): ``<noun>, median, mad, min, max, n`` (None where n is 0)."""
    rows = []
    for key in headline.summary:
        xs = [v[key] for v in values if v[key] is not None]
        median = statistics.median(xs) if xs else None
        rows.append({headline.noun: key, "median": median,
                     "mad": statistics.median(abs(x - median) for x in xs) if xs else None,
                     "min": min(xs, default=None), "max": max(xs, default=None), "n": len(xs)})
    return rows


def write_seed_summary(runs: list[SeedRun], out_dir: Path, *, title: str) -> str:
    """Write ``summary.md`` (statistics, then one linked row per seed) and ``summary.csv``.

    The CSV holds one row per seed (its run directory relative to `out_dir`) followed by rows
    ``median``, ``mad``, ``min`` and ``max`` in the ``seed`` column. Returns the markdown.
    """
    headline, found = _seed_figures([run.run_dir for run in runs])
    values = {run.seed: v for run, v in zip(runs, found)}
    stats = summary_statistics(headline, [v for v in found if v is not None])
    noun, figures = headline.noun, headline.summary
    out_dir.mkdir(parents=True, exist_ok=True)
    per_seed = []
    for run in runs:
        state = read_status(run.run_dir).get("state", run.state) if run.run_dir else run.state
        per_seed.append({"seed": run.seed, "state": state, **(values[run.seed] or {}),
                         "run": link(run.run_dir, out_dir) if run.run_dir else run.message})
    n_ok = sum(1 for row in per_seed if row["state"] == "complete")
    lines = [f"# {title}", "", f"{n_ok} of {len(runs)} seeds complete; median ± MAD (min–max) over them.", "",
             f"| {noun} | median ± MAD (min–max) | n |", "|---|---|---|"]
    lines += [f"| {LABELS[row[noun]]} | {_spread(row)} | {row['n']} |" for row in stats]
    lines += ["", "| seed | state | " + " | ".join(LABELS[k] for k in figures) + " | run |",
              "|" + "---|" * (len(figures) + 3)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k in ("seed", "state", *figures, "run")) + " |"
              for row in per_seed]
    text = "\n".join(lines) + "\n"
    rows = [{**row, "run": relative(run.run_dir, out_dir) if run.run_dir else ""}
            for row, run in zip(per_seed, runs)]
    rows += [{"seed": name, **{s[noun]: s[name] for s in stats}} for name in ("median", "mad", "min", "max")]
    atomic_write_text(text, out_dir / "summary.md")
    atomic_write_text(csv_text(rows, ("seed", "state", *figures, "run")), out_dir / "summary.csv")
    return text


def _train_one(settings: Settings, overrides: list[str], group: str) -> SeedRun:
    seed = settings.seed
    # Later overrides win in Hydra, so these pin the seed and make the child a single run.
    command = [sys.executable, "-m", "dynlearn", "train", *overrides, f"seed={seed}", "seeds=null", "jobs=1",
               "trainer.progress=false"]
    before = set((settings.runs_root / settings.name).glob("*/" + STATUS))
    started = time.monotonic()
    child = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    run_dir = _newest(settings, lambda status: True, exclude=before)
    if run_dir is not None:
        write_status(run_dir, seed_group=group)
    errors = [line for line in child.stderr.splitlines() if line.strip()]
    message = errors[-1].split(": error: ", 1)[-1] if errors else ""
    if child.returncode == 0:
        return SeedRun(seed, run_dir, "complete", seconds=seconds)
    if child.returncode == 2:
        diverged = run_dir is not None and read_status(run_dir).get("state") == "diverged"
        return SeedRun(seed, run_dir, "diverged" if diverged else "failed", message, seconds)
    sys.stderr.write(child.stderr)  # a bug: keep its traceback
    return SeedRun(seed, run_dir, "crashed", f"exit code {child.returncode}: {message}", seconds)


def _newest(settings: Settings, accept, exclude: set = frozenset()) -> Path | None:
    """The newest run directory made with `settings` whose status `accept`s."""
    run_hash = settings.run_hash
    for status_path in sorted((settings.runs_root / settings.name).glob("*/" + STATUS), reverse=True):
        if status_path in exclude:
            continue
        status = read_status(status_path.parent)
        if status.get("config_hash") == run_hash and accept(status):
            return status_path.parent
    return None


def _describe(run: SeedRun) -> str:
    if run.state == "skipped":
        return f"skipped (finished: {run.run_dir})"
    where = f"{run.run_dir} " if run.run_dir else ""
    if run.state != "complete":
        return f"{where}{run.state}: {run.message} ({run.seconds:.0f} s)"
    headline, (figures,) = _seed_figures([run.run_dir])
    return f"{where}{headline.brief(figures or {})} {run.seconds:.0f} s"


def _metrics(run_dir: Path | None) -> dict | None:
    """The run's newest metrics, or None if it has none (diverged, failed, unfinished)."""
    if run_dir is None:
        return None
    try:
        return latest_metrics(run_dir)[1]
    except DynlearnError:
        return None


def _spread(row: dict) -> str:
    if row["n"] == 0:
        return "n/a"
    return f"{cell(row['median'])} ± {cell(row['mad'])} ({cell(row['min'])}–{cell(row['max'])})"

