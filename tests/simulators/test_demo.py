"""`ketenhub simulate` (what `./hub start` runs): every simulator with demo traffic, and the
Connections that reach them, KbSP's two versions and the Schadefonds included; and the demo
victim whose timeline at the portal holds all five sources under one Ketenreferentie."""
import json
import threading

import pytest
import requests

from ketenhub import wiring
from ketenhub.simulators import demo, victim
from ketenhub.xml import xslt
from tests.conftest import requests_tls
from tests.support.cjib import serving


@pytest.fixture
def simulated(tmp_path, monkeypatch, before_kbsp_switch):
    sims = demo.run(tmp_path / "sims", tmp_path / "cvom", ports={name: 0 for name in demo.PORTS},
                    stop=threading.Event())
    connections = json.loads((tmp_path / "sims" / "connections.json").read_text())
    for name, fields in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(fields))
    yield sims, connections
    for sim in sims.values():
        if hasattr(sim, "stop"):
            sim.stop()


def test_the_demo_serves_the_schadefonds_and_both_kbsp_versions(hub, simulated):
    sims, connections = simulated
    assert {"ketenhub_schadefonds", "ketenhub_kbsp", "ketenhub_kbsp_v2"} <= set(connections)
    (fund,) = wiring.receive(hub, hub.registry.partner("schadefonds"), embedded=False)
    assert fund.state == "accepted" and fund.accepted > 30
    assert fund.accepted + len(fund.rejected) == 40 + len(victim.fund_events())
    (om,) = wiring.receive(hub, hub.registry.partner("om"), embedded=False)
    assert om.accepted > 450
    report = wiring.deliver(hub, hub.registry.destination("kbsp"), embedded=False)
    kbsp = sims["kbsp"]
    assert report.delivered == len(kbsp.accepted) > 0 and report.failed == 0
    by_version = kbsp.state()["accepted_per_version"]
    assert by_version["v1"] > 0 and by_version["v2"] > 0  # the OM's statuses through v1, the fund's through v2
    assert all(key.startswith("SCHADEFONDS.") for key, v in kbsp.versions.items() if v == "v2")


def test_the_demos_shn_feed_has_one_event_to_quarantine(hub, simulated):
    """The README's tour shows SHN's invalid event quarantined with its JSON path and rule."""
    reports = wiring.receive(hub, hub.registry.partner("shn"), embedded=False)
    rejected = [reason for r in reports for _, reason in r.rejected]
    assert sum(r.accepted for r in reports) == 15 and len(rejected) == 1
    assert "].soort: is not a value the contract allows" in rejected[0] and "(rule: schema)" in rejected[0]
    assert "HULP_GEWEIGERD" not in rejected[0]  # the value sent is not repeated


def test_the_demo_victims_timeline_holds_all_five_sources_under_one_ketenreferentie(hub, simulated, connection):
    sims, _ = simulated
    steps, kbsp = sims["victim"], sims["kbsp"]
    with serving(hub, connection) as (_, cjib):
        steps.take(cjib)
        assert steps.cjib_told and not steps.shn_told  # SHN names only the registratienummer: it waits for the police
        wiring.receive(hub, hub.registry.partner("politie"), embedded=False)
        steps.take(cjib)
        assert steps.shn_told
    for partner in ("shn", "om", "schadefonds"):
        wiring.receive(hub, hub.registry.partner(partner), embedded=False)
    report = wiring.deliver(hub, hub.registry.destination("kbsp"), embedded=False)
    assert report.failed == 0

    timelines = kbsp.timeline(bsn=victim.BSN)
    assert list(timelines) == [xslt.ketenreferentie("", victim.PARKETNUMMER, victim.BSN, "")]  # the case's one
    (timeline,) = timelines.values()
    assert [(e["bron"], e["status"]) for e in timeline] == [
        ("POLITIE", "AANGIFTE_ONTVANGEN"), ("SHN", "HULP_AANGEBODEN"), ("OM", "ZAAK_BIJ_OM"), ("SHN", "HULP_GESTART"),
        ("SCHADEFONDS", "SCHADEFONDS_AANVRAAG_ONTVANGEN"), ("OM", "ZITTING_GEPLAND"), ("OM", "UITSPRAAK"),
        ("CJIB", "VONNIS_ONHERROEPELIJK"), ("SCHADEFONDS", "SCHADEFONDS_BESLISSING"),
        ("CJIB", "SCHADEVERGOEDING_BETAALD"), ("SHN", "HULP_AFGESLOTEN")]
    assert {e["bron"] for e in timeline} == set(victim.SOURCES)
    # SHN named the registratienummer alone: the case register gave its steps the parketnummer's reference.
    assert [e["zaak"] for e in timeline if e["bron"] == "SHN"] == [{"Registratienummer": victim.REGISTRATIENUMMER}] * 3
    details = {e["status"]: e["details"] for e in timeline}
    assert details["UITSPRAAK"] == {"Uitkomst": "VEROORDEELD", "Schadevergoeding": "1850.00"}
    assert details["SCHADEVERGOEDING_BETAALD"]["Betaling"] == "BetaaldBedrag 600.00, OpenstaandBedrag 1250.00"

    hers = [item.decode() for item in kbsp.accepted.values() if victim.BSN.encode() in item]
    assert len(hers) == len(timeline)
    suspect = [value for value in victim.SUSPECT.values() if any(value in item for item in hers)]
    assert suspect == []  # nothing of the suspect, later the convicted person, reached the portal
    assert all(victim.SUSPECT["bsn"] in e for e in victim.om_events() + victim.cjib_events())  # though it was sent

    seen = requests.get(f"{kbsp.url}/_sim/timeline", params={"bsn": victim.BSN}, timeout=10, **requests_tls(kbsp))
    lines = seen.text.splitlines()
    assert seen.status_code == 200 and len(lines) == 1 + len(timeline)
    assert lines[0].endswith("11 statuses from 5 sources (POLITIE, SHN, OM, SCHADEFONDS, CJIB)")
    assert "CJIB         SCHADEVERGOEDING_BETAALD" in lines[-2]
    assert requests.get(f"{kbsp.url}/_sim/timeline", timeout=10, **requests_tls(kbsp)).status_code == 400
