"""User errors: one line naming the problem and the fix, exit code 2, nothing written."""

import numpy as np
import pytest
import torch
import zarr

from dynlearn.cli import main
from tests.helpers import TINY_DATA, TINY_TRAIN, run_cli, tree

CASES = {
    "unknown system": (["system=lorenz64"], "unknown system 'lorenz64'"),
    "unknown model": (["model=transformerz"], "unknown model 'transformerz'"),
    "unknown experiment": (["+exp=lorenzz"], "unknown experiment 'lorenzz'"),
    "misspelled override": (["trainer.epoch=3"], "did you mean 'trainer.epochs'"),
    "unknown system parameter": (["+system.params.rh0=3"], "rh0"),
    "missing data path": (["data.path=/nonexistent/store.zarr"], "does not exist"),
    "non-positive dt": (["system.dt=0"], "system.dt must be a positive number"),
    "negative dt": (["system.dt=-0.01"], "system.dt must be a positive number"),
    "wrong type": (["trainer.epochs=many"], "trainer.epochs must be int"),
    "unparsable override": (["trainer.epochs"], "write key=value"),
    "vector model on a grid": (["system=river", "data=river"], "model 'alrnn' learns ODE states, 1-D fields, recorded series only: choose model=arx"),
    "grid model on ODE data": (["model=arx"], "model 'arx' learns river grids only: choose model="),
    "unknown model size": (["model_size=huge"], "unknown model_size 'huge'"),
    "family without gpu sizes": (["model_size=gpu"], "model 'alrnn' has no gpu sizes"),
    "non-positive Lyapunov unit": (["eval.short_lyapunov_time=0"], "eval.short_lyapunov_time must be positive"),
    "horizon inside a window": (["trainer.horizon=10", "trainer.seq_len=20"], "trainer.horizon (10) must exceed"),
    "Φ-ROM on an ODE": (["model=phirom"], "model 'phirom' learns"),
}
if not torch.cuda.is_available():  # the paper-sized configurations are refused on a machine without CUDA
    CASES["gpu sizes without CUDA"] = (["model=neural_ode", "model_size=gpu"],
                                       "model_size=gpu is the paper-sized configuration for a CUDA GPU")


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_exit_2_and_writes_nothing(case, workdir, capsys):
    overrides, expected = CASES[case]
    code = main(["train", *overrides])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and expected in err, err
    assert tree(workdir) == set()  # no runs/, data/ or outputs/


def test_nan_in_data_refused_before_any_run_dir(workdir, capsys):
    assert main(["generate", *TINY_DATA, "data.name=bad"]) == 0
    store = workdir / "data" / "bad.zarr"
    zarr.open_group(str(store), mode="r+", use_consolidated=False)["state"][0, 5, 0] = np.nan
    before = tree(workdir)
    capsys.readouterr()
    code = main(["train", *TINY_DATA, *TINY_TRAIN, f"data.path={store}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "NaN" in err, err
    assert tree(workdir) == before


def test_unknown_command_and_help(workdir, capsys):
    assert main(["trian"]) == 2
    assert "did you mean 'train'" in capsys.readouterr().err
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "alrnn" in out and "lorenz63" in out and "exp" in out


def test_real_process_exit_code_and_no_traceback(tmp_path):
    result = run_cli(["train", "system=nope"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "unknown system 'nope'" in result.stderr and "lorenz63" in result.stderr
    assert tree(tmp_path) == set()


def test_short_forecasts_the_test_data_cannot_hold_are_refused_before_any_run_dir(workdir, capsys):
    assert main(["generate", *TINY_DATA]) == 0
    capsys.readouterr()
    code = main(["train", *TINY_DATA, *TINY_TRAIN, "eval.short_context=30", "eval.short_horizon=5000"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "short-forecast protocol" in err, err
    assert not (workdir / "runs").exists()
