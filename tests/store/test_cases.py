"""One victim, one reference, across partners: the register of case identifiers seen together
(store.cases) gives an event that names its case by registratienummer alone the reference of the
parketnummer's case, and reports a case for which two references were published already."""
import dataclasses
from datetime import datetime, timezone
import hashlib
import hmac

import pytest
from lxml import etree
from sqlalchemy import select

from ketenhub.store import cases
from ketenhub.store.tables import case_link, event
from tests import TEST_KEY
from tests.conftest import DATA, ingest, tune
from tests.support.factories import schadefonds_batch, schadefonds_event

pytestmark = pytest.mark.usefixtures("before_kbsp_switch")

REG, PARKET, BSN = "PL07B3 2026123456-1", "13/002157-26", "111222333"  # Anna Jansen's case in the samples
C = "{urn:ketenhub:canoniek:v1}"


def keyed(case: str, bsn: str = BSN) -> str:
    return "KR-" + hmac.new(TEST_KEY.encode(), f"{case}|bsn:{bsn}".encode(), hashlib.sha256).hexdigest()[:32]


def references(hub, partner: str, bsn: str = BSN) -> set[str]:
    """The Ketenreferenties the victim got in this partner's stored events."""
    with hub.engine.connect() as conn:
        docs = conn.scalars(select(event.c.canonical).where(event.c.partner == partner)).all()
    found = set()
    for d in docs:
        for ref in etree.fromstring(d).iter(f"{C}Ketenreferentie"):
            if ref.getparent().findtext(f".//{C}Bsn") == bsn:
                found.add(ref.text)
    return found


def politie_melding(tmp_path, n: int = 1, parket: bool = False):
    """The sample melding, naming its case by registratienummer alone unless ``parket``."""
    text = (DATA / "politie/melding-aangifte.xml").read_text()
    if not parket:
        text = text.replace("  <Parketnummer>13-002157-26</Parketnummer>\n", "")
    text = text.replace("<Volgnummer>1<", f"<Volgnummer>{n}<").replace("POL-0001", f"POL-{n:04d}")
    path = tmp_path / f"melding-{n}.xml"
    path.write_text(text)
    return path


def schadefonds(tmp_path, name: str, case: str, n: int = 1):
    path = tmp_path / f"SCHADEFONDS_AANVRAGEN_2027031{n}_001.xml"
    path.write_bytes(schadefonds_batch([schadefonds_event(n, case=case)]))
    return path


def test_a_registratienummer_alone_gets_the_reference_of_its_parketnummers_case(hub, tmp_path, sample):
    (om,) = ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    assert om.accepted == 5
    (politie,) = ingest(hub, "politie", politie_melding(tmp_path))
    assert politie.accepted == 1
    ingest(hub, "schadefonds", schadefonds(tmp_path, "by-reg", f"<Registratienummer>{REG}</Registratienummer>", 1))
    ingest(hub, "schadefonds", schadefonds(tmp_path, "by-parket", "<Parketnummer>13-002157-26</Parketnummer>", 2))
    anna = keyed(PARKET)
    assert references(hub, "om") == references(hub, "politie") == references(hub, "schadefonds") == {anna}
    with hub.engine.connect() as conn:
        assert conn.execute(select(case_link.c.registratienummer, case_link.c.parketnummer)).all() == [(REG, PARKET)]
    assert cases.conflicts(hub.engine) == []


def test_without_a_link_the_registratienummer_is_the_case(hub, tmp_path):
    ingest(hub, "politie", politie_melding(tmp_path))
    assert references(hub, "politie") == {keyed(REG)}
    ingest(hub, "politie", politie_melding(tmp_path, 2, parket=True))
    assert references(hub, "politie") == {keyed(REG), keyed(PARKET)}


