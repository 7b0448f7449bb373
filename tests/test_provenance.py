"""One event's path as the provenance page shows it: payload, canonical document, each outbound
item with its attempts; a refused event's bytes and reason; personal data masked for who may not
see it, and a search by a part of a value only for who may."""
import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from ketenhub import provenance
from ketenhub.wiring import deliver
from ketenhub.store.tables import quarantine
from tests.conftest import ingest
from tests.support.factories import Unreachable, om_batch, om_event, write_with_marker


@pytest.fixture
def politie(hub, sample):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    deliver(hub, replace(hub.registry.destination("kbsp"), max_attempts=1), Unreachable())
    (found,), _ = provenance.find(hub, "POL-0001", personal_data=False)
    return found.id


def test_the_path_of_an_event_with_each_attempt(hub, politie):
    e = provenance.of_event(hub, politie, personal_data=True)
    assert (e["bericht_id"], e["partner"], e["payload"]["name"]) == ("POL-0001", "politie", "melding-aangifte.xml")
    assert "Jansen" in e["canonical"] and "<Parketnummer>13/002157-26</Parketnummer>" in e["canonical"]
    (d,) = e["deliveries"]
    assert (d["destination"], d["state"], d["attempts"]) == ("kbsp", "dead", 1)
    # the delivery's making is on the event's own audit row ("routed to ..."), not a row of its own
    assert [r["action"] for r in d["trail"]] == ["sending", "dead"]
    assert "destination unreachable" in d["last_error"]
    assert {r["action"] for r in e["trail"]} >= {"received", "accepted"}


def test_a_viewer_sees_the_path_masked(hub, politie):
    e = provenance.of_event(hub, politie, personal_data=False)
    assert "Jansen" not in e["canonical"] and "•••" in e["canonical"]
    assert "13/002157-26" in e["canonical"]  # case numbers are what the path is found by
    (d,) = e["deliveries"]
    assert "Jansen" not in (d["document"] or "")
    _, text = provenance.payload_text(hub, e["payload"]["id"], personal_data=False)
    assert "Jansen" not in text and "•••" in text
    _, text = provenance.payload_text(hub, e["payload"]["id"], personal_data=True)
    assert "Jansen" in text


def test_only_who_may_see_personal_data_finds_by_part_of_a_value(hub, politie):
    assert provenance.find(hub, "13/0021", personal_data=False)[0] == []
    assert [f.id for f in provenance.find(hub, "13/0021", personal_data=True)[0]] == [politie]
    assert [f.id for f in provenance.find(hub, "13/002157-26", personal_data=False)[0]] == [politie]


def test_a_search_says_when_events_stored_just_now_are_not_indexed_yet(hub, sample, monkeypatch):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    monkeypatch.setattr(provenance, "SEARCH_INDEXES", 2)
    assert provenance.find(hub, "OM-1005", personal_data=True) == ([], True)
    monkeypatch.setattr(provenance, "SEARCH_INDEXES", 100)
    found, behind = provenance.find(hub, "OM-1005", personal_data=True)
    assert [f.bericht_id for f in found] == ["OM-1005"] and not behind


def test_a_refused_event_shows_its_bytes_and_why(hub, tmp_path):
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                                        om_batch([om_event(1), om_event(2, bsn="123456789")])))
    (kept,), _ = provenance.find(hub, "OM-T-0000002", personal_data=False)
    assert kept.kind == "quarantine"
    q = provenance.of_quarantined(hub, kept.id, personal_data=True)
    assert "elfproef" in q["reason"].lower() or "bsn" in q["reason"].lower()
    assert "Boef" in q["raw"] and q["accepted_event"] is None
    masked = provenance.of_quarantined(hub, kept.id, personal_data=False)["raw"]
    assert "Boef" not in masked and "123456789" not in masked
    assert "13-000002-26" in masked  # valid against the contract (only its BSN fails the elfproef): its case number shows


