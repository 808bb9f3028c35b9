"""The Hydra config composed and validated into typed settings: what every command and flow starts from.

The config is composed with Hydra's compose API (no Hydra `outputs/`, no working-directory
change); Hydra's errors become one line naming the bad override and the fix.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from ._errors import ConfigError


def conf_dir() -> Path:
    """The Hydra config folder: $DYNLEARN_CONF, else the repository's conf/."""
    path = Path(os.environ.get("DYNLEARN_CONF") or Path(__file__).resolve().parents[1] / "conf")
    if not (path / "config.yaml").exists():
        raise ConfigError(f"no Hydra configs at {path}; set DYNLEARN_CONF to the repository's conf/ folder")
    return path


def load_config(overrides: list[str]) -> dict:
    """Compose conf/config.yaml with `overrides` and resolve it into a plain dict.

    Raises:
        ConfigError: one line naming the bad override and the fix.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    # The experiment group is declared in the defaults (so debug=fast can follow it); +exp=<name>,
    # the documented spelling, selects it like exp=<name>.
    overrides = [o[1:] if o.startswith("+exp=") else o for o in overrides]
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir()), job_name="dynlearn"):
            cfg = compose(config_name="config", overrides=overrides)
        return _command_line_wins(OmegaConf.to_container(cfg, resolve=True), overrides)
    except MissingConfigException as error:
        raise ConfigError(_missing_option_message(str(error))) from None
    except (HydraException, OmegaConfBaseException) as error:
        text = f"{error}\n{error.__cause__ or ''}"
        raise ConfigError(_override_message(text, overrides)) from None


def _command_line_wins(config: dict, overrides: list[str]) -> dict:
    """`config` with the model keys set on the command line dropped from the size block that
    `model_size` applies after composition (debug=fast's `small`, or `gpu`), so that
    ``model.width=32 debug=fast`` trains width 32. The saved config keeps the trimmed block, so
    a resume or an evaluation builds the same model."""
    model = config.get("model")
    block = model.get(config.get("model_size")) if isinstance(model, dict) else None
    if isinstance(block, dict):
        for override in overrides:
            key = override.split("=", 1)[0].lstrip("+~")
            if key.startswith("model.") and key.count(".") == 1:
                block.pop(key.removeprefix("model."), None)
    return config


def load_settings(overrides: list[str], *, check_model: bool = True):
    """Compose and validate: the `Settings` every command and flow starts from."""
    from ._settings import build_settings

    return build_settings(load_config(overrides), check_model=check_model)


def load_eval_spec(run_dir: str | Path, settings, overrides: list[str]):
    """How the run in `run_dir` was judged (the ``eval`` keys of its config.yaml: its context,
    PhyxMamba's short forecasts, ...), with the ``eval.*`` keys in `overrides` on top, as an
    `EvalSpec`: a re-evaluation compares with the run's first one unless the user asks otherwise.

    Args:
        settings: the `Settings` composed from `overrides` (their ``eval`` fills keys neither sets).
    """
    import yaml

    from ._settings import EvalSpec, typed

    config = Path(run_dir) / "config.yaml"
    saved = ((yaml.safe_load(config.read_text()) or {}).get("eval") or {}) if config.exists() else {}
    current = settings.config["eval"]
    given = {o.lstrip("+").split("=", 1)[0].removeprefix("eval.") for o in overrides
             if o.lstrip("+").startswith("eval.")}
    merged = {**current, **{k: v for k, v in saved.items() if k in current and k not in given}}
    return typed(EvalSpec, merged, "eval")


def load_ingest(overrides: list[str]):
    """Compose and validate what ``ingest`` reads: ``(source, target store, IngestSpec)``.

    The target is ``<paths.data>/<name>.zarr``, `name` defaulting to the source file's stem.
    """
    from ._settings import typed
    from .data import IngestSpec

    config = load_config(overrides)
    if config.get("source") is None:
        raise ConfigError("ingest needs the file to read: add source=<path to a .h5/.hdf5, .nc, .npy or .csv file>")
    source = Path(config["source"])
    options = dict(config["ingest"])
    split = options.pop("split", IngestSpec.split)
    spec = IngestSpec(**{**vars(typed(IngestSpec, options, "ingest")), "split": split})  # typed() checks scalars
    named = any(o.split("=", 1)[0].lstrip("+~") == "name" for o in overrides)
    name = str(config["name"]) if named else source.stem
    return source, Path(config["paths"]["data"]) / f"{name}.zarr", spec


def load_forecast(overrides: list[str]):
    """Compose and validate what ``forecast`` reads: ``(run directory, input store, ForecastSpec)``."""
    from ._forecast import ForecastSpec
    from ._settings import typed

    config = load_config(overrides)
    if not isinstance(config.get("run"), str):
        raise ConfigError("forecast needs the run to forecast with: add run=<run directory> (under runs/)")
    if not isinstance(config.get("input"), str):
        raise ConfigError("forecast needs the store to start from: add input=<store .zarr> (e.g. the run's data store)")
    return Path(config["run"]), Path(config["input"]), typed(ForecastSpec, config["forecast"], "forecast")


def _missing_option_message(text: str) -> str:
    found = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if not found:
        return text.splitlines()[0]
    group, name = found.groups()
    options = re.findall(r"^\t(\S+)$", text, flags=re.M)
    kind = {"exp": "experiment", "system": "system", "model": "model"}.get(group, f"{group} option")
    choices = f"; choose one of: {', '.join(options)}" if options else ""
    return f"unknown {kind} '{name}' ({group}={name}){choices}"


def _override_message(text: str, overrides: list[str]) -> str:
    key = re.search(r"Could not override '([^']+)'", text) or re.search(r"full_key: (\S+)", text)
    if "Key '" in text and "is not in struct" in text and key:
        full_key = key.group(1)
        hint = _suggest_key(full_key)
        return (f"unknown config key '{full_key}'{hint}; check the spelling "
                f"(`python -m dynlearn train --cfg` prints every key)")
    if "mismatched input" in text or "no viable alternative" in text or "missing EQUAL" in text:
        bad = next((o for o in overrides if "=" not in o), overrides[-1] if overrides else "")
        return f"cannot parse override '{bad}'; write key=value (or +exp=<name>)"
    first = next((line.strip() for line in text.splitlines() if line.strip()), text)
    return f"{first}; fix the override"


def _suggest_key(full_key: str) -> str:
    try:
        config = load_config([])
    except ConfigError:
        return ""
    keys = list(_flatten(config))
    close = difflib.get_close_matches(full_key, keys, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _flatten(config: dict, prefix: str = ""):
    for key, value in config.items():
        name = f"{prefix}{key}"
        yield name
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
