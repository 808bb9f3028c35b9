"""The dashboard's data layer: every run directory under a root, read without ever failing.

A run directory (`dynlearn._run.create_run_dir`) holds ``config.yaml`` and ``status.json`` from
its first moment, ``checkpoints/train_log.csv`` while it trains, and ``metrics.json`` (or
``eval-<ts>/metrics.json``) once evaluated. `read_run` turns one into a `RunEntry`: its system
(the config's ``name``), model, seed, creation time, state, the headline figures of its newest
current metrics (`dynlearn._headlines`), and, while it trains, its progress from the training
log. A directory that cannot be read (corrupt JSON or YAML, a missing config) becomes an entry in
state ``broken`` with the reason, so one bad run never hides the others. `RunCatalog` keeps the
entries of a root and rereads only the runs whose files changed, so new runs appear without a
restart and hundreds of runs cost one ``stat`` each per refresh. `leaderboard` groups the
evaluated runs by system, model and options (seeds differ within a group) and gives the median
± MAD over the seeds of the protocol's summary figures. Nothing here writes.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from .._compare import latest_metrics, options_key
from .._errors import ConfigError
from .._headlines import HEADLINES, headline_of, metrics_protocol
from .._run import STATUS
from .._seeds import summary_statistics

CONFIG = "config.yaml"
METRICS = "metrics.json"
TRAIN_LOG = Path("checkpoints") / "train_log.csv"
BROKEN = "broken"


@dataclass(frozen=True)
class RunEntry:
    """What the dashboard shows of one run directory.

    Attributes:
        path: the run directory.
        system: the config's ``name`` (the store's system id; the runs folder it sits in).
        model: the model family; None when the config is unreadable.
        seed: the top-level seed.
        options: a short hash of the model options without the seed (seeds of one config share it).
        created: the directory's timestamp (``YYYY-MM-DD_HH-MM-SS_micro``), sortable as text.
        state: ``running``, ``trained``, ``complete``, ``diverged`` (status.json), or ``broken``.
        protocol: the protocol of the metrics read (``attractor``, ``field_forecast``,
            ``forecast_skill``); None before evaluation.
        figures: that protocol's headline figures (None where a number is missing).
        epochs_done, epochs_planned: progress from the training log and the config.
        problem: why a broken run could not be read.
    """

    path: Path
    system: str
    model: str | None = None
    seed: int | None = None
    options: str = ""
    created: str = ""
    state: str = BROKEN
    protocol: str | None = None
    figures: dict = field(default_factory=dict)
    epochs_done: int | None = None
    epochs_planned: int | None = None
    problem: str | None = None


def read_run(run_dir: str | Path) -> RunEntry:
    """The `RunEntry` of one run directory; a run that cannot be read comes back ``broken``."""
    run_dir = Path(run_dir)
    fallback = RunEntry(path=run_dir, system=run_dir.parent.name, created=run_dir.name)
    try:
        config = yaml.safe_load((run_dir / CONFIG).read_text()) or {}
        status = json.loads((run_dir / STATUS).read_text())
        model = config["model"]["name"]
    except FileNotFoundError as error:
        return _broken(fallback, f"{Path(error.filename).name} is missing")
    except (yaml.YAMLError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        return _broken(fallback, f"unreadable run files ({type(error).__name__}: {str(error).splitlines()[0][:120]})")
    entry = RunEntry(
        path=run_dir, system=str(config.get("name", run_dir.parent.name)), model=model, seed=config.get("seed"),
        options=options_key(config["model"]),
        created=run_dir.name, state=str(status.get("state", "running")),
        epochs_planned=(config.get("trainer") or {}).get("epochs"))
    try:
        metrics = _latest_metrics(run_dir)
        epochs = _logged_epochs(run_dir)
    except (OSError, json.JSONDecodeError, csv.Error, ValueError) as error:
        return _broken(entry, f"unreadable metrics or training log ({type(error).__name__}: {str(error)[:120]})")
    headline = headline_of(metrics) if metrics else None
    return replace(entry, epochs_done=epochs, protocol=metrics_protocol(metrics) if metrics else None,
                   figures=headline.figures(metrics) if headline else {})


def discover_runs(root: str | Path) -> list[RunEntry]:
    """Every run directory at `root` or one or two levels below it (a directory holding
    ``status.json`` or ``config.yaml``), newest first; [] when `root` does not exist."""
    return sorted((read_run(path) for path in _run_dirs(Path(root))), key=lambda e: e.created, reverse=True)


class RunCatalog:
    """The runs under a root, kept between refreshes: a run is reread only when one of its files
    changed (their sizes and modification times), so new runs and finished evaluations appear on
    the next `refresh` without a restart."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._entries: dict[Path, tuple[tuple, RunEntry]] = {}

    def refresh(self) -> list[RunEntry]:
        """The current entries, newest first."""
        seen = {}
        for path in _run_dirs(self.root):
            signature = _signature(path)
            cached = self._entries.get(path)
            seen[path] = cached if cached and cached[0] == signature else (signature, read_run(path))
        self._entries = seen
        return sorted((entry for _, entry in seen.values()), key=lambda e: e.created, reverse=True)


