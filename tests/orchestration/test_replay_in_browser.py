"""An operator in a real browser (Debian's Chromium, driven by Playwright): logs into Airflow,
opens Deliveries, replays a dead delivery, and the portal receives it through a real DAG run."""
import json
import time
from dataclasses import replace

import pytest
from sqlalchemy import select

from ketenhub.wiring import deliver
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.store.tables import delivery
from tests.support.airflow_server import AirflowServer
from tests.conftest import ingest
from tests.support.browser import open_view
from tests.support.factories import Unreachable

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_operator_replays_a_dead_delivery_in_the_browser(hub, sample, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    deliver(hub, replace(hub.registry.destination("kbsp"), max_attempts=1), Unreachable())
    with hub.engine.connect() as conn:
        (dead_id, key) = conn.execute(select(delivery.c.id, delivery.c.idempotency_key)
                                      .where(delivery.c.state == "dead")).one()
    portal = KbspSimulator(store=tmp_path / "portal").start()
    server = AirflowServer(tmp_path / "airflow", {
        "KETENHUB_HOME": str(hub.settings.home), "KETENHUB_DATABASE_URL": hub.settings.database_url,
        "AIRFLOW_CONN_KETENHUB_KBSP": json.dumps(portal.connection())},
        components=("api-server", "scheduler", "dag-processor"))
    try:
        server.unpause("ketenhub_deliver_kbsp")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(server.url + "/")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", server.passwords["operator"])
            page.click("button[type=submit]")
            frame = open_view(page, "Deliveries")
            expect(frame.get_by_text("destination unreachable")).to_be_visible(timeout=30000)
            frame.get_by_label(f"select {dead_id}").check()
            frame.locator("input[name=reason]").fill("portal is back")
            frame.get_by_role("button", name="Replay selected").click()
            expect(frame.get_by_text("1 deliveries replayed")).to_be_visible(timeout=30000)
            page.screenshot(path=str(tmp_path / "replayed.png"))
            browser.close()
        def state() -> str:
            with hub.engine.connect() as conn:
                return conn.scalar(select(delivery.c.state).where(delivery.c.id == dead_id))

        for _ in range(240):  # the delivery DAG run the replay started, run by the scheduler: it
            if key in portal.accepted and state() != "sending":  # settles just after the portal took it
                break
            time.sleep(0.5)
        assert key in portal.accepted
        assert state() == "delivered"
    finally:
        server.stop()
        portal.stop()
