"""Invariants of several runs side by side, refused unless they share test data and protocol.

A run is judged by its newest ``metrics.json`` of evaluation protocol 2: the newest
``eval-<ts>/`` folder that has one, else the one training wrote. Two runs are comparable when
their ``protocol_version`` and ``test_data`` (store, its hash, the cases, lengths, context) are
equal; anything else would compare numbers measured on different yardsticks. Beside the rows,
one row per model family: the median over its runs (seeds) of each number.
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
from ._run import STATUS, read_status, timestamp
from .atomic import atomic_write_text

PROTOCOL = 2
METRICS = "metrics.json"

# The columns of a comparison, in order; `run`, `evaluation`, `model` and `seed` name the row.
COLUMNS = ("run", "evaluation", "model", "seed", "d_stsp", "d_stsp_floor", "d_h", "d_h_floor",
           "lyap_max", "lyap_max_reference", "lyap_rel_error", "vpt", "vpt_unit", "n_ics", "n_collapsed",
           "n_diverged", "train_seconds")
# The per-family table: medians over each family's runs of these numbers.
FAMILY_COLUMNS = ("model", "runs", "d_stsp", "d_h", "lyap_rel_error", "vpt", "n_collapsed", "n_diverged",
                  "train_seconds")
LABELS = {"d_stsp": "D_stsp", "d_stsp_floor": "D_stsp floor", "d_stsp_excess": "D_stsp - floor",
          "d_h": "D_H", "d_h_floor": "D_H floor", "d_h_excess": "D_H - floor", "lyap_max": "λ_max",
          "lyap_max_reference": "λ_max ref", "lyap_rel_error": "λ_max rel. error", "vpt": "VPT",
          "vpt_unit": "VPT unit", "n_ics": "ICs", "n_collapsed": "collapsed", "n_diverged": "diverged",
          "train_seconds": "training [s]", "runs": "runs"}


def compare_runs(paths: list[str | Path]) -> list[dict]:
    """One row of headline invariants per run found in `paths`.

    Args:
        paths: run directories, or folders searched recursively for run directories.

    Returns:
        Rows keyed by `COLUMNS` (``run`` as found, ``evaluation`` the metrics' folder inside it).

    Raises:
        ConfigError: a path is missing or holds no evaluated run, or two runs were evaluated on
            different test data or with different protocol versions.
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
    if first.get("protocol_version") != PROTOCOL:
        raise ConfigError(f"run {first_run} has only protocol version {first.get('protocol_version')} metrics; "
                          f"re-evaluate it: python -m dynlearn evaluate run={first_run}")
    rows = []
    for run, source, metrics in found:
        config = _config(run)
        rows.append({"run": str(run), "evaluation": str(source.parent.relative_to(run)),
                     "model": (config.get("model") or {}).get("name"), "seed": config.get("seed"),
                     "model_options": _options_key(config.get("model") or {}),
                     **{key: metrics.get(key) for key in COLUMNS[4:]},
                     "lyap_rel_error": invariants(metrics)["lyap_rel_error"],
                     "train_seconds": read_status(run).get("train_seconds")})
    return rows


def by_family(rows: list[dict]) -> list[dict]:
    """One row per model family and options (in order of first appearance): the median over its
    runs (seeds) of each number in `FAMILY_COLUMNS` (None where no run has it). A family trained
    with different options (e.g. Koopman with and without re-encoding) gets one row per options,
    labelled by a short hash of them."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row.get("model_options", "")), []).append(row)
    variants: dict[str, int] = {}
    for model, _ in groups:
        variants[model] = variants.get(model, 0) + 1
    out = []
    for (model, options), members in groups.items():
        label = model if variants[model] == 1 else f"{model} [{options}]"
        summary = {"model": label, "runs": len(members)}
        for key in FAMILY_COLUMNS[2:]:
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
    """The newest protocol-2 ``metrics.json`` of a run (else its newest of any version), and its path.

    Raises:
        ConfigError: the run has no metrics at all (it is unfinished, or diverged).
    """
    candidates = [run_dir / METRICS, *sorted(run_dir.glob(f"eval-*/{METRICS}"))]  # oldest first
    loaded = [(path, json.loads(path.read_text())) for path in candidates if path.exists()]
    if not loaded:
        raise ConfigError(f"run {run_dir} has no {METRICS} (unfinished or diverged); evaluate it: "
                          f"python -m dynlearn evaluate run={run_dir}")
    current = [item for item in loaded if item[1].get("protocol_version") == PROTOCOL]
    return (current or loaded)[-1]


def invariants(metrics: dict) -> dict:
    """The headline invariants of one ``metrics.json``, with the excess over each floor.

    Missing or non-finite numbers become None; ``lyap_rel_error`` is |λ - λ_ref| / |λ_ref|.
    """
    def number(key):
        value = metrics.get(key)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def minus(a, b):
        return None if a is None or b is None else a - b

    lyap, reference = number("lyap_max"), number("lyap_max_reference")
    return {
        "d_stsp": number("d_stsp"), "d_stsp_floor": number("d_stsp_floor"),
        "d_stsp_excess": minus(number("d_stsp"), number("d_stsp_floor")),
        "d_h": number("d_h"), "d_h_floor": number("d_h_floor"),
        "d_h_excess": minus(number("d_h"), number("d_h_floor")),
        "lyap_max": lyap,
        "lyap_rel_error": abs(lyap - reference) / abs(reference) if lyap is not None and reference else None,
        "vpt": number("vpt"), "n_collapsed": number("n_collapsed"), "n_diverged": number("n_diverged"),
    }


def write_comparison(rows: list[dict], out_dir: Path) -> tuple[str, Path]:
    """Write ``compare-<timestamp>.md`` (the runs, then the medians by family) and ``.csv`` (the
    runs) into `out_dir`; returns the markdown and its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"compare-{timestamp()}"
    shown = [{**row, "run": link(Path(row["run"]), out_dir)} for row in rows]
    text = (markdown(shown, COLUMNS) + "\nMedian over each family's runs (seeds); VPT: normalized-error "
            "threshold (vpt_nrmse).\n\n" + markdown(by_family(rows), FAMILY_COLUMNS))
    atomic_write_text(text, stem.with_suffix(".md"))
    atomic_write_text(csv_text(rows, COLUMNS), stem.with_suffix(".csv"))
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


def cell(value) -> str:
    """A table cell: numbers to 4 significant digits, missing ones as n/a."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _difference(a: dict, b: dict) -> str | None:
    """What makes two metrics incomparable, in a few words; None when they are comparable."""
    if a.get("protocol_version") != b.get("protocol_version"):
        return f"protocol_version {a.get('protocol_version')} vs {b.get('protocol_version')}"
    data_a, data_b = a.get("test_data") or {}, b.get("test_data") or {}
    for key in sorted(set(data_a) | set(data_b)):
        if data_a.get(key) != data_b.get(key):
            return f"test_data.{key} {_short(data_a.get(key))} vs {_short(data_b.get(key))}"
    return None


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _options_key(model_config: dict) -> str:
    """A short hash of a run's model options (seeds excluded: they vary within a family's row)."""
    options = {k: v for k, v in model_config.items() if k != "seed"}
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
