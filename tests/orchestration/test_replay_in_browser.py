"""An operator and a viewer in a real browser (Debian's Chromium, driven by Playwright), in
Airflow's light and dark themes: logging into Airflow, opening the hub's pages from Airflow's
navigation, replaying a dead delivery through a confirmation and back, re-processing a
quarantined event; the portal receives the replay through a real DAG run. One Airflow server
for the module (the machine is slow). Screenshots go to $KETENHUB_SCREENSHOTS (default: the
run's pytest folder, screenshots/) to be looked at."""
import json
import os
import re
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ketenhub.hub import Hub
from ketenhub.settings import PROJECT_DIR
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.store.tables import delivery, event
from ketenhub.wiring import deliver
from tests.conftest import ingest
from tests.support.airflow_server import AirflowServer
from tests.support.browser import CHROMIUM, FLAGS, log_in, open_view
from tests.support.factories import Unreachable, om_batch, om_event, write_with_marker

DARK = "rgb(0, 0, 0)"  # Airflow's dark background (Chakra bg token: black)
LIGHT = "rgb(255, 255, 255)"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A hub with dead KbSP deliveries (of a Politie and an OM event) and one quarantined OM event;
    Airflow with a scheduler; the portal simulator the replay reaches."""
    base = tmp_path_factory.mktemp("browser")
    env = {"KETENHUB_HOME": str(base / "home"), "KETENHUB_DATABASE_URL": f"sqlite:///{base / 'hub.db'}"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        hub = Hub()
        shutil.copy(PROJECT_DIR / "tests/data/politie/melding-aangifte.xml", base)
        ingest(hub, "politie", base / "melding-aangifte.xml")
        ingest(hub, "om", write_with_marker(base / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                                            om_batch([om_event(7, bsn="123456789")] + [om_event(n) for n in range(8, 20)])))
        deliver(hub, replace(hub.registry.destination("kbsp"), max_attempts=1), Unreachable())
        portal = KbspSimulator(store=base / "portal").start()
        connections = {f"AIRFLOW_CONN_KETENHUB_{name.upper()}": json.dumps(c)  # KbSP v1 and v2
                       for name, c in portal.connections().items()}
        server = AirflowServer(base / "airflow", dict(env, **connections),
                               components=("api-server", "scheduler", "dag-processor"))
        try:
            yield server, hub, portal
        finally:
            server.stop()
            portal.stop()
            hub.engine.dispose()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("KETENHUB_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def signed_in(browser, server, user: str, scheme: str, zone: str, theme: str | None = None):
    context = browser.new_context(color_scheme=scheme, timezone_id=zone, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    log_in(page, server, user)
    page.wait_for_url(re.compile(r".*/(dags|home)?$|.*/$"))
    if theme:  # the user's own choice in Airflow's menu, where Airflow keeps it
        page.evaluate(f"localStorage.setItem('theme', '{theme}')")
        page.reload()
    return context, page


def background(frame) -> str:
    return frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")


@pytest.mark.timeout(900)
def test_operator_replays_a_dead_delivery_through_a_confirmation_and_back(site, chromium, shots):
    from playwright.sync_api import expect
    server, hub, portal = site
    with hub.engine.connect() as conn:  # the Politie event's; the OM event's stay dead
        (dead_id, key) = conn.execute(select(delivery.c.id, delivery.c.idempotency_key).join(
            event, event.c.id == delivery.c.event_id).where(delivery.c.state == "dead", event.c.partner == "politie")).one()
        others = conn.scalar(select(func.count()).select_from(delivery).where(delivery.c.state == "dead")) - 1
    assert others > 0
    server.unpause("ketenhub_deliver_kbsp")
    context, page = signed_in(chromium, server, "operator", "light", "Europe/Amsterdam")
    frame = open_view(page, "Deliveries")
    expect(frame.get_by_text("destination unreachable").first).to_be_visible(timeout=30000)
    expect(frame.get_by_text("Times in Europe/Amsterdam")).to_be_visible()
    expect(frame.get_by_role("link", name=f"dead: {others + 1}")).to_be_visible()
    assert background(frame) == LIGHT
    page.screenshot(path=str(shots / "operator-deliveries-light.png"))
    # Ten a page; the page's box, then all matching the filter: the confirmation names them all.
    frame.get_by_role("link", name="10 per page").click()
    expect(frame.get_by_text(f"1–10 of {others + 1} matching")).to_be_visible(timeout=30000)
    frame.get_by_label("select this page").check()
    frame.get_by_role("link", name=f"Select all {others + 1} matching the filter").click()
    frame.locator("input[name=reason]").fill("portal is back")
    expect(frame.get_by_text(f"All {others + 1} matching the filter are selected")).to_be_visible()
    expect(frame.get_by_role("button", name=re.compile("^Replay all .*matching…"))).to_have_count(1)
    page.screenshot(path=str(shots / "operator-select-all-light.png"))
    frame.get_by_role("button", name="Replay all matching…").click()
    expect(frame.get_by_text(f"{others + 1} deliveries would be replayed")).to_be_visible(timeout=30000)
    frame.get_by_role("link", name=re.compile("^Back")).click()
    expect(frame.locator("input[name=reason]")).to_have_value("portal is back", timeout=30000)
    frame.get_by_label(f"select {dead_id}", exact=True).check()
    frame.get_by_role("button", name="Replay selected…").click()
    expect(frame.get_by_text("1 delivery would be replayed")).to_be_visible(timeout=30000)
    page.screenshot(path=str(shots / "operator-confirm-light.png"))
    frame.get_by_role("link", name=re.compile("^Back")).click()  # the selection and the reason are kept
    expect(frame.get_by_label(f"select {dead_id}", exact=True)).to_be_checked(timeout=30000)
    expect(frame.locator("input[name=reason]")).to_have_value("portal is back")
    frame.get_by_role("button", name="Replay selected…").click()
    frame.get_by_role("button", name="Replay 1 delivery").click()
    expect(frame.get_by_text("1 delivery replayed")).to_be_visible(timeout=30000)
    run = frame.get_by_role("link", name=re.compile("ketenhub_deliver_kbsp run"))
    expect(run).to_be_visible()
    page.screenshot(path=str(shots / "operator-replayed-light.png"))

    def state() -> str:
        with hub.engine.connect() as conn:
            return conn.scalar(select(delivery.c.state).where(delivery.c.id == dead_id))

    for _ in range(240):  # the delivery DAG run the replay started, run by the scheduler: it
        if key in portal.accepted and state() != "sending":  # settles just after the portal took it
            break
        time.sleep(0.5)
    assert key in portal.accepted
    assert state() == "delivered"
    # The replay's run answers for what it sent: green, though other deliveries are still dead.
    api = server.session("admin")
    for _ in range(240):
        (started,) = api.get(f"{server.url}/api/v2/dags/ketenhub_deliver_kbsp/dagRuns",
                             params={"run_type": "manual"}).json()["dag_runs"]
        if started["state"] in ("success", "failed"):
            break
        time.sleep(0.5)
    assert started["state"] == "success"
    run.click()  # the run's page in Airflow itself, in the whole window
    expect(page).to_have_url(re.compile(r".*/dags/ketenhub_deliver_kbsp/runs/.+"), timeout=30000)
    expect(page.get_by_text("success").first).to_be_visible(timeout=60000)
    page.screenshot(path=str(shots / "operator-run.png"))
    context.close()


@pytest.mark.timeout(600)
def test_operator_reprocesses_in_the_dark_and_sees_why_it_stayed_rejected(site, chromium, shots):
    from playwright.sync_api import expect
    server, hub, _ = site
    context, page = signed_in(chromium, server, "operator", "dark", "Europe/Amsterdam")
    frame = open_view(page, "Quarantine")
    expect(frame.get_by_text("elfproef").first).to_be_visible(timeout=30000)
    assert background(frame) == DARK
    page.screenshot(path=str(shots / "operator-quarantine-dark.png"))
    frame.locator("input.pick").first.check()
    frame.locator("input[name=reason]").fill("BSN rule reviewed")
    frame.get_by_role("button", name="Re-process selected…").click()
    frame.get_by_role("button", name="Re-process 1 item").click()
    expect(frame.get_by_text("1 re-processed: 0 accepted, 1 still rejected")).to_be_visible(timeout=30000)
    page.screenshot(path=str(shots / "operator-reprocessed-dark.png"))
    context.close()


@pytest.mark.timeout(600)
def test_a_viewer_sees_in_their_own_zone_and_theme_and_may_not_replay(site, chromium, shots):
    from playwright.sync_api import expect
    server, _, _ = site
    context, page = signed_in(chromium, server, "viewer", "light", "America/New_York", theme="dark")
    frame = open_view(page, "Deliveries")
    expect(frame.get_by_text("Times in America/New_York")).to_be_visible(timeout=30000)
    expect(frame.get_by_text("You may look, not replay")).to_be_visible()
    expect(frame.get_by_role("button", name="Replay selected…")).to_be_disabled()
    assert background(frame) == DARK  # Airflow's own choice of theme wins over the system's
    page.screenshot(path=str(shots / "viewer-deliveries-dark.png"))
    context.close()
