"""Freshness under Airflow's own scheduler: a Politie melding reaches the victim portal through
the asset its receiving run updated, not through the delivery DAG's cron; a poll that found
nothing wakes no delivery DAG."""
import json
import time

import pytest
from sqlalchemy import select

from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.simulators.politie import PolitieSimulator
from ketenhub.store.tables import delivery
from tests.support.airflow_server import AirflowServer
from tests.support.project import adapters_of_its_own

RECEIVE, DELIVER = "ketenhub_receive_politie", "ketenhub_deliver_kbsp"


def runs(api, server, dag_id: str) -> list[dict]:
    return api.get(f"{server.url}/api/v2/dags/{dag_id}/dagRuns", params={"order_by": "run_after"}).json()["dag_runs"]


def until(condition, what: str, tries: int = 300):
    """Polled once a second: the scheduler's pace, on a shared machine, is not asserted."""
    for _ in range(tries):
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_melding_reaches_the_portal_on_the_asset_not_the_cron(hub, tmp_path):
    # The delivery DAG's own cron (every ten minutes) could fire between the receiving and the
    # asset's run and deliver first; here it fires on New Year's night only.
    project = adapters_of_its_own(tmp_path / "project")
    kbsp = project / "adapters" / "kbsp.yaml"
    definition = kbsp.read_text()
    assert 'schedule: "*/10 * * * *"' in definition
    kbsp.write_text(definition.replace('schedule: "*/10 * * * *"', 'schedule: "0 0 1 1 *"', 1))
    politie, portal = PolitieSimulator(seed=7).start(), KbspSimulator(store=tmp_path / "portal").start()
    server = AirflowServer(tmp_path / "airflow", {
        "KETENHUB_HOME": str(hub.settings.home), "KETENHUB_DATABASE_URL": hub.settings.database_url,
        "KETENHUB_PROJECT": str(project),
        "AIRFLOW_CONN_KETENHUB_POLITIE": json.dumps(politie.connection()),
        **{f"AIRFLOW_CONN_KETENHUB_{name.upper()}": json.dumps(c) for name, c in portal.connections().items()}},
        components=("api-server", "scheduler", "dag-processor"))
    try:
        api = server.session("admin")
        server.unpause(DELIVER)
        server.unpause(RECEIVE)
        # An empty poll: it succeeds and announces nothing, so no delivery run is asked for.
        empty = until(lambda: [r for r in runs(api, server, RECEIVE) if r["state"] == "success"], "an empty poll")[0]
        ti = f"{server.url}/api/v2/dags/{RECEIVE}/dagRuns/{empty['dag_run_id']}/taskInstances/ingest"
        assert api.get(f"{ti}/xcomEntries/return_value").json()["value"]["routed"] == {}
        assert api.get(f"{server.url}/api/v2/assets/events", params={"name_pattern": "ketenhub_routed_kbsp"}
                       ).json()["asset_events"] == []

        ids = politie.add(3)
        with_status = until(lambda: [k for k in portal.accepted if k.partition(".")[0] in ids], "the portal's status")
        until(lambda: all(s == "delivered" for s in states(hub)), "every delivery settled")

        # The asset carried it: the event names the count, and the run that delivered was made by it.
        events = api.get(f"{server.url}/api/v2/assets/events", params={"name_pattern": "ketenhub_routed_kbsp"}
                         ).json()["asset_events"]
        assert {e["source_dag_id"] for e in events} == {RECEIVE}
        assert sum(e["extra"]["deliveries"] for e in events) == len(with_status)
        until(lambda: [r for r in runs(api, server, DELIVER) if r["run_type"] == "asset_triggered"
                       and r["state"] not in ("queued", "running")], "the asset-triggered run ended")
        delivered = {}
        for run in runs(api, server, DELIVER):
            base = f"{server.url}/api/v2/dags/{DELIVER}/dagRuns/{run['dag_run_id']}/taskInstances/send"
            for sender in (0, 1):
                xcom = api.get(f"{base}/xcomEntries/return_value", params={"map_index": sender}).json()
                delivered[run["run_type"]] = delivered.get(run["run_type"], 0) + xcom.get("value", {}).get("delivered", 0)
        assert delivered.get("asset_triggered") == len(with_status)
        assert sum(delivered.values()) == len(with_status)
        assert portal.duplicates == 0
    finally:
        server.stop()
        politie.stop()
        portal.stop()


def states(hub) -> list[str]:
    with hub.engine.connect() as conn:
        return conn.scalars(select(delivery.c.state)).all()
