"""What every flow shares: the task policy, cache keys, outputs that appear whole, artifacts, the command line.

Tasks exchange store URIs and run directories, never arrays. A task's output appears complete
or not at all: a store left partial by a task that failed for good is removed, a run
trains in a private folder and is moved into ``runs/<name>/`` when training has finished, an
evaluation that fails removes what it added to the run directory.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.context import TaskRunContext

import dynlearn
from dynlearn.atomic import atomic_write_json
from dynlearn.data import is_complete, store_lock


@dataclasses.dataclass(frozen=True)
class Policy:
    """How a stage's task is retried and bounded."""

    retries: int
    retry_delay_seconds: float
    timeout_seconds: float


# Retries are for faults that can pass (a file system or object store hiccup), see
# `retry_can_help`. Timeouts bound a stuck stage at several times its expected length on
# 2 cores (full Lorenz: seconds to generate, ~10 min to train; KS/NS: hours).
POLICY = {
    "generate": Policy(retries=2, retry_delay_seconds=10, timeout_seconds=6 * 3600),
    "ingest": Policy(retries=2, retry_delay_seconds=10, timeout_seconds=2 * 3600),
    "train": Policy(retries=1, retry_delay_seconds=30, timeout_seconds=24 * 3600),
    "evaluate": Policy(retries=1, retry_delay_seconds=10, timeout_seconds=4 * 3600),
    "forecast": Policy(retries=1, retry_delay_seconds=10, timeout_seconds=6 * 3600),
    "river_feed": Policy(retries=2, retry_delay_seconds=10, timeout_seconds=3600),
    "river_daily": Policy(retries=2, retry_delay_seconds=10, timeout_seconds=3600),
}


def transient(error: BaseException) -> bool:
    """An I/O fault that can pass (OSError); not a user or data error (the same input fails the
    same way), a bug, or a timeout (a retry would only double the wait)."""
    return isinstance(error, OSError) and not isinstance(error, TimeoutError)


def retry_can_help(task, task_run, state) -> bool:
    """Prefect's retry condition: retry transient faults only."""
    return transient(state.result(raise_on_failure=False))


def retry_follows(error: BaseException) -> bool:
    """Whether Prefect runs the current task again after `error`."""
    context = TaskRunContext.get()
    return context is not None and context.task_run.run_count <= context.task.retries and transient(error)


def task_options(stage: str) -> dict:
    """The `@task` keywords of a stage: its name, retries and timeout."""
    policy = POLICY[stage]
    return {"name": stage, "retries": policy.retries, "retry_delay_seconds": policy.retry_delay_seconds,
            "timeout_seconds": policy.timeout_seconds, "retry_condition_fn": retry_can_help}


@functools.cache
def code_version() -> str:
    """dynlearn's version and a digest of its source and the flows': any code change is a new version
    (the version number alone stays the same between commits)."""
    digest = hashlib.sha256()
    for package in (Path(dynlearn.__file__).parent, Path(__file__).parent):
        for path in sorted(package.rglob("*")):
            if path.suffix in (".py", ".yaml", ".cpp") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(package)).encode() + path.read_bytes())
    return f"{dynlearn.__version__}+{digest.hexdigest()[:12]}"


def digest(obj) -> str:
    """A short hash of a JSON-able object (paths and other values as strings)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cache_key(stage: str, config_hash: str, *where) -> str:
    """The cache key of a task: its stage, the config hash, the code version and a digest of
    where it reads and writes (absolute paths), so another folder never shares a result."""
    return f"{stage}-{config_hash}-{code_version()}-{digest(where)}"


def cached(task, still_there: Callable[[str], bool], *args):
    """Call a cached task; if the output its cached result names is gone, run it again."""
    result = task(*args)
    return result if still_there(result) else task.with_options(refresh_cache=True)(*args)


def run_state(run_dir: str | Path) -> str | None:
    """The state in a run directory's status.json (running, trained, complete, diverged), if any."""
    path = Path(run_dir) / "status.json"
    return json.loads(path.read_text()).get("state") if path.exists() else None


@contextmanager
def store_or_nothing(path: Path) -> Iterator[None]:
    """If the block fails and no retry follows, a store at `path` that is not complete is removed
    (a retry resumes it: generation continues from its last chunk)."""
    try:
        yield
    except BaseException as error:
        if not retry_follows(error):
            with store_lock(path):  # under the store's lock: never under another job writing it
                if path.exists() and not is_complete(path):
                    shutil.rmtree(path)
        raise


@contextmanager
def staged_run(settings: dynlearn.Settings) -> Iterator[dynlearn.Settings]:
    """`settings` whose runs go to a private folder under ``<runs>/.incomplete/``, removed on exit:
    move the finished run out with `move_into_place` first."""
    root = settings.runs_root / ".incomplete"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root))
    try:
        yield dataclasses.replace(settings, runs_root=staging)  # the run's config.yaml keeps paths.runs
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def move_into_place(run_dir: Path, settings: dynlearn.Settings) -> Path:
    """Rename a staged run to ``<runs>/<name>/<its timestamp>`` (one rename: it appears whole)."""
    target = settings.runs_root / settings.name / run_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    return target


