"""dynlearn: learn dynamical systems from data, judged on the invariants of their attractors.

The Python API is the one the CLI and the Prefect flows use::

    import dynlearn
    settings = dynlearn.load_settings(["+exp=lorenz"])
    store = dynlearn.generate(settings)           # simulate into Zarr (resumable)
    run_dir = dynlearn.train(settings)            # train + evaluate into runs/<name>/<time>/
    run = dynlearn.load_run(run_dir)              # model, normalizer, metadata
    free = run.model.rollout(context, 10_000)     # free run from a context window
    ds = dynlearn.open_store(store)               # schema-checked, lazy xarray Dataset
    dynlearn.validate(store)                      # ... and every chunk read (no NaN/Inf)
    path = dynlearn.forecast(run_dir, store, dynlearn.ForecastSpec(lead=200))  # batch forecasts into Zarr

Each command of ``python -m dynlearn`` reaches one of these: generate, ingest, train, evaluate
(`evaluate_run`), forecast, compare (`compare_runs`), validate (`open_store` / `validate`), pipeline
(`flows.pipeline.pipeline`).
"""

from ._version import __version__ as __version__  # noqa: E402

from ._compare import compare_runs as compare_runs  # noqa: E402
from ._errors import ConfigError as ConfigError  # noqa: E402
from ._errors import DataError as DataError  # noqa: E402
from ._errors import DynlearnError as DynlearnError  # noqa: E402
from ._errors import TrainingDiverged as TrainingDiverged  # noqa: E402
from ._evaluate import evaluate as evaluate  # noqa: E402
from ._evaluate import metrics_table as metrics_table  # noqa: E402
from ._forecast import ForecastSpec as ForecastSpec  # noqa: E402
from ._forecast import forecast as forecast  # noqa: E402
from ._river_daily import river_daily as river_daily  # noqa: E402
from ._run import Run as Run  # noqa: E402
from ._run import load_run as load_run  # noqa: E402
from ._seeds import train_seeds as train_seeds  # noqa: E402
from ._settings import EvalSpec as EvalSpec  # noqa: E402
from ._settings import Settings as Settings  # noqa: E402
from ._workflow import complete_run as complete_run  # noqa: E402
from ._workflow import evaluate_run as evaluate_run  # noqa: E402
from ._workflow import generate as generate  # noqa: E402
from ._workflow import train as train  # noqa: E402
from ._compose import load_settings as load_settings  # noqa: E402
from ._compose import load_ingest as load_ingest  # noqa: E402
from ._compose import load_forecast as load_forecast  # noqa: E402
from ._compose import load_eval_spec as load_eval_spec  # noqa: E402
from .data import ingest as ingest  # noqa: E402
from .data import open_store as open_store  # noqa: E402
from .data import validate as validate  # noqa: E402