def leaderboard(entries: list[RunEntry]) -> list[dict]:
    """One row per (system, model, options) of the evaluated runs: how many seeds, and the median
    and MAD over them of the protocol's summary figures (``<figure>`` and ``<figure>_mad``),
    best first by the first of them (lower is better for every attractor and field figure)."""
    groups: dict[tuple, list[RunEntry]] = {}
    for entry in entries:
        if entry.state == "complete" and entry.protocol in HEADLINES:
            groups.setdefault((entry.system, entry.model, entry.options, entry.protocol), []).append(entry)
    rows = []
    for (system, model, options, protocol), members in groups.items():
        row = {"system": system, "model": model, "options": options, "protocol": protocol, "seeds": len(members)}
        headline = HEADLINES[protocol]
        for stats in summary_statistics(headline, [m.figures for m in members]):
            row[stats[headline.noun]], row[f"{stats[headline.noun]}_mad"] = stats["median"], stats["mad"]
        rows.append(row)

    def rank(row: dict) -> tuple:
        first = row.get(HEADLINES[row["protocol"]].summary[0])
        return row["system"], first is None, first if first is not None else 0.0

    return sorted(rows, key=rank)


def _broken(entry: RunEntry, problem: str) -> RunEntry:
    return replace(entry, state=BROKEN, problem=problem)


def _run_dirs(root: Path) -> list[Path]:
    """Run directories at `root` itself, one or two levels below (``<root>/<name>/<timestamp>``, the
    layout of `paths.runs`); not deeper, so forecast stores' thousands of files are never walked."""
    if not root.is_dir():
        return []
    candidates = [root, *root.glob("*/"), *root.glob("*/*/")]
    return sorted({p for p in candidates if not p.name.startswith("eval-")
                   and ((p / STATUS).exists() or (p / CONFIG).exists())})


def _latest_metrics(run_dir: Path) -> dict | None:
    """The newest metrics of a current protocol version (`latest_metrics`); None before evaluation."""
    try:
        return latest_metrics(run_dir)[1]
    except ConfigError:  # not evaluated yet
        return None


def _logged_epochs(run_dir: Path) -> int | None:
    path = run_dir / TRAIN_LOG
    if not path.exists():
        return None
    with path.open(newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def _signature(run_dir: Path) -> tuple:
    files = [run_dir / STATUS, run_dir / CONFIG, run_dir / METRICS, run_dir / TRAIN_LOG,
             *sorted(run_dir.glob(f"eval-*/{METRICS}"))]
    return tuple((str(f), s.st_size, s.st_mtime_ns) for f in files if (s := _stat(f)) is not None)


def _stat(path: Path):
    try:
        return path.stat()
    except OSError:
        return None
