"""The daily river loop as flows on the embedded Prefect server: train the ARX through the
pipeline, feed the basin day by day, forecast every day and score earlier forecasts."""

import csv


from tests.flows.support import read_artifacts_of
from tests.helpers import TINY_RIVER



def test_feed_and_forecast_day_by_day(prefect_server, workdir):
    from prefect.client.orchestration import get_client

    import dynlearn
    from flows.pipeline import pipeline
    from flows.river_daily import river_daily
    from flows.river_feed import river_feed

    assert river_daily(overrides=TINY_RIVER)["skipped"].startswith("no complete run of 'river'")  # nothing yet: says so
    run_dir = workdir / pipeline(overrides=TINY_RIVER)["run_dir"]
    assert dynlearn.load_run(run_dir).meta["model_name"] == "arx"
    for day in range(3):
        store = river_feed(overrides=TINY_RIVER)
        summary = river_daily(overrides=TINY_RIVER, lead=3)
        assert len(dynlearn.open_store(store)["time"]) == day + 1
        assert [row["lead"] for row in summary["scores"]] == list(range(1, day + 1))
    with open(summary["skill_history"]) as f:
        assert len(list(csv.DictReader(f))) == 0 + 1 + 2
    with get_client(sync_client=True) as client:
        runs = client.request("POST", "/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 1}).json()
        keys = {a["key"] for a in read_artifacts_of(client, runs[0]["id"])}
    assert {"river-skill-river", "forecast-store-river", "skill-history-river"} <= keys
