"""One grammar for every command (DESIGN §4, `python -m dynlearn --help`): key=value overrides,
group=option, +exp=<name>, --cfg and --help; the same one-line error for the same mistake."""

import numpy as np
import pytest
import zarr

from dynlearn.cli import COMING, _commands, main, usage
from tests.helpers import TINY_DATA, tree

COMMANDS = list(_commands())


def test_help_writes_the_grammar_and_every_command_with_its_keys():
    text = usage()
    assert "<command> [key=value ...] [group=option ...] [+exp=<name>] [--cfg] [--help]" in text
    for name, command in _commands().items():
        assert f"  {name:<9} {command.summary}" in text and command.keys in text
    for name, keys in COMING.items():  # the commands to come are written in the same grammar
        assert f"  {name:<9} {keys}" in text and "=" in keys


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_key_value_and_refuses_anything_else_in_one_line(command, workdir, capsys):
    assert main([command, "--help"]) == 0
    assert _commands()[command].keys in capsys.readouterr().out
    assert main([command, "--cfg", "seed=7"]) == 0  # composes like every other command
    assert "seed: 7" in capsys.readouterr().out
    for bad, expected in ((["epochs"], "write key=value"), (["trainer.epoch=3"], "did you mean 'trainer.epochs'"),
                          (["--force"], "everything else is key=value")):
        assert main([command, *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, (command, bad, err)
    assert tree(workdir) == set()


def test_a_coming_command_is_refused_in_one_line(workdir, capsys):
    assert main(["dashboard", "port=5006"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in this version" in err


def test_validate_reads_every_chunk_only_when_deep(workdir, capsys):
    assert main(["generate", *TINY_DATA, "data.name=v"]) == 0
    store = workdir / "data" / "v.zarr"
    capsys.readouterr()
    assert main(["validate", f"store={store}", "deep=true"]) == 0
    assert "every chunk read, no NaN/Inf" in capsys.readouterr().out
    zarr.open_group(str(store), mode="r+", use_consolidated=False)["state"][1, 7, 2] = np.nan
    assert main(["validate", f"store={store}"]) == 0  # schema and completeness only: the NaN is not read
    assert "values not read" in capsys.readouterr().out
    assert main(["validate", f"store={store}", "deep=true"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN" in err, err
    assert main(["validate"]) == 2 and "add store=" in capsys.readouterr().err


def test_every_command_reaches_a_public_function():
    """What a command does, the Python API does too (the names the package's docstring lists)."""
    import dynlearn
    import flows.pipeline

    public = {"generate": dynlearn.generate, "ingest": dynlearn.ingest, "train": dynlearn.train,
              "evaluate": dynlearn.evaluate_run, "compare": dynlearn.compare_runs, "validate": dynlearn.validate,
              "forecast": dynlearn.forecast, "pipeline": flows.pipeline.pipeline}
    assert set(public) == set(COMMANDS)
    assert all(callable(f) for f in public.values())
    for name in ("generate", "ingest", "train", "evaluate_run", "forecast", "compare_runs", "validate"):
        assert name in dynlearn.__doc__ and name in dir(dynlearn)
