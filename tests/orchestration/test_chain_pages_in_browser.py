"""Find an event, its provenance, and the chain's health, in a real browser (Debian's Chromium,
driven by Playwright) against a real Airflow API server with the project's plugin: as an
operator (personal data, partial matches) and as a viewer (masked, whole values only), in
Airflow's light and dark theme. One server for the module: the machine is slow."""
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from ketenhub import health
from ketenhub.hub import Hub
from ketenhub.store import search
from ketenhub.store.tables import delivery, event, search_key
from ketenhub.wiring import deliver
from tests.conftest import DATA, ingest
from tests.support.airflow_server import AirflowServer
from tests.support.browser import CHROMIUM, FLAGS, log_in, open_view
from tests.support.factories import Unreachable

SHOTS = Path(os.environ.get("KETENHUB_SCREENSHOTS", tempfile.gettempdir())) / "ketenhub-screenshots"  # to look at
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A hub with the Politie sample (two victims; KbSP delivered, DLV dead) and the OM batch
    (CJIB pending), its backlog sampled; an Airflow API server on it; Chromium."""
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("chain")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KETENHUB_HOME", str(tmp / "home"))
        mp.setenv("KETENHUB_DATABASE_URL", f"sqlite:///{tmp / 'hub.db'}")
        hub = Hub()
        ingest(hub, "politie", DATA / "politie/melding-aangifte.xml")
        ingest(hub, "om", DATA / "om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml")
        deliver(hub, hub.registry.destination("kbsp"))
        deliver(hub, replace(hub.registry.destination("cjib"), max_attempts=1), Unreachable())
        health.sample(hub)
        server = AirflowServer(tmp / "airflow", {"KETENHUB_HOME": str(hub.settings.home),
                                                 "KETENHUB_DATABASE_URL": hub.settings.database_url})
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                yield hub, server, browser
                browser.close()
        finally:
            server.stop()
            hub.engine.dispose()


def logged_in(chain, user: str, theme: str = "light"):
    _, server, browser = chain
    context = browser.new_context(color_scheme=theme, viewport={"width": 1400, "height": 1000})
    context.add_init_script(f"try{{localStorage.setItem('theme', '{theme}')}}catch(e){{}}")  # Airflow's own key
    page = context.new_page()
    log_in(page, server, user)
    page.wait_for_url(lambda url: "/login" not in url and "/auth" not in url, timeout=60000)
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_every_route_refuses_who_is_not_logged_in(chain):
    hub, server, _ = chain
    with hub.engine.connect() as conn:
        event_id = conn.scalar(select(event.c.id))
    for path in ("search?q=POL-0001", f"events/{event_id}", "quarantined/1", "payloads/1", "health",
                 "health?span=weeks", "cases"):
        r = requests.get(f"{server.url}/ketenhub/{path}", timeout=60)
        assert r.status_code in (401, 403), (path, r.status_code)
        assert "POL-0001" not in r.text
    viewer = server.session("viewer")
    assert viewer.get(f"{server.url}/ketenhub/events/{event_id}", timeout=60).status_code == 200
    assert viewer.get(f"{server.url}/ketenhub/events/999999", timeout=60).status_code == 404


def test_an_operator_finds_by_part_of_a_value_and_follows_the_path(chain):
    from playwright.sync_api import expect
    hub, server, _ = chain
    page = logged_in(chain, "operator")
    frame = open_view(page, "Find an event")
    frame.get_by_label("search").fill("13/002157")  # the start of the parketnummer
    frame.get_by_role("button", name="Find").click()
    expect(frame.get_by_role("link", name="POL-0001")).to_be_visible(timeout=30000)
    expect(frame.get_by_text("parketnummer").first).to_be_visible()
    frame.get_by_role("link", name="POL-0001").click()
    # the path: payload → canonical → each delivery, and each delivery's attempts
    expect(frame.get_by_role("heading", name="Canonical document")).to_be_visible(timeout=30000)
    expect(frame.locator("pre").first).to_contain_text("Jansen")  # personal data, for an operator
    expect(frame.get_by_text("Personal data is masked")).to_have_count(0)
    with hub.engine.connect() as conn:
        kbsp = conn.scalar(select(delivery.c.id).where(delivery.c.destination == "kbsp").order_by(delivery.c.id))
    box = frame.locator(f"a.box[href='#delivery-{kbsp}']")
    expect(box).to_contain_text("delivered")
    section = frame.locator(f"#delivery-{kbsp}")
    expect(section.locator("h2")).to_contain_text("delivered")
    expect(section).to_contain_text("delivery {kbsp}: sending".format(kbsp=kbsp))  # its attempt, in its batch
    shot(page, "event-operator")
    payload_link = frame.locator("a[href*='/payloads/']").first.get_attribute("href")
    frame.get_by_role("link", name=f"{kbsp} on the Deliveries page").click()
    # "Event POL-0001 …" holds the id too: wait for the delivery's own heading
    expect(frame.locator("h1")).to_have_text(f"Delivery {kbsp}", timeout=30000)
    page.main_frame.child_frames[0].goto(server.url + payload_link)
    expect(frame.locator("h1")).to_contain_text("Payload", timeout=30000)
    expect(frame.locator("pre")).to_contain_text("Jansen")  # the payload as received
    page.close()


def test_a_viewer_finds_by_whole_values_only_and_sees_them_masked(chain):
    from playwright.sync_api import expect
    hub, server, _ = chain
    search.catch_up(hub.engine)  # as the page's first search does: this test may run before any other
    with hub.engine.connect() as conn:
        kr = conn.scalar(select(search_key.c.value).where(search_key.c.kind == "ketenreferentie")
                         .order_by(search_key.c.value))
    page = logged_in(chain, "viewer")
    frame = open_view(page, "Find an event")
    expect(frame.get_by_text("a part of a value finds nothing")).to_be_visible()
    frame.get_by_label("search").fill("13/002157")
    frame.get_by_role("button", name="Find").click()
    expect(frame.get_by_text("Nothing found.")).to_be_visible(timeout=30000)
    frame.get_by_label("search").fill(kr)
    frame.get_by_role("button", name="Find").click()
    expect(frame.get_by_text("ketenreferentie").first).to_be_visible(timeout=30000)
    frame.locator("a[href*='/events/']").first.click()
    expect(frame.get_by_text("Personal data is masked")).to_be_visible(timeout=30000)
    canonical = frame.locator("#canonical pre")
    expect(canonical).to_contain_text("•••")
    expect(canonical).not_to_contain_text("Jansen")
    expect(canonical).to_contain_text(kr)  # a keyed hash: it stays visible
    frame.locator("a[href*='/payloads/']").first.click()
    expect(frame.locator("h1")).to_contain_text("Payload", timeout=30000)
    expect(frame.locator("pre")).to_contain_text("•••")
    expect(frame.locator("pre")).not_to_contain_text("Jansen")
    shot(page, "payload-viewer")
    page.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_health_page_draws_its_charts_in_airflows_theme(chain, theme):
    from playwright.sync_api import expect
    page = logged_in(chain, "viewer", theme)
    frame = open_view(page, "Chain health")
    expect(frame.get_by_role("heading", name="Backlog now")).to_be_visible()
    charts = frame.locator("figure.chart svg")
    expect(charts.first).to_be_visible()
    # one chart per configured partner, five per destination
    registry = Hub().registry
    assert charts.count() == len(registry.partners) + 5 * len(registry.destinations)
    assert frame.locator("figure.chart rect").count() > 0  # bars of what was received and delivered
    assert frame.locator("html").get_attribute("data-theme") == theme
    background = frame.locator("body").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == ("rgb(0, 0, 0)" if theme == "dark" else "rgb(255, 255, 255)")  # Airflow's own
    bars = frame.locator("figure.chart rect").first.evaluate("e => getComputedStyle(e).fill")
    assert bars != background
    shot(page, f"health-{theme}")
    frame.get_by_role("link", name="last 4 weeks, per day").click()
    expect(frame.locator("figure.chart svg").first).to_be_visible(timeout=30000)
    shot(page, f"health-weeks-{theme}")
    page.close()


def test_case_conflicts_name_the_case_to_an_operator_and_mask_it_for_a_viewer(chain, tmp_path):
    """The last in this module: it adds a case with two references, by two police meldingen, the
    first naming the case by registratienummer alone."""
    from playwright.sync_api import expect
    hub, server, _ = chain
    sample = (DATA / "politie/melding-aangifte.xml").read_text().replace("2026123456", "2026999999")
    for n, parket in ((10, ""), (11, "  <Parketnummer>13-999999-26</Parketnummer>\n")):
        path = tmp_path / f"melding-{n}.xml"
        path.write_text(sample.replace("  <Parketnummer>13-002157-26</Parketnummer>\n", parket)
                        .replace("POL-0001", f"POL-00{n}").replace("<Volgnummer>1<", f"<Volgnummer>{n}<"))
        ingest(hub, "politie", path)
    with hub.engine.connect() as conn:
        linked_by = conn.scalar(select(event.c.id).where(event.c.bericht_id == "POL-0011"))
    page = logged_in(chain, "operator")
    frame = open_view(page, "Case conflicts")
    expect(frame.get_by_text("1 case with two references.")).to_be_visible(timeout=30000)
    row = frame.locator("table tr").nth(1)
    expect(row).to_contain_text("PL07B3 2026999999-1")
    expect(row).to_contain_text("13/999999-26")
    expect(row.locator("a")).to_have_attribute("href", re.compile(f"/events/{linked_by}$"))
    expect(row.locator("td").nth(4)).to_contain_text("KR-")
    expect(row.locator("td").nth(5)).to_contain_text("KR-")
    shot(page, "cases-operator")
    page.close()
    page = logged_in(chain, "viewer")
    frame = open_view(page, "Case conflicts")
    expect(frame.get_by_text("Personal data is masked")).to_be_visible(timeout=30000)
    row = frame.locator("table tr").nth(1)
    expect(row).to_contain_text("•••")
    expect(row).not_to_contain_text("PL07B3")
    expect(row).not_to_contain_text("13/999999")
    expect(row.locator("td").nth(4)).to_contain_text("KR-")  # keyed hashes: visible, as in a masked document
    page.close()
