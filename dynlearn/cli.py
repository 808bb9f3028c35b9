"""`python -m dynlearn <command> [overrides]`: compose the Hydra config, validate, run.

The config is composed with Hydra's compose API and validated completely before anything is
written, so a user error ends with one line on stderr, exit code 2, and no new files (no
Hydra `outputs/` either: runs go under `paths.runs` only).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._compose import conf_dir, load_config, load_eval_spec, load_forecast, load_ingest, load_settings
from ._errors import ConfigError, DynlearnError

GRAMMAR = """grammar (every command, the same):
  python -m dynlearn <command> [key=value ...] [group=option ...] [+exp=<name>] [--cfg] [--help]
  key=value     set a config key (nested keys with dots: trainer.epochs=20; lists: runs=[a,b])
  group=option  choose a config group's option (system=rossler, model=alrnn, debug=fast)
  +exp=<name>   an experiment: a preset that overrides what differs (conf/exp/)
  +key=value    add a key the config does not have; ~key removes one
  --cfg         print the composed config and exit (nothing is written); --help: this text
  A user error ends with one line on stderr and exit code 2, before anything is written."""


@dataclass(frozen=True)
class Command:
    """A command: what runs it, one line of what it does, and the keys of its own."""

    run: Callable[[list[str]], int]
    summary: str
    keys: str = ""


def _commands() -> dict[str, Command]:
    return {
        "generate": Command(_generate, "simulate the configured system into <paths.data>/<data.name>.zarr; "
                            "rerunning resumes or reuses it", "system=<name> data.n_steps=<n> ..."),
        "ingest": Command(_ingest, "read a file (PDEBench/The Well .h5, NetCDF .nc, .npy, .csv) into a validated "
                          "store <paths.data>/<name>.zarr", "source=<file> (required) name=<dataset> ingest.*"),
        "train": Command(_train, "generate data if missing, train, evaluate; writes runs/<name>/<time>/",
                         "resume=<run dir>|true seeds=<n> jobs=<k> trainer.* eval.*"),
        "evaluate": Command(_evaluate, "evaluate a trained run into <run dir>/eval-<time>/ (on another store "
                            "of its system with input=; a pretrained DynaMix on any 3-D system, zero-shot)",
                            "run=<run dir>|dynamix (required) input=<store> eval.*"),
        "forecast": Command(_forecast, "batch forecasts from every init of a store's split into "
                            "<run dir>/forecast-<key>/forecast.zarr; rerunning resumes or reuses it",
                            "run=<run dir> (required) input=<store> (required) forecast.lead forecast.members "
                            "forecast.perturbation forecast.stride forecast.split forecast.chunk_inits "
                            "forecast.context forecast.seed forecast.progress threads; or, from a given series: "
                            "run=<run dir>|dynamix context=<.npy|.csv|.zarr> n_steps=<n> output=<.npy|.csv> "
                            "forecast.channels=joint|independent forecast.seed"),
        "compare": Command(_compare, "headline figures of runs side by side (same test data, same protocol)",
                           "runs=<run dir>|<folder of runs>|[a,b] (required)"),
        "validate": Command(_validate, "check a store: schema and completeness; deep=true also reads every chunk "
                            "(checksums, NaN/Inf)", "store=<path> (required) deep=true|false"),
        "pipeline": Command(_pipeline, "the Prefect flow generate -> train -> evaluate (embedded server unless "
                            "PREFECT_API_URL)", "the keys of train"),
    }


# Commands the open issues add, in the same grammar (README "Commands"); not in this version.
COMING = {
    "dashboard": "port=<n> address=127.0.0.1 (the Panel app of attractor metrics)",
}

EXAMPLES = """examples:
  python -m dynlearn train +exp=lorenz
  python -m dynlearn train +exp=lorenz trainer.epochs=20 seed=3
  python -m dynlearn train +exp=lorenz debug=fast
  python -m dynlearn train +exp=lorenz seeds=5 jobs=2
  python -m dynlearn evaluate run=runs/lorenz/2026-11-23_15-00-00_000000
  python -m dynlearn compare runs=runs/lorenz
  python -m dynlearn forecast run=runs/lorenz/2026-11-23_15-00-00_000000 input=data/lorenz63.zarr forecast.members=10 forecast.perturbation=0.01
  python -m dynlearn forecast run=dynamix context=series.csv n_steps=10000 output=forecast.npy
  python -m dynlearn validate store=data/lorenz63.zarr deep=true
  python -m dynlearn ingest source=glofas.nc name=rhine
  python -m dynlearn ingest source=x.npy ingest.dt=0.01
  python -m dynlearn train +exp=real data.path=data/x.zarr data.delay_embedding=auto"""


def usage() -> str:
    """`python -m dynlearn --help`: the grammar, every command with its own keys, examples."""
    lines = [GRAMMAR, "", "commands:"]
    for name, command in _commands().items():
        lines.append(f"  {name:<9} {command.summary}")
        lines.append(f"  {'':<9}   keys: {command.keys}")
    lines += ["", "coming (same grammar, not in this version):"]
    lines += [f"  {name:<9} {keys}" for name, keys in COMING.items()]
    return "\n".join([*lines, "", EXAMPLES])


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 2 user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, args = argv[0], argv[1:]
    commands = _commands()
    if command in COMING:
        print(f"dynlearn: error: '{command}' is not in this version of dynlearn (coming: {command} "
              f"{COMING[command]}); commands: {', '.join(commands)}", file=sys.stderr)
        return 2
    if command not in commands:
        close = difflib.get_close_matches(command, list(commands), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        print(f"dynlearn: error: unknown command '{command}'; {hint}commands: {', '.join(commands)}",
              file=sys.stderr)
        return 2
    if "-h" in args or "--help" in args:
        print(command_help(command))
        return 0
    flags = [a for a in args if a.startswith("-")]
    if set(flags) - {"--cfg"}:
        print(f"dynlearn {command}: error: unknown option {sorted(set(flags) - {'--cfg'})[0]}; "
              "options are --help and --cfg, everything else is key=value", file=sys.stderr)
        return 2
    overrides = [a for a in args if not a.startswith("-")]
    try:
        if "--cfg" in flags:
            import yaml

            print(yaml.safe_dump(load_config(overrides), sort_keys=False), end="")
            return 0
        return commands[command].run(overrides)
    except DynlearnError as error:
        print(f"dynlearn {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dynlearn {command}: interrupted; rerun the same command (train: with resume=true) to continue",
              file=sys.stderr)
        return 130


def command_help(command: str) -> str:
    """Usage, description and the config groups with their options."""
    spec = _commands()[command]
    lines = [f"usage: python -m dynlearn {command} [key=value ...] [group=option ...] [+exp=<name>] [--cfg]", "",
             spec.summary[0].upper() + spec.summary[1:] + ".", f"Keys of its own: {spec.keys}", ""]
    try:
        root = conf_dir()
        lines.append("config groups (choose with group=option; experiments with +exp=<name>):")
        for group in sorted(p for p in root.iterdir() if p.is_dir()):
            options = sorted(p.stem for p in group.glob("*.yaml"))
            lines.append(f"  {group.name:<10} {', '.join(options)}")
    except ConfigError as error:
        lines.append(str(error))
    if command == "ingest":
        lines += ["", "ingest keys: source=<file> (required), name=<dataset> (default: the file's stem),",
                  "  ingest.format=pdebench|well|netcdf|csv|npy (default: from the extension),",
                  "  ingest.variable=<dataset or field> (PDEBench 2-D NS: vorticity, computed from velocity),",
                  "  ingest.channel=<i>, ingest.kind=field1d (3-D .npy fields) or ode (a CSV of states),",
                  "  ingest.dt=<step> (.npy), ingest.units=<units> (station CSV), ingest.split=[0.7,0.15,0.15]",
                  "  (by trajectory for ensembles, else contiguous train/val/test periods of time), paths.data",
                  "formats: PDEBench [N,T,X(,Y)] and per-seed groups -> field1d/field2d; The Well t0_fields",
                  "  -> field2d; NetCDF (time, lat, lon) -> grid + mask, (station, time) -> stations;",
                  "  CSV time column + one column per station -> stations; with ingest.kind=ode, a time column",
                  "  (first, or named time/t) + one column per dimension (header = state names) -> series",
                  "  (refused: empty/NaN cells, irregular time steps); .npy (time, dim) or (1, time, dim)",
                  "  -> series, (traj, time, dim) -> ode.",
                  "--cfg prints the composed config and exits; nothing is written."]
        return "\n".join(lines)
    if command == "compare":
        lines += ["", "compare keys: runs=<run dir> | <folder searched for runs> | [<a>,<b>,...] (required),",
                  "  paths.runs (the output goes to <paths.runs>/compare/)",
                  "Each run is read from its newest metrics.json of a current protocol version (protocol version 2,",
                  "  field_forecast, forecast_skill; the newest eval-*/ folder that has one, else the run's own); runs of",
                  "  another protocol, version or test data (forecast skill: future forcing, leads) are refused",
                  "  (re-evaluate them: python -m dynlearn evaluate run=...).",
                  "--cfg prints the composed config and exits; nothing is written."]
        return "\n".join(lines)
    if command == "train":
        lines += ["", "seed keys: seeds=<n> runs seeds seed, seed+1, ..., seed+n-1 (data.seed stays), each in",
                  "  a subprocess, skipping seeds whose run is already complete; jobs=<k> runs k at once",
                  "  (threads=1 each); the summary goes to <paths.runs>/<name>/seeds-<group>/summary.md, .csv"]
    lines += ["", "common keys: seed, device, dtype, threads, paths.data, paths.runs, resume, run,",
              "  trainer.epochs, trainer.wall_time_limit, data.path, eval.n_steps,",
              "  data.delay_embedding=[m,tau]|auto (train and evaluate on delay vectors; +exp=real: measured data)",
              "--cfg prints the composed config and exits; nothing is written."]
    return "\n".join(lines)


def _generate(overrides: list[str]) -> int:
    from ._workflow import generate

    path = generate(load_settings(overrides, check_model=False))  # no model is built
    print(f"store: {path}")
    return 0


def _ingest(overrides: list[str]) -> int:
    from .data import ingest

    path = ingest(*load_ingest(overrides))
    print(f"store: {path}")
    return 0


def _train(overrides: list[str]) -> int:
    from ._settings import build_settings
    from ._workflow import train

    config = load_config(overrides)
    seeds, jobs = _positive_int(config, "seeds", nullable=True), _positive_int(config, "jobs")
    if seeds is None and jobs > 1:
        raise ConfigError(f"jobs={jobs} runs seeds in parallel but seeds is not set; add seeds=<n> or drop jobs")
    if seeds is not None and config.get("resume") not in (None, False):
        raise ConfigError("resume does not combine with seeds; rerun the same seeds=... command, "
                          "which skips the seeds already complete")
    if seeds is None:
        _print_summary(train(build_settings(config)))
        return 0
    from ._seeds import train_seeds

    result = train_seeds(overrides, seeds=seeds, jobs=jobs)
    print(f"summary: {result.summary_dir / 'summary.md'}")
    print(result.markdown, end="")
    bad = [run for run in result.runs if run.state not in ("complete", "skipped")]
    if any(run.state == "crashed" for run in bad):
        return 1  # a bug in a seed: its traceback was printed above
    if bad:
        print(f"dynlearn train: error: {len(bad)} of {seeds} seeds did not finish (seed {bad[0].seed}: "
              f"{bad[0].state}); see the lines above, fix and rerun to train only those", file=sys.stderr)
        return 2
    return 0


def _evaluate(overrides: list[str]) -> int:
    from ._workflow import evaluate_run

    settings = load_settings(overrides)
    if settings.run is None:
        raise ConfigError("evaluate needs the run to evaluate: add run=<run directory> (under runs/)")
    from ._context_forecast import resolve_run

    run_dir = resolve_run(settings.run)
    given = settings.config.get("input")
    out = evaluate_run(run_dir, load_eval_spec(run_dir, settings, overrides), input_store=given,
                       runs_root=settings.runs_root)
    _print_summary(out)
    return 0


def _forecast(overrides: list[str]) -> int:
    import torch

    from ._forecast import forecast

    if load_config(overrides).get("context") is not None:
        return _forecast_context(overrides)
    run, store, spec = load_forecast(overrides)
    torch.set_num_threads(_positive_int(load_config(overrides), "threads"))
    path = forecast(run, store, spec, log=print)
    print(_skill_summary(path))
    return 0


def _forecast_context(overrides: list[str]) -> int:
    """forecast run=... context=<file> n_steps=N output=<file>: one forecast per series in the file."""
    import time

    import torch

    from ._context_forecast import check_output, forecast_context, read_context, write_forecast

    config = load_config(overrides)
    for key, example in (("run", "run=dynamix"), ("n_steps", "n_steps=10000"), ("output", "output=forecast.npy")):
        if config.get(key) is None:
            raise ConfigError(f"forecast from a context needs {key}: add {example}")
    if config.get("input") is not None:
        raise ConfigError("give either input=<store> (batch forecasts from its inits) or context=<series>, not both")
    torch.set_num_threads(_positive_int(config, "threads"))
    context = read_context(config["context"])
    check_output(config["output"], len(context))
    started = time.perf_counter()
    result = forecast_context(config["run"], context, config["n_steps"], channels=config["forecast"]["channels"],
                              seed=config["forecast"]["seed"])
    seconds = time.perf_counter() - started
    path = write_forecast(result, config["output"])
    print(f"forecast: {len(result)} series x {result.shape[1]} steps x {result.shape[2]} channels from "
          f"{context.shape[1]}-step contexts in {seconds:.2f} s -> {path}")
    return 0


def _skill_summary(path: Path) -> str:
    """Skill at the first and last lead, one line."""
    from .data import open_forecast

    ds = open_forecast(path)
    names = [n for n in ("rmse", "acc", "crps", "nse", "kge") if n in ds]
    at = [f"lead {ds.lead_step.values[i]}: " + ", ".join(f"{n} {float(ds[n].values[i]):.4g}" for n in names)
          for i in sorted({0, ds.sizes["lead"] - 1})]
    return "skill " + "; ".join(at) + f" (over {int(ds.n_verified.values[0])} verified inits at lead 1)"


def _compare(overrides: list[str]) -> int:
    from ._compare import compare_runs, write_comparison

    config = load_config(overrides)
    runs = config.get("runs")
    if isinstance(runs, str):
        runs = [runs]
    if not runs or not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
        raise ConfigError(f"compare needs runs=<run dir or folder of runs> or runs=[a,b], got {runs!r}")
    text, path = write_comparison(compare_runs(runs), Path(config["paths"]["runs"]) / "compare")
    print(text, end="")
    print(f"written: {path} and {path.with_suffix('.csv').name}")
    return 0


def _validate(overrides: list[str]) -> int:
    from .data import open_store, validate, verify_chunks

    config = load_config(overrides)
    store, deep = config.get("store"), config.get("deep")
    if not isinstance(store, str):
        raise ConfigError("validate needs the store to check: add store=<path to a .zarr store>")
    if not isinstance(deep, bool):
        raise ConfigError(f"deep must be true or false, got {deep!r}")
    ds = validate(store) if deep else open_store(store)
    if deep:
        verify_chunks(store)  # every chunk of every array, checksums verified where the store has them
    layout = ", ".join(f"{d}={n}" for d, n in ds.sizes.items())
    print(f"store: {store}: valid (kind {ds.attrs['kind']}, schema {ds.attrs['schema_version']}, complete; {layout}; "
          + ("every chunk read, no NaN/Inf)" if deep else "values not read: deep=true reads every chunk)"))
    return 0


def _positive_int(config: dict, key: str, *, nullable: bool = False) -> int | None:
    value = config.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{key} must be a positive integer{' or null' if nullable else ''}, got {value!r}")
    return value


def _pipeline(overrides: list[str]) -> int:
    load_settings(overrides)  # a bad override fails here, before Prefect is even imported
    # Prefect's embedded server gets 20 s to start by default: too short on a busy 2-core machine
    # (a pipeline under load 9 timed out). 120 s, as `make run` sets, unless the user chose.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.pipeline import check, pipeline  # installed with dynlearn (pyproject: packages)

    check(overrides)  # what the flow refuses besides (resume, seeds), before Prefect starts a server
    result = pipeline(overrides=overrides)
    _print_summary(Path(result["run_dir"]))
    return 0


def _print_summary(directory: Path) -> None:
    table = directory / "metrics_table.md"
    print(f"run: {directory}")
    if table.exists():
        print(table.read_text(), end="")

