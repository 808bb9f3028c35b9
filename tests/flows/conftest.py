"""One embedded Prefect server (the test harness, SQLite) for every flow test in the session."""

import os

import pytest


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ.update(PREFECT_HOME=str(home), PREFECT_SERVER_EPHEMERAL_ENABLED="true",
                      PREFECT_SERVER_ANALYTICS_ENABLED="false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

