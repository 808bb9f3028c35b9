# dynlearn: `make run` sets up and runs the Lorenz pipeline; `make test` sets up and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The embedded Prefect server keeps its SQLite database here, not in the user's ~/.prefect.
PREFECT_ENV := PREFECT_HOME=$(CURDIR)/.prefect PREFECT_SERVER_EPHEMERAL_ENABLED=true \
	PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120 \
	PREFECT_LOGGING_LEVEL=WARNING MPLBACKEND=Agg \
	OMP_WAIT_POLICY=PASSIVE
# PASSIVE: on a shared 2-core machine, spinning OpenMP threads wait ~100 ms per call for a core
# another job holds (bench/RESULTS.md).

.PHONY: setup run test bench serve clean

setup: $(STAMP)

# torch first: the pinned CPU build lies on local disk; an unpinned resolve would pull CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# The fused CPU selective scan (C++, about 45 s); without a compiler the ops fall back to
	# their chunked PyTorch path, so a failed build does not stop setup.
	-$(BIN)/python -m dynlearn.ops._selective_scan_cpu --build
	# DynaMix's fused free run (C++, about 30 s); without it DynaMix runs its PyTorch loop.
	-$(BIN)/python -m dynlearn.models.dynamix._fused --build
	touch $(STAMP)

run: setup
	$(PREFECT_ENV) $(BIN)/python -m dynlearn pipeline +exp=lorenz

# A Prefect server on PostgreSQL (database DYNLEARN_PREFECT_DB, created if missing) and the
# scheduled deployments of flows/serve.py, until Ctrl-C: make serve [DEPLOYMENTS="nightly-pipeline debug=fast"]
serve: setup
	PREFECT_HOME=$(CURDIR)/.prefect PREFECT_SERVER_ANALYTICS_ENABLED=false MPLBACKEND=Agg OMP_WAIT_POLICY=PASSIVE \
		$(BIN)/python -m flows.server $(DEPLOYMENTS)

test: setup
	$(PREFECT_ENV) $(BIN)/python -m pytest --durations=25

bench: setup
	$(PREFECT_ENV) $(BIN)/python -m pytest -m slow --durations=25
	$(BIN)/python bench/bench_generation.py
	$(BIN)/python bench/bench_ks.py
	$(BIN)/python bench/bench_navier_stokes.py
	$(BIN)/python bench/bench_zarr_write.py
	$(BIN)/python bench/bench_scan.py
	$(BIN)/python bench/bench_ssd.py
	$(BIN)/python bench/bench_scan_gpu.py
	$(BIN)/python bench/bench_ssd_gpu.py
	$(BIN)/python bench/bench_forecast.py --repeats 5 --threads 1
	$(PREFECT_ENV) $(BIN)/python bench/bench_flow_overhead.py
	$(BIN)/python bench/bench_training.py --exp lorenz --seeds 5 --jobs 2
	$(BIN)/python bench/bench_training.py --exp rossler --seeds 3 --jobs 2
	$(BIN)/python bench/bench_training.py --exp lorenz96 --seeds 3 --jobs 2

# neuraloperator's FNO for bench/bench_fno_vs_neuralop.py only (never `make test`). --no-deps: the package
# and the three modules `from neuralop.models import FNO` imports; its full set (wandb and the rest) would
# move opentelemetry-api, which Prefect uses, and SFNO's torch-harmonics is optional. Pins the project's
# torch, numpy, zarr stay.
.PHONY: bench-extras
bench-extras: setup
	$(BIN)/pip install --quiet --no-deps neuraloperator==2.0.0 tensorly==0.10.0 tensorly-torch==0.5.0 opt-einsum==3.4.0

clean:
	rm -rf $(VENV) .prefect
