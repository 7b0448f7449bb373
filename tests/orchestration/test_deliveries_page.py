"""The Deliveries page in a real Airflow API server: Airflow's own users and roles decide who
may read, replay and see personal data; every replay is audited and starts a delivery run."""
import pytest
from sqlalchemy import select

from ketenhub.wiring import deliver
from ketenhub.store.tables import audit, delivery
from tests.support.airflow_server import AirflowServer
from tests.conftest import ingest
from tests.support.factories import Unreachable


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
    same_origin = {"Origin": server.url}
    listing = viewer.get(page, params={"destination": "cjib"})
    # What the destination's side said is hidden from a viewer; the type of the error is not.
    assert listing.status_code == 200 and "destination unreachable" not in listing.text
    assert listing.text.count("ConnectionError [text from CJIB hidden: ") == len(dead) == 5
    assert viewer.get(page, params={"destination": "cjib", "error": "unreachable"}).text.count("ConnectionError") == 0
    denied = viewer.post(f"{page}/replay", data={"action": "replay-filter", "reason": "try", "destination": "cjib"},
                         headers=same_origin)
    assert denied.status_code == 403

    # Operators (role op) see personal data, as the README says; viewers do not.
    assert operator.get(page, params={"destination": "cjib"}).text.count("destination unreachable") == 5
    detail = operator.get(f"{page}/{dead[0]}")
    assert detail.status_code == 200 and "123456782" in detail.text and "masked" not in detail.text
    seen = viewer.get(f"{page}/{dead[0]}")
    assert "123456782" not in seen.text and "masked" in seen.text and "destination unreachable" not in seen.text
    assert "123456782" in admin.get(f"{page}/{dead[0]}").text  # admins may see personal data

    # A form POST from another site, or with no origin at all, is refused; from this server it is not.
    dry_run = {"action": "dry-run", "reason": "check", "destination": "cjib"}
    assert operator.post(f"{page}/replay", data=dry_run, headers={"Origin": "http://evil.example"}).status_code == 403
    assert operator.post(f"{page}/replay", data=dry_run).status_code == 403
    assert operator.post(f"{page}/replay", data=dry_run, headers={"Referer": "http://evil.example/x"}).status_code == 403
    assert operator.post(f"{server.url}/ketenhub/quarantine/reprocess", data={"action": "dry-run", "reason": "x"},
                         headers={"Origin": "http://evil.example"}).status_code == 403
    assert operator.post(f"{page}/replay", data=dry_run, headers={"Referer": f"{page}?destination=cjib"}).status_code == 200
    dry = operator.post(f"{page}/replay", data=dry_run, headers=same_origin)
    assert "5 deliveries would be replayed" in dry.text
    done = operator.post(f"{page}/replay", data={"action": "replay-selected", "reason": "CJIB is back",
                                                 "ids": [str(i) for i in dead[:2]]}, headers=same_origin)
    assert done.status_code == 200 and "2 deliveries replayed" in done.text and "ketenhub_deliver_cjib" in done.text
    with hub.engine.connect() as conn:
        states = dict(conn.execute(select(delivery.c.id, delivery.c.state).where(delivery.c.id.in_(dead))).all())
        rows = conn.execute(select(audit.c.actor, audit.c.detail).where(audit.c.action == "replayed")).all()
    assert [states[i] for i in dead] == ["pending", "pending", "dead", "dead", "dead"]
    assert sorted(rows) == [("airflow:operator", "by airflow:operator: CJIB is back")] * 2
    runs = admin.get(f"{server.url}/api/v2/dags/ketenhub_deliver_cjib/dagRuns").json()["dag_runs"]
    assert len(runs) == 1 and runs[0]["triggered_by"] == "ui"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_viewer_may_not_reprocess_an_item_beyond_any_listing_limit(server, hub, sample):
    """The permission check reads the items asked, not the first 100,000 open ones."""
    from sqlalchemy import insert

    from ketenhub.clock import now
    from ketenhub.store.tables import payload, quarantine
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.begin() as conn:
        pid, at = conn.scalar(select(payload.c.id)), now()
        conn.execute(insert(quarantine), [dict(id=i, partner="om" if i < 100_006 else "politie", payload_id=pid,
                                               reason="r", state="open", created_at=at) for i in range(1, 100_007)])
    viewer = server.session("viewer")
    r = viewer.post(f"{server.url}/ketenhub/quarantine/reprocess", headers={"Origin": server.url},
                    data={"action": "reprocess", "reason": "mine now", "ids": ["100006"]})
    assert r.status_code == 403 and "politie" in r.text
    with hub.engine.connect() as conn:
        assert conn.scalar(select(quarantine.c.state).where(quarantine.c.id == 100_006)) == "open"
