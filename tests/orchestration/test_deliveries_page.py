"""The Deliveries page in a real Airflow API server: Airflow's own users and roles decide who
may read, replay and see personal data; every replay is audited and starts a delivery run."""
import pytest
from sqlalchemy import select

from ketenhub.deliver.run import deliver
from ketenhub.store.tables import audit, delivery
from tests.airflow_server import AirflowServer
from tests.conftest import ingest
from tests.factories import Unreachable


@pytest.fixture
def server(tmp_path, hub):
    s = AirflowServer(tmp_path / "airflow", {"KETENHUB_HOME": str(hub.settings.home),
                                             "KETENHUB_DATABASE_URL": hub.settings.database_url})
    yield s
    s.stop()


@pytest.fixture
def dead(hub, sample, monkeypatch):
    """Two CJIB deliveries that failed until they were dead."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    from dataclasses import replace
    dest = replace(hub.registry.destination("cjib"), max_attempts=1)
    deliver(hub, dest, Unreachable())
    with hub.engine.connect() as conn:
        return conn.scalars(select(delivery.c.id).where(delivery.c.state == "dead")).all()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_who_may_do_what_on_the_deliveries_page(server, hub, dead):
    page = f"{server.url}/ketenhub/deliveries"
    import requests
    assert requests.get(page).status_code == 401  # not logged in: nothing

    viewer, operator, admin = (server.session(u) for u in ("viewer", "operator", "admin"))
    listing = viewer.get(page, params={"destination": "cjib"})
    assert listing.status_code == 200 and listing.text.count("destination unreachable") == len(dead) == 5
    denied = viewer.post(f"{page}/replay", data={"action": "replay-filter", "reason": "try", "destination": "cjib"})
    assert denied.status_code == 403

    detail = operator.get(f"{page}/{dead[0]}")
    assert detail.status_code == 200 and "123456782" not in detail.text and "masked" in detail.text
    assert "123456782" in admin.get(f"{page}/{dead[0]}").text  # admins may see personal data

    dry = operator.post(f"{page}/replay", data={"action": "dry-run", "reason": "check", "destination": "cjib"})
    assert "5 deliveries would be replayed" in dry.text
    done = operator.post(f"{page}/replay", data={"action": "replay-selected", "reason": "CJIB is back",
                                                 "ids": [str(i) for i in dead[:2]]})
    assert done.status_code == 200 and "2 deliveries replayed" in done.text and "ketenhub_deliver_cjib" in done.text
    with hub.engine.connect() as conn:
        states = dict(conn.execute(select(delivery.c.id, delivery.c.state).where(delivery.c.id.in_(dead))).all())
        rows = conn.execute(select(audit.c.actor, audit.c.detail).where(audit.c.action == "replayed")).all()
    assert [states[i] for i in dead] == ["pending", "pending", "dead", "dead", "dead"]
    assert sorted(rows) == [("airflow:operator", "by airflow:operator: CJIB is back")] * 2
    runs = admin.get(f"{server.url}/api/v2/dags/ketenhub_deliver_cjib/dagRuns").json()["dag_runs"]
    assert len(runs) == 1 and runs[0]["triggered_by"] == "ui"
