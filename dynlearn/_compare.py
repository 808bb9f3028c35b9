"""Headline figures of several runs side by side, refused unless they share test data and protocol.

A run is judged by its newest ``metrics.json`` of a current protocol version (protocol v2 for
attractors, the field protocol, forecast skill): the newest ``eval-<ts>/`` folder that has one,
else the one training wrote. Two runs are comparable when their protocol, ``protocol_version``
and ``test_data`` (store, its hash, the cases, lengths, context) are equal, and whatever else
their protocol's `Headline.alike` names (forecast skill: the future forcing and the leads);
anything else would compare numbers measured on different yardsticks. The columns are the
protocol's headline figures (`_headlines`). Beside the rows, one row per model family: the
median over its runs (seeds) of each number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import statistics
from pathlib import Path

import yaml

from ._errors import ConfigError
from ._headlines import HEADLINES, LABELS, Headline, cell, headline_of, is_current, metrics_protocol, protocol_text
from ._run import STATUS, read_status, timestamp
from .atomic import atomic_write_text

METRICS = "metrics.json"


def run_columns(headline: Headline) -> tuple[str, ...]:
    """The columns of a comparison, in order; ``run``, ``evaluation``, ``model`` and ``seed`` name the row."""
    return ("run", "evaluation", "model", "seed", *headline.columns, "train_seconds")


def family_columns(headline: Headline) -> tuple[str, ...]:
    """The columns of the per-family table: medians over each family's runs of the numbers after ``runs``."""
    return ("model", "runs", *headline.family, "train_seconds")


def compare_runs(paths: list[str | Path]) -> list[dict]:
    """One row of headline figures per run found in `paths`.

    Args:
        paths: run directories, or folders searched recursively for run directories.

    Returns:
        Rows keyed by `run_columns` of the runs' protocol (``run`` as found, ``evaluation`` the
        metrics' folder inside it), and ``protocol``.

    Raises:
        ConfigError: a path is missing or holds no evaluated run, two runs were evaluated on
            different test data or with different protocols or versions, or the runs have only
            metrics of an older protocol version.
    """
    runs = find_runs(paths)
    found = [(run, *latest_metrics(run)) for run in runs]
    first_run, _, first = found[0]
    for run, _, metrics in found[1:]:
        difference = _difference(first, metrics)
        if difference:
            raise ConfigError(f"runs {first_run} and {run} were not evaluated alike ({difference}); compare "
                              "runs of the same test data and protocol, or re-evaluate: "
                              "python -m dynlearn evaluate run=<run dir>")
    if not is_current(first):
        raise ConfigError(f"run {first_run} has only {protocol_text(first)} metrics; "
                          f"re-evaluate it: python -m dynlearn evaluate run={first_run}")
    headline = headline_of(first)
    rows = []
    for run, source, metrics in found:
        config = _config(run)
        figures = headline.figures(metrics)
        rows.append({"run": str(run), "evaluation": str(source.parent.relative_to(run)),
                     "model": (config.get("model") or {}).get("name"), "seed": config.get("seed"),
                     "model_options": options_key(config.get("model") or {}), "protocol": headline.protocol,
                     **{key: figures[key] for key in headline.columns},
                     "train_seconds": read_status(run).get("train_seconds")})
    return rows


def by_family(rows: list[dict]) -> list[dict]:
    """One row per model family and options (in order of first appearance): the median over its
    runs (seeds) of each number in `family_columns` (None where no run has it). A family trained
    with different options (e.g. Koopman with and without re-encoding) gets one row per options,
    labelled by a short hash of them."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row.get("model_options", "")), []).append(row)
    variants: dict[str, int] = {}
    for model, _ in groups:
        variants[model] = variants.get(model, 0) + 1
    headline = _headline(rows)
    out = []
    for (model, options), members in groups.items():
        label = model if variants[model] == 1 else f"{model} [{options}]"
        summary = {"model": label, "runs": len(members)}
        for key in family_columns(headline)[2:]:
            values = [float(r[key]) for r in members if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
            summary[key] = statistics.median(values) if values else None
        out.append(summary)
    return out


def find_runs(paths: list[str | Path]) -> list[Path]:
    """The run directories named by `paths` (run dirs, or folders holding them), sorted, unique."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise ConfigError(f"runs: {path} does not exist; give run directories or a folder holding them")
        if (path / STATUS).exists():
            runs.append(path)
            continue
        for metrics in path.rglob(METRICS):
            run = metrics.parent
            if run.name.startswith("eval-") and (run.parent / STATUS).exists():
                run = run.parent
            runs.append(run)
    unique = sorted(set(runs))
    if not unique:
        raise ConfigError(f"no evaluated runs (directories with {METRICS}) under {', '.join(map(str, paths))}; "
                          "give run directories or a folder holding them")
    return unique


