"""The Deliveries and Quarantine pages in a real Airflow API server: Airflow's own users and
roles decide who may read, replay and see personal data; every kind of trouble is counted;
every bulk action is confirmed with its count; answers are pages in words, in the user's zone.
One server for the module (the machine is slow): the tests share its hub, in this order."""
import re
import shutil
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import insert, select

from ketenhub.clock import AMSTERDAM, now
from ketenhub.hub import Hub
from ketenhub.settings import PROJECT_DIR
from ketenhub.store.tables import audit, delivery, payload, quarantine
from ketenhub.wiring import deliver
from tests.conftest import ingest
from tests.support.airflow_server import AirflowServer
from tests.support.factories import Unreachable, om_batch, om_event, write_with_marker
from tests.support.project import adapters_of_its_own


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The server and the hub it reads, with a project of its own so a test may add an adapter."""
    base = tmp_path_factory.mktemp("pages")
    project = adapters_of_its_own(base / "project")
    env = {"KETENHUB_HOME": str(base / "home"), "KETENHUB_DATABASE_URL": f"sqlite:///{base / 'hub.db'}",
           "KETENHUB_PROJECT": str(project)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        hub = Hub()
        server = AirflowServer(base / "airflow", env)
        try:
            yield server, hub, project
        finally:
            server.stop()
            hub.engine.dispose()


@pytest.fixture(scope="module")
def troubled(site, tmp_path_factory):
    """5 CJIB deliveries dead, 6 KbSP deliveries retrying, and one OM event quarantined."""
    server, hub, _ = site
    folder = tmp_path_factory.mktemp("om")
    shutil.copy(PROJECT_DIR / "tests/data/om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml", folder)
    ingest(hub, "om", folder / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml")
    deliver(hub, replace(hub.registry.destination("cjib"), max_attempts=1), Unreachable())
    deliver(hub, hub.registry.destination("kbsp"), Unreachable())
    broken = write_with_marker(folder / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                               om_batch([om_event(90, bsn="123456789")]))
    ingest(hub, "om", broken)
    with hub.engine.connect() as conn:
        dead = conn.scalars(select(delivery.c.id).where(delivery.c.state == "dead").order_by(delivery.c.id)).all()
    return dead


def test_everything_in_trouble_is_counted_paged_and_shown_in_the_users_zone(site, troubled):
    server, hub, _ = site
    page = f"{server.url}/ketenhub/deliveries"
    assert requests.get(page).status_code == 401
    viewer = server.session("viewer")
    listing = viewer.get(page)
    assert listing.status_code == 200
    text = listing.text
    # Pending deliveries that failed once are in trouble too, each kind counted whatever is shown.
    assert "dead: 5" in text and "retrying: 6" in text and "failed: 0" in text and "all in trouble: 11" in text
    assert ">11</strong> matching" in text
    # What the destination's side said is hidden from a viewer; the type of the error is not.
    assert "destination unreachable" not in text and text.count("ConnectionError [text from") == 11
    # A viewer may look, not replay: the buttons say so before any request is refused.
    assert "You may look, not replay" in text and "class='primary' disabled>Replay selected…" in text
    # Times in the user's zone, which the page names; the zone follows the user's Airflow setting.
    assert "Times in Europe/Amsterdam" in text and re.search(r"\d\d:\d\d (CET|CEST)<", text)
    viewer.cookies.set("ketenhub_tz", "America%2FNew_York")  # as the page's script writes it
    assert re.search(r"\d\d:\d\d (EST|EDT)<", viewer.get(page).text)
    assert "Times in America/New_York" in viewer.get(page).text
    viewer.cookies.set("ketenhub_tz", "Europe/Amsterdam")
    # "changed since" is read in that zone too: an hour ahead of now in Amsterdam matches nothing.
    ahead = (datetime.now(AMSTERDAM) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    behind = (datetime.now(AMSTERDAM) - timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M")
    assert ">0</strong> matching" in viewer.get(page, params={"since": ahead}).text
    assert ">11</strong> matching" in viewer.get(page, params={"since": behind}).text
    assert "not a time" in viewer.get(page, params={"since": "yesterday"}).text
    # Paging and sorting on the server: 5 a page, by attempts.
    first = viewer.get(page, params={"size": 25, "sort": "id", "desc": 1}).text
    ids = [int(i) for i in re.findall(r"aria-label='select (\d+)'", first)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 11
    paged = viewer.get(page, params={"size": 10, "page_no": 2, "sort": "id"}).text
    assert re.findall(r"aria-label='select (\d+)'", paged) == [str(ids[0])] and "11–11 of" in paged
    assert "Select all 11 matching" in viewer.get(page, params={"size": 10}).text
    dead = viewer.get(page, params={"state": "dead", "size": 25}).text
    assert [int(i) for i in re.findall(r"aria-label='select (\d+)'", dead)] == troubled
    # Refused in words, inside Airflow's frame: no raw JSON.
    denied = viewer.post(f"{page}/replay", data={"scope": "filter", "reason": "try", "destination": "cjib"},
                         headers={"Origin": server.url})
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("text/html")
    assert "You may not replay deliveries to cjib" in denied.text and '{"detail"' not in denied.text
    # A form address opened again (a reload, a bookmark) leads to the page, never a raw 405 or 422.
    again = viewer.get(f"{page}/replay")
    assert again.status_code == 200 and "Deliveries in trouble" in again.text


def test_an_operator_replays_after_a_confirmation_that_names_the_count(site, troubled):
    server, hub, _ = site
    page = f"{server.url}/ketenhub/deliveries"
    operator, admin = server.session("operator"), server.session("admin")
    same_origin = {"Origin": server.url}
    # Operators (role op) see personal data, as the README says; viewers do not.
    assert operator.get(page, params={"destination": "cjib"}).text.count("destination unreachable") == 5
    detail = operator.get(f"{page}/{troubled[0]}")
    assert detail.status_code == 200 and "123456782" in detail.text and "masked" not in detail.text
    seen = server.session("viewer").get(f"{page}/{troubled[0]}")
    assert "123456782" not in seen.text and "masked" in seen.text
    # Cross-site or origin-less forms are refused.
    ask = {"scope": "filter", "reason": "CJIB is back", "state": "dead", "destination": "cjib"}
    assert operator.post(f"{page}/replay", data=ask, headers={"Origin": "http://evil.example"}).status_code == 403
    assert operator.post(f"{page}/replay", data=ask).status_code == 403
    # Without a selection or a reason: back to the page with what was given, and why in words.
    empty = operator.post(f"{page}/replay", data={"scope": "selected", "reason": "why"}, headers=same_origin)
    assert "Select at least one delivery" in empty.text and "value='why'" in empty.text
    # The dry run names the count; back keeps selection and reason.
    picked = {"scope": "selected", "reason": "two first", "ids": [str(i) for i in troubled[:2]]}
    first = operator.post(f"{page}/replay", data=picked, headers=same_origin, allow_redirects=False)
    assert first.status_code == 303 and "/ketenhub/deliveries/confirm?" in first.headers["location"]
    confirm = operator.get(server.url + first.headers["location"])
    assert "<strong>2 deliveries</strong> would be replayed" in confirm.text and "Replay 2 deliveries" in confirm.text
    back = re.search(r"href='([^']+)'>Back", confirm.text).group(1).replace("&amp;", "&")
    kept = operator.get(server.url + back).text
    assert "value='two first'" in kept and kept.count(" checked>") == 2
    # All matching the filter: confirmed with the count the operator saw; a changed count asks again.
    preview = operator.post(f"{page}/replay", data=ask, headers=same_origin)
    assert "<strong>5 deliveries</strong> would be replayed" in preview.text
    stale = operator.post(f"{page}/replay", data=dict(ask, action="replay", expected="4"), headers=same_origin)
    assert "changed since the confirmation" in stale.text and "Replay 5 deliveries" in stale.text
    done = operator.post(f"{page}/replay", data=dict(ask, action="replay", expected="5"), headers=same_origin,
                         allow_redirects=False)
    assert done.status_code == 303  # post/redirect/get: a reload shows the outcome, sends nothing again
    shown = operator.get(server.url + done.headers["location"])
    assert "5 deliveries replayed" in shown.text
    link = re.search(r"href='(/dags/ketenhub_deliver_cjib/runs/[^']+)' target='_top'", shown.text)
    assert link, shown.text[-2000:]
    with hub.engine.connect() as conn:
        states = set(conn.scalars(select(delivery.c.state).where(delivery.c.id.in_(troubled))))
        rows = conn.execute(select(audit.c.actor, audit.c.detail).where(audit.c.action == "replayed")).all()
    assert states == {"pending"}
    assert sorted(rows) == [("airflow:operator", "by airflow:operator: CJIB is back")] * 5
    runs = admin.get(f"{server.url}/api/v2/dags/ketenhub_deliver_cjib/dagRuns").json()["dag_runs"]
    assert len(runs) == 1 and runs[0]["triggered_by"] == "ui" and link.group(1).endswith(runs[0]["dag_run_id"]
                                                                                       .replace(":", "%3A").replace("+", "%2B"))


def test_quarantine_shows_time_and_whole_reason_and_reprocessing_says_what_happened(site, troubled):
    server, hub, project = site
    q = f"{server.url}/ketenhub/quarantine"
    operator = server.session("operator")
    listing = operator.get(q).text
    assert "elfproef" in listing and re.search(r"\d\d:\d\d (CET|CEST)<", listing)
    assert ">1</strong> open items" in operator.get(q, params={"reason_text": "elfproef"}).text
    assert ">0</strong> open items" in operator.get(q, params={"partner": "politie"}).text
    (item,) = [int(i) for i in re.findall(r"aria-label='select (\d+)'", listing)]
    ask = {"scope": "selected", "ids": [str(item)], "reason": "after the BSN check"}
    confirm = operator.post(f"{q}/reprocess", data=ask, headers={"Origin": server.url})
    assert "<strong>1 item</strong> would be re-processed" in confirm.text
    done = operator.post(f"{q}/reprocess", data=dict(ask, action="reprocess", expected="1"),
                         headers={"Origin": server.url})
    assert "still rejected" in done.text and "elfproef" in done.text and "{'" not in done.text
    # A new partner shows without a restart; an item of a partner no longer configured is said in words.
    cvom = (project / "adapters" / "cvom.yaml").read_text()
    (project / "adapters" / "cvom2.yaml").write_text(cvom.replace("partner: cvom", "partner: cvom2"))
    assert "<option>cvom2</option>" in operator.get(q).text
    with hub.engine.begin() as conn:
        pid = conn.scalar(select(payload.c.id))
        gone = conn.execute(insert(quarantine).values(partner="gone", payload_id=pid, reason="r", state="open",
                                                      raw=b"<x/>", created_at=now())).inserted_primary_key[0]
    ask = {"scope": "selected", "ids": [str(gone)], "reason": "try", "action": "reprocess", "expected": "1"}
    r = operator.post(f"{q}/reprocess", data=ask, headers={"Origin": server.url})
    assert r.status_code == 200 and "its partner is not configured" in r.text


def test_a_viewer_may_not_reprocess_an_item_beyond_any_listing_limit(site, troubled):
    """The permission check reads the items asked, not the first 100,000 open ones."""
    server, hub, _ = site
    with hub.engine.begin() as conn:
        pid, at = conn.scalar(select(payload.c.id)), now()
        start = conn.scalar(select(quarantine.c.id).order_by(quarantine.c.id.desc()).limit(1)) + 1
        conn.execute(insert(quarantine), [dict(id=i, partner="om" if i < start + 100_005 else "politie",
                                               payload_id=pid, reason="r", state="open", created_at=at)
                                          for i in range(start, start + 100_006)])
    last = start + 100_005
    viewer = server.session("viewer")
    r = viewer.post(f"{server.url}/ketenhub/quarantine/reprocess", headers={"Origin": server.url},
                    data={"action": "reprocess", "reason": "mine now", "ids": [str(last)], "expected": "1"})
    assert r.status_code == 403 and "politie" in r.text
    with hub.engine.connect() as conn:
        assert conn.scalar(select(quarantine.c.state).where(quarantine.c.id == last)) == "open"