def test_worker_processes_resolve_through_a_snapshot_of_the_register(hub, tmp_path, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    hub.settings = dataclasses.replace(hub.settings, workers=2)
    tune(hub, parallel_from=1, start_workers_from_bytes=0)
    events = [schadefonds_event(n, case=f"<Registratienummer>{REG}</Registratienummer>") for n in range(1, 41)]
    events += [schadefonds_event(n, case="<Registratienummer>PL01A1 2026000001-1</Registratienummer>")
               for n in range(41, 61)]
    path = tmp_path / "SCHADEFONDS_AANVRAGEN_20270318_001.xml"
    path.write_bytes(schadefonds_batch(events))
    (report,) = ingest(hub, "schadefonds", path)
    assert report.accepted == 60
    assert references(hub, "schadefonds") == {keyed(PARKET), keyed("PL01A1 2026000001-1")}


def test_a_link_after_references_were_published_is_reported_as_a_conflict(hub, tmp_path, sample):
    # The police's status goes out under the registratienummer: the OM's case is not known yet.
    ingest(hub, "politie", politie_melding(tmp_path))
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    (conflict,) = cases.conflicts(hub.engine)
    assert (conflict.registratienummer, conflict.parketnummer) == (REG, PARKET)
    assert conflict.partner == "om" and conflict.bericht_id.startswith("OM-")
    assert conflict.before == [keyed(REG)]
    assert keyed(PARKET) in conflict.after and keyed(REG) not in conflict.after
    # From now on the police's events for this case get the parketnummer's reference: no new conflict.
    ingest(hub, "politie", politie_melding(tmp_path, 2))
    assert references(hub, "politie") == {keyed(REG), keyed(PARKET)}
    assert len(cases.conflicts(hub.engine)) == 1


def test_the_first_parketnummer_named_beside_a_registratienummer_stays(hub, tmp_path):
    ingest(hub, "politie", politie_melding(tmp_path, 1, parket=True))
    other = (DATA / "politie/melding-aangifte.xml").read_text().replace("13-002157-26", "13-999999-26") \
        .replace("<Volgnummer>1<", "<Volgnummer>2<").replace("POL-0001", "POL-0002")
    (tmp_path / "other.xml").write_text(other)
    ingest(hub, "politie", tmp_path / "other.xml")
    with hub.engine.connect() as conn:
        assert conn.execute(select(case_link.c.parketnummer)).scalars().all() == [PARKET]


def test_the_numbers_of_the_events_being_mapped_are_looked_up_together(hub, tmp_path, sample, monkeypatch):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    statements = []
    looked_up = cases.select_in
    monkeypatch.setattr(cases, "select_in", lambda *a: statements.append(a[3]) or looked_up(*a))
    register = cases.Register(hub.engine)
    register.expect([REG, "PL01A1 2026000001-1", "PL01A1 2026000002-1"])
    assert [register.get(n, "none") for n in (REG, "PL01A1 2026000001-1", "PL01A1 2026000002-1", REG)] \
        == [PARKET, "none", "none", PARKET]
    assert len(statements) == 1 and sorted(statements[0]) == sorted([REG, "PL01A1 2026000001-1", "PL01A1 2026000002-1"])
    # A number not among the expected is asked for on its own; one found unlinked is not asked again ...
    assert register.get("PL09Z9 2026000009-1", "none") == "none" and len(statements) == 2
    assert register.get("PL01A1 2026000001-1", "none") == "none" and len(statements) == 2
    # ... until the next events are mapped: an event stored meanwhile may have linked it.
    with hub.engine.begin() as conn:
        event_id = conn.scalar(select(event.c.id).limit(1))
        conn.execute(case_link.insert().values(registratienummer="PL01A1 2026000001-1", parketnummer="13/000001-26",
                                               event_id=event_id, linked_at=datetime.now(timezone.utc)))
    register.expect(["PL01A1 2026000001-1"])
    assert register.get("PL01A1 2026000001-1", "none") == "13/000001-26" and len(statements) == 3