@contextmanager
def additions_removed_on_failure(folder: Path) -> Iterator[None]:
    """What this block adds to `folder` is removed if the block fails. (A second job adding to the
    same folder at the same moment would lose its additions too; a deployment's concurrency limit
    keeps its scheduled runs apart.)"""
    before = set(folder.iterdir())
    try:
        yield
    except BaseException:
        for path in set(folder.iterdir()) - before:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        raise


def artifact_key(*parts: str) -> str:
    """An artifact key (lowercase letters, digits and dashes) from names."""
    return "-".join("".join(c if c.isalnum() else "-" for c in part.lower()) for part in parts)


def publish_stores(name: str, stores: list[str]) -> None:
    """A table artifact of stores (path, kind, sizes, config hash)."""
    rows = []
    for store in stores:
        ds = dynlearn.open_store(store)
        rows.append({"store": str(Path(store).resolve()), "kind": ds.attrs["kind"],
                     "sizes": ", ".join(f"{d}={n}" for d, n in ds.sizes.items()),
                     "config_hash": ds.attrs.get("config_hash")})
    create_table_artifact(table=rows, key=artifact_key("stores", name), description=f"stores of {name}")


def publish_run(name: str, run_dir: str | Path) -> None:
    """A link artifact to a run directory."""
    run_dir = Path(run_dir).resolve()
    create_link_artifact(link=run_dir.as_uri(), link_text=str(run_dir), key=artifact_key("run", name),
                         description=f"run directory of {name} ({run_state(run_dir)})")


def publish_evaluation(name: str, run_dir: str | Path, folder: str | Path) -> str:
    """The metrics table (a table artifact; also kept in the evaluation folder as artifact.json,
    readable after an embedded server has stopped), a report with the links to the run directory
    and the plots (markdown), and a link to the run; returns the table artifact's id."""
    folder = Path(folder).resolve()
    rows = dynlearn.metrics_table(json.loads((folder / "metrics.json").read_text()))
    key = artifact_key("metrics", name)
    artifact_id = str(create_table_artifact(table=rows, key=key,
                                            description=f"Invariants of {folder} (beside the true-vs-true floor)"))
    atomic_write_json({"key": key, "artifact_id": artifact_id, "table": rows}, folder / "artifact.json")
    # Plots are links: an image artifact takes only a URL the browser can fetch.
    run_dir = Path(run_dir).resolve()
    links = [f"- [{p.name}]({p.as_uri()})" for p in sorted(folder.glob("*.png"))]
    report = "\n".join([(folder / "metrics_table.md").read_text(), f"- run directory: [{run_dir}]({run_dir.as_uri()})",
                        f"- evaluation: [{folder}]({folder.as_uri()})", *links])
    create_markdown_artifact(markdown=report, key=artifact_key("report", name), description=f"evaluation in {folder}")
    publish_run(name, run_dir)
    return artifact_id


def checked_settings(overrides: list[str] | None, *, check_model: bool = True) -> dynlearn.Settings:
    """`dynlearn.load_settings`, refusing what a flow does not do (resume, seeds)."""
    settings = dynlearn.load_settings(list(overrides or []), check_model=check_model)
    if settings.resume not in (None, False):
        raise dynlearn.ConfigError("flows start fresh runs; resume one with python -m dynlearn train resume=...")
    if settings.config.get("seeds") is not None:
        raise dynlearn.ConfigError("flows train one seed per run; drop seeds, or use python -m dynlearn train seeds=<n>")
    return settings


def command_line(module: str, flow, check, argv: list[str], params: dict[str, Callable[[str], object]]) -> int:
    """`python -m <module> [key=value ...]`: the flow's own parameters (`params`, by name) and
    Hydra overrides (everything else). Bad input ends with one line on stderr and exit code 2
    before Prefect starts and before anything is written; so does a user error the flow raises."""
    if any(a in ("-h", "--help") for a in argv):
        print(f"usage: python -m {module} [key=value ...] [group=option ...] [+exp=<name>]"
              + "".join(f" [{p}=...]" for p in params) + f"\n\n{flow.description}")
        return 0
    try:
        kwargs, overrides = {}, []
        for arg in argv:
            key, _, value = arg.partition("=")
            if key in params:
                kwargs[key] = _parse(key, value, params[key])
            else:
                overrides.append(arg)
        check(overrides, **kwargs)
        flow(overrides=overrides, **kwargs)
    except dynlearn.DynlearnError as error:
        print(f"python -m {module}: error: {error}", file=sys.stderr)
        return 2
    return 0


def flag(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(value)
    return value == "true"


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(value)
    return int(value)


def _parse(key: str, value: str, parse: Callable[[str], object]):
    try:
        return parse(value)
    except ValueError:
        kind = {flag: "true or false", positive_int: "a positive integer"}.get(parse, parse.__name__)
        raise dynlearn.ConfigError(f"{key} must be {kind}, got {value!r}") from None
