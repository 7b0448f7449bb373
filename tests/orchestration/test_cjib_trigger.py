"""Events CJIB pushed are processed at once: the service starts a run of ketenhub_receive_cjib
through a real Airflow API server's REST API, with the credentials of its Connection; a call
that stores nothing new starts none."""
import json
import time

import pytest

from ketenhub.simulators.cjib_push import event, request
from tests.support.airflow_server import AirflowServer
from tests.support.cjib import serving


@pytest.fixture
def airflow(tmp_path, hub):
    s = AirflowServer(tmp_path / "airflow", {"KETENHUB_HOME": str(hub.settings.home),
                                             "KETENHUB_DATABASE_URL": hub.settings.database_url})
    yield s
    s.stop()


def runs(airflow) -> list[dict]:
    api = airflow.session("admin")
    answer = api.get(f"{airflow.url}/api/v2/dags/ketenhub_receive_cjib/dagRuns")
    assert answer.status_code == 200, answer.text
    return answer.json()["dag_runs"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_stored_events_trigger_a_run_of_the_receiving_dag(airflow, hub, connection):
    connection("airflow_api", "http", host=airflow.url, login="operator", password=airflow.passwords["operator"],
               extra={"insecure_plain_http": True})  # the test's API server on loopback, as the demo's
    with serving(hub, connection) as (service, cjib):
        assert cjib.call(request([event("CJIB-TR-1")])).results[0][1] == "ONTVANGEN"
        for _ in range(100):  # the trigger is sent from a thread of its own, after the answer
            if service.trigger.runs:
                break
            time.sleep(0.2)
        [run] = runs(airflow)
        assert run["run_type"] == "manual" and "ketenhub serve" in (run.get("note") or json.dumps(run))
        assert run["conf"] == {"routed_after": 0}  # the deliveries after this are the ones the call made
        assert cjib.call(request([event("CJIB-TR-1")])).results[0][1] == "DUPLICAAT"
        assert service.trigger.fired == 1  # nothing new stored: no run asked for (it is asked before the answer)


def test_the_receiving_dag_is_made_by_the_factory_with_a_slow_safety_schedule():
    from ketenhub.orchestration.dags import build

    dag = build()["ketenhub_receive_cjib"]
    assert dag.timetable.expression == "17 * * * *" and [t.task_id for t in dag.tasks] == ["ingest"]


class Announced:
    """What a receiving task's outlet_events were given: the routed assets, by name."""

    def __init__(self):
        self.assets = []

    def __getitem__(self, alias):
        return self

    def add(self, asset, extra=None):
        self.assets.append((asset.name, extra))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_triggered_run_announces_what_the_service_routed_before_it_started(hub, connection):
    from ketenhub.orchestration.dags import _received
    from ketenhub.store.routed import watermark

    with hub.engine.connect() as conn:
        before = watermark(conn)  # what the service hands the run as routed_after
    with serving(hub, connection) as (service, cjib):
        assert cjib.call(request([event("CJIB-F-1")])).results[0][1] == "ONTVANGEN"
    partner = hub.registry.partner("cjib")
    announced = Announced()
    assert _received(partner, None, announced, routed_after=before)["routed"] == {"kbsp": 1}  # through v2
    assert announced.assets == [("ketenhub_routed_kbsp", {"deliveries": 1})]
    assert _received(partner, None, Announced())["routed"] == {}  # a scheduled run: nothing new since it began


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_what_a_delivery_dag_runs_on_is_announced(hub, connection, monkeypatch):
    """CJIB's files go nightly (on_arrival: false): no DAG runs on its asset, and an event on it
    would have Airflow create the asset, which two receiving tasks at once failed on."""
    from ketenhub.orchestration import dags
    from ketenhub.store import routed
    monkeypatch.setattr(routed, "routed_since", lambda conn, mark: {"cjib": 3, "kbsp": 2})
    announced = Announced()
    with serving(hub, connection):
        assert dags._received(hub.registry.partner("cjib"), None, announced)["routed"] == {"cjib": 3, "kbsp": 2}
    assert announced.assets == [("ketenhub_routed_kbsp", {"deliveries": 2})]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_night_of_files_is_announced_once_from_its_first_files_start(hub, monkeypatch):
    """A file's task announces nothing (two at once raced in Airflow); the task after them
    announces what was routed since the earliest of them began, each destination once."""
    from ketenhub.orchestration import dags
    from ketenhub.store import routed
    marks = []
    monkeypatch.setattr(routed, "routed_since", lambda conn, mark: marks.append(mark) or {"cjib": 4, "kbsp": 6})
    announced = Announced()
    night = [{"routed_after": 9, "routed": {"kbsp": 2}}, {"routed_after": 3, "routed": {"kbsp": 6}}]
    assert dags._night_announced(hub.registry.partner("om"), night, announced) == {"cjib": 4, "kbsp": 6}
    assert marks == [3] and announced.assets == [("ketenhub_routed_kbsp", {"deliveries": 6})]