def latest_metrics(run_dir: Path) -> tuple[Path, dict]:
    """The newest ``metrics.json`` of a run of a current protocol version (else its newest of any
    version), and its path.

    Raises:
        ConfigError: the run has no metrics at all (it is unfinished, or diverged).
    """
    candidates = [run_dir / METRICS, *sorted(run_dir.glob(f"eval-*/{METRICS}"))]  # oldest first
    loaded = [(path, json.loads(path.read_text())) for path in candidates if path.exists()]
    if not loaded:
        raise ConfigError(f"run {run_dir} has no {METRICS} (unfinished or diverged); evaluate it: "
                          f"python -m dynlearn evaluate run={run_dir}")
    current = [item for item in loaded if is_current(item[1])]
    return (current or loaded)[-1]


def write_comparison(rows: list[dict], out_dir: Path) -> tuple[str, Path]:
    """Write ``compare-<timestamp>.md`` (the runs, then the medians by family) and ``.csv`` (the
    runs) into `out_dir`; returns the markdown and its path."""
    headline = _headline(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"compare-{timestamp()}"
    shown = [{**row, "run": link(Path(row["run"]), out_dir)} for row in rows]
    text = (markdown(shown, run_columns(headline)) + f"\nMedian over each family's runs (seeds); {headline.note}\n\n"
            + markdown(by_family(rows), family_columns(headline)))
    atomic_write_text(text, stem.with_suffix(".md"))
    atomic_write_text(csv_text(rows, run_columns(headline)), stem.with_suffix(".csv"))
    return text, stem.with_suffix(".md")


def link(run_dir: Path, out_dir: Path) -> str:
    """A markdown link to `run_dir`, relative to the folder of the file it goes in."""
    return f"[{run_dir}]({relative(run_dir, out_dir)})"


def relative(path: Path, start: Path) -> str:
    """`path` relative to the folder `start` (with ``..`` where needed), in POSIX form."""
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def markdown(rows: list[dict], columns) -> str:
    """A GitHub markdown table; numbers to 4 significant digits, missing ones as n/a."""
    lines = ["| " + " | ".join(LABELS.get(c, c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict], columns) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _headline(rows: list[dict]) -> Headline:
    """The headline of the protocol `compare_runs` found for `rows` (all share it)."""
    return HEADLINES[rows[0]["protocol"]]


def _difference(a: dict, b: dict) -> str | None:
    """What makes two metrics incomparable, in a few words; None when they are comparable."""
    if metrics_protocol(a) != metrics_protocol(b):
        return f"protocol {metrics_protocol(a)} vs {metrics_protocol(b)}"
    if a.get("protocol_version") != b.get("protocol_version"):
        return f"protocol_version {a.get('protocol_version')} vs {b.get('protocol_version')}"
    data_a, data_b = a.get("test_data") or {}, b.get("test_data") or {}
    for key in sorted(set(data_a) | set(data_b)):
        if data_a.get(key) != data_b.get(key):
            return f"test_data.{key} {_short(data_a.get(key))} vs {_short(data_b.get(key))}"
    alike = headline_of(a).alike if headline_of(a) else ()
    for key in alike:
        if a.get(key) != b.get(key):
            return f"{key} {_short(a.get(key))} vs {_short(b.get(key))}"
    return None


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def options_key(model_config: dict) -> str:
    """A short hash of a run's model options (seeds excluded: they vary within a family's row)."""
    options = {k: v for k, v in model_config.items() if k != "seed"}
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