def test_a_value_the_contract_refused_is_masked_whatever_its_element(hub, tmp_path):
    """The values a viewer may see (case numbers, codes, dates) show only where the contract
    accepted them: a name written in a Parketnummer or a Tijdstip is masked like any other."""
    spoilt = om_event(2).replace("13-000002-26", "Jansen-TESTPARKET").replace(
        "2026-11-20T09:00:00+01:00", "Zoe Jansen-TESTTIJD")
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                                        om_batch([om_event(1), spoilt])))
    (kept,), _ = provenance.find(hub, "OM-T-0000002", personal_data=False)
    masked = provenance.of_quarantined(hub, kept.id, personal_data=False)["raw"]
    assert "Jansen" not in masked and "OM-T-0000002" not in masked and "•••" in masked
    assert "Jansen-TESTPARKET" in provenance.of_quarantined(hub, kept.id, personal_data=True)["raw"]
    # the kept payload: the valid event's case number shows, nothing of the refused one
    _, text = provenance.payload_text(hub, provenance.of_quarantined(hub, kept.id, False)["payload"]["id"], False)
    assert "13-000001-26" in text and "Jansen" not in text and "TEST" not in text


def test_a_refused_events_names_and_prefixes_are_shown_masked_as_it_stood_in_its_batch(hub, tmp_path):
    """An event of a batch whose prefix is declared on the root only is read under it; a name the
    contract does not declare (an element, an attribute, a processing instruction's) is not shown."""
    prefixed = om_batch([om_event(1), om_event(2, bsn="123456789").replace(
        "<Soort>", "<?JansenPI x?><Jansen739137001 Zoe_Jansen='x'/><Soort>")]).replace(
        b"<ZaakgebeurtenissenBatch xmlns=", b"<om:ZaakgebeurtenissenBatch xmlns:om=").replace(
        b"</ZaakgebeurtenissenBatch>", b"</om:ZaakgebeurtenissenBatch>")
    prefixed = re.sub(rb"<(/?)(?![?!])(\w)", rb"<\1om:\2", prefixed).replace(b"<om:om:", b"<om:").replace(
        b"</om:om:", b"</om:")
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml", prefixed))
    (kept,), _ = provenance.find(hub, "OM-T-0000002", personal_data=False)
    masked = provenance.of_quarantined(hub, kept.id, personal_data=False)["raw"]
    # written anew in the contract's namespace: no prefix or namespace of the partner's
    assert "not well-formed" not in masked and '<Zaakgebeurtenis xmlns="urn:keten:om:zaakgebeurtenissen:v1">' in masked
    assert "<om:" not in masked
    assert "Jansen" not in masked and "739137001" not in masked and "notInContract" in masked, masked
    assert "13-000002-26" not in masked  # it breaks the contract: no value shows


def test_a_masked_partner_document_shows_no_prefix_namespace_or_free_text_of_the_partners(hub, tmp_path):
    """Valid against the contract (only the elfproef refused it), but its BerichtId is words, a
    prefix and a namespace are the partner's choice: none of them shows, the case number does."""
    event = om_event(2, bsn="123456789").replace("OM-T-0000002", "Jan Geheimnaam 123456782").replace(
        "<Verdachte>", "<Verdachte xmlns:Privstraat='urn:Privstraat:123456782'>")
    batch = om_batch([om_event(1), event]).replace(b"<ZaakgebeurtenissenBatch xmlns=",
                                                   b"<ZaakgebeurtenissenBatch xmlns:Geheimnaam='urn:x' xmlns=")
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml", batch))
    with hub.engine.connect() as conn:
        (item,) = conn.scalars(select(quarantine.c.id)).all()
    q = provenance.of_quarantined(hub, item, personal_data=False)
    assert q["bericht_id"] is None  # words, not an identifier: not its name either
    masked = q["raw"]
    assert "13-000002-26" in masked and "Geheim" not in masked and "Privstraat" not in masked, masked
    assert "123456782" not in masked and "Jan" not in masked
    _, text = provenance.payload_text(hub, q["payload"]["id"], False)
    assert "13-000001-26" in text and "Geheim" not in text and "Privstraat" not in text and "Jan" not in text
