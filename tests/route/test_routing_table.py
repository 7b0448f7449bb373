"""The routing table of the contracts' README, row by row, through the whole pipeline:
sample events ingested, deliveries delivered to the folder outboxes, documents read back.
Before KbSP's switch to version 2: the Politie and OM statuses go through v1
(tests/route/test_schadefonds_routing.py and tests/deliver/test_kbsp_versions.py: v2)."""
import hashlib
from decimal import Decimal

import pytest
from lxml import etree

from ketenhub.wiring import deliver
from ketenhub.xml.schema import compile_schema, validate
from tests.conftest import all_samples, ingest

KBSP = "urn:keten:kbsp:zaakstatus:v1"
DLV = "urn:keten:dlv:beroepstatus:v1"
CJIB = "urn:keten:cjib:opdrachten:v1"


pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # v1 until the switch


@pytest.fixture
def delivered(hub, tmp_path, sample):
    for partner, paths in all_samples().items():
        for path in paths:
            (report,) = ingest(hub, partner, sample(f"{partner}/{path.name}", tmp_path / partner))
            assert report.state == "accepted" and not report.rejected, report.text()
    for dest in hub.registry.destinations.values():
        deliver(hub, dest)
    out = {}
    for whole in hub.registry.destinations.values():
        docs = out.setdefault(whole.destination, [])
        for dest in [v.destination for v in whole.versions] or [whole]:
            schema = compile_schema(str(hub.settings.schemas_dir / dest.schema))
            for f in sorted(hub.settings.path(dest.folder).glob("*.xml")):
                doc = etree.parse(str(f)).getroot()
                assert validate(schema, doc) == [], f.name
                docs.append(doc)
    return out


def zaakstatussen(docs):
    return {z.findtext(f"{{{KBSP}}}BerichtId"): z for d in docs for z in d.iter(f"{{{KBSP}}}Zaakstatus")}


def opdrachten(docs):
    return {o.findtext(f"{{{CJIB}}}OpdrachtId"): o for d in docs for o in d.iter(f"{{{CJIB}}}Opdracht")}


def t(el, path, ns=KBSP):
    return el.findtext("/".join(f"{{{ns}}}{p}" for p in path.split("/")))


def test_kbsp_gets_one_zaakstatus_per_informed_victim_with_the_right_status(delivered):
    by_event = {}
    for key, el in zaakstatussen(delivered["kbsp"]).items():
        by_event.setdefault(key.split(".")[0], []).append(t(el, "Status"))
    assert by_event == {
        "POL-0001": ["AANGIFTE_ONTVANGEN"],  # S2 has Informatiewens false
        "OM-1001": ["ZAAK_BIJ_OM"],
        "OM-1002": ["ZITTING_GEPLAND"],  # Informatiewens written as 1
        "OM-1003": ["UITSPRAAK", "UITSPRAAK"],  # S1 and S2; S3 not informed
        "OM-1004": ["STRAFBESCHIKKING"],
        "OM-1005": ["ZAAK_GESEPONEERD"],
    }


def test_kbsp_details_per_row(delivered):
    z = zaakstatussen(delivered["kbsp"])
    hearing = next(v for k, v in z.items() if k.startswith("OM-1002"))
    assert t(hearing, "Zitting/Instantie") == "Rechtbank Midden-Nederland"
    assert t(hearing, "Slachtoffer/Taal") == "en"
    sepot = next(v for k, v in z.items() if k.startswith("OM-1005"))
    assert t(sepot, "Uitkomst") == "SEPOT" and t(sepot, "Zitting/Instantie") is None
    verdict = {t(v, "Slachtoffer/Bsn"): v for k, v in z.items() if k.startswith("OM-1003")}
    # Only the victim a compensation order names sees an amount, and only their own.
    assert t(verdict["111222333"], "Schadevergoeding") == "1250.00"
    assert t(verdict["100000009"], "Schadevergoeding") is None
    assert all(t(v, "Uitkomst") == "VEROORDEELD" for v in verdict.values())
    penalty = next(v for k, v in z.items() if k.startswith("OM-1004"))
    assert t(penalty, "Schadevergoeding") == "75.25" and t(penalty, "Uitkomst") == "VEROORDEELD"
    # Parketnummer in slash form, whatever the partner wrote.
    assert {t(v, "Zaak/Parketnummer") for v in z.values()} == {"13/002157-26", "16/104711-26", "05/222333-26"}


def test_ketenreferentie_is_stable_across_partners(delivered):
    z = zaakstatussen(delivered["kbsp"])
    anna = [t(v, "Slachtoffer/Ketenreferentie") for v in z.values() if t(v, "Slachtoffer/Bsn") == "111222333"]
    assert len(anna) == 4 and len(set(anna)) == 1  # a Politie melding and three OM events: one reference


def test_no_suspect_data_reaches_kbsp(delivered, hub):
    """Every KbSP document produced from cases with suspect data: no suspect value anywhere."""
    suspect_values = {"123456782", "Karel", "Boef", "1990-01-01", "12345678", "Dorpsstraat", "3511 AB",
                      "100000010", "Piet", "Hendriks", "Onbekend"}
    files = list(hub.settings.path("outbox/kbsp").glob("*"))
    assert files
    for f in files:
        text = f.read_text()
        leaked = {v for v in suspect_values if v in text}
        assert not leaked, (f.name, leaked)


def test_cjib_instructions(delivered):
    o = opdrachten(delivered["cjib"])
    assert set(o) == {"OM-1003.GELDBOETE", "OM-1003.SCHADEVERGOEDING.1", "OM-1003.SCHADEVERGOEDING.2",
                      "OM-1004.GELDBOETE", "OM-1004.SCHADEVERGOEDING.1",
                      "CVOM-2002.WAHV", "CVOM-2003.WAHV", "CVOM-2004.WAHV", "CVOM-2005.WAHV"}

    def f(key, path):
        return t(o[key], path, CJIB)
    assert (f("OM-1003.GELDBOETE", "Soort"), f("OM-1003.GELDBOETE", "Bedrag")) == ("TENUITVOERLEGGING_GELDBOETE", "450.50")
    assert f("OM-1003.GELDBOETE", "Betrokkene/Naam") == "Karel de Boef"
    assert f("OM-1003.GELDBOETE", "Bron/Parketnummer") == "13/002157-26"
    # One instruction per compensation order, Begunstigde = the victim it names (S3 is not informed: still paid).
    assert f("OM-1003.SCHADEVERGOEDING.1", "Begunstigde/Bsn") == "111222333"
    assert f("OM-1003.SCHADEVERGOEDING.2", "Begunstigde/Naam") == "Klaassen"
    assert f("OM-1003.SCHADEVERGOEDING.2", "Bedrag") == "300.00"
    assert f("OM-1004.SCHADEVERGOEDING.1", "Begunstigde/Naam") == "Els de Vries"
    # The three outcomes of a WAHV decision.
    assert [(f(k, "Soort"), f(k, "Bedrag"), f(k, "Bron/CjibNummer")) for k in
            ("CVOM-2002.WAHV", "CVOM-2003.WAHV", "CVOM-2004.WAHV", "CVOM-2005.WAHV")] == [
        ("WAHV_INNING_STOPPEN", "0.00", "200012342"),
        ("WAHV_BEDRAG_AANPASSEN", "119.50", "200012343"),
        ("WAHV_INNING_HERVATTEN", "239.00", "200012344"),
        ("WAHV_INNING_HERVATTEN", "239.00", "200012345"),
    ]


def test_cjib_control_totals_and_marker(delivered, hub):
    (doc,) = delivered["cjib"]
    items = list(doc.iter(f"{{{CJIB}}}Opdracht"))
    assert int(t(doc, "Kop/AantalOpdrachten", CJIB)) == len(items) == 9
    assert Decimal(t(doc, "Kop/TotaalBedrag", CJIB)) == sum(Decimal(t(i, "Bedrag", CJIB)) for i in items)
    (f,) = hub.settings.path("outbox/cjib").glob("KETENHUB_CJIB_*.xml")
    marker = f.with_name(f.name + ".sha256").read_text().split()
    assert marker == [hashlib.sha256(f.read_bytes()).hexdigest(), f.name]
    assert not list(f.parent.glob("*.part"))


def test_dlv_statuses(delivered):
    statuses = {d.findtext(f"{{{DLV}}}BerichtId"): d for d in delivered["dlv"]}
    assert {k: t(v, "Status", DLV) for k, v in statuses.items()} == {
        "CVOM-2001": "IN_BEHANDELING", "CVOM-2002": "BESLIST", "CVOM-2003": "BESLIST",
        "CVOM-2004": "BESLIST", "CVOM-2005": "BESLIST", "CVOM-2006": "DOORGEZONDEN_KANTONRECHTER"}
    assert [t(statuses[k], "Beslissing/TeBetalen", DLV) for k in ("CVOM-2002", "CVOM-2003", "CVOM-2004", "CVOM-2005")] \
        == ["0.00", "119.50", "239.00", "239.00"]
    assert t(statuses["CVOM-2001"], "Beslissing/Uitkomst", DLV) is None


# ---- Added rows: the Schadefonds, to KbSP v2 ---------------------------------------------------
KBSP2 = "urn:keten:kbsp:zaakstatus:v2"


def v2_statuses(docs):
    return {z.findtext(f"{{{KBSP2}}}BerichtId"): z for d in docs for z in d.iter(f"{{{KBSP2}}}Zaakstatus")}


def test_schadefonds_steps_reach_kbsp_v2_only_for_an_aanvrager_who_asked(delivered):
    z = {k.split(".")[1]: v for k, v in v2_statuses(delivered["kbsp"]).items() if k.startswith("SCHADEFONDS.")}
    assert {k: (t(v, "Status", KBSP2), t(v, "Bron", KBSP2)) for k, v in z.items()} == {
        "SF-GB-2027-0000311": ("SCHADEFONDS_AANVRAAG_ONTVANGEN", "SCHADEFONDS"),  # 0000312: Informatiewens false
        "SF-GB-2027-0000313": ("SCHADEFONDS_BESLISSING", "SCHADEFONDS"),
        "SF-GB-2027-0000320": ("SCHADEFONDS_BESLISSING", "SCHADEFONDS"),
        "SF-3001": ("SCHADEFONDS_AANVRAAG_ONTVANGEN", "SCHADEFONDS"),  # Informatiewens written as 1
        "SF-3002": ("SCHADEFONDS_BESLISSING", "SCHADEFONDS"),  # SF-3003: Informatiewens false
    }
    granted, refused = z["SF-GB-2027-0000313"], z["SF-GB-2027-0000320"]
    assert [t(granted, p, KBSP2) for p in ("Schadefondsbeslissing/Toegekend", "Schadefondsbeslissing/Bedrag", "Datum",
                                           "Tijdstip", "Slachtoffer/Taal", "Zaak/Delictomschrijving")] == [
        "true", "2500.00", "2027-03-12", "2027-03-14T17:45:00+01:00", "en", "Mishandeling"]
    assert [t(refused, p, KBSP2) for p in ("Schadefondsbeslissing/Toegekend", "Schadefondsbeslissing/Bedrag",
                                           "Datum", "Zaak/Parketnummer", "Slachtoffer/Taal")] == [
        "false", None, "2027-03-15", "16/230981-25", "tr"]
    assert t(z["SF-3002"], "Schadefondsbeslissing/Bedrag", KBSP2) == "750.50"
    received = z["SF-3001"]
    assert t(received, "Zaak/Registratienummer", KBSP2) == "PL07B3 2026123456-1"
    assert t(received, "Datum", KBSP2) is None and t(received, "Schadefondsbeslissing/Toegekend", KBSP2) is None


def test_each_victim_gets_only_their_own_decision_and_nothing_of_their_name(delivered, hub):
    theirs = [v for key, v in v2_statuses(delivered["kbsp"]).items() if key.startswith("SCHADEFONDS.SF-GB-2027-0000313")]
    assert theirs and all(t(v, "Slachtoffer/Bsn", KBSP2) == "252760189" for v in theirs)
    text = "".join(f.read_text() for f in hub.settings.path("outbox/kbsp-v2").glob("*.xml"))
    assert text
    assert not any(name in text for name in ("de Vries", "Kowalski", "Öztürk", "Bakker", "A. Jansen"))
    assert "507529170" not in text  # Informatiewens false: nothing about them at all


def test_ketenreferentie_is_stable_per_victim_per_case_across_partners(delivered):
    v1 = zaakstatussen(delivered["kbsp"])
    v2 = v2_statuses(delivered["kbsp"])

    def refs(statuses, ns, bsn, prefix):
        return {t(v, "Slachtoffer/Ketenreferentie", ns) for k, v in statuses.items()
                if t(v, "Slachtoffer/Bsn", ns) == bsn and k.startswith(prefix)}
    # Anna: the police, the OM and the fund (by the police Registratienummer): one reference.
    assert refs(v1, KBSP, "111222333", "") == refs(v2, KBSP2, "111222333", "SCHADEFONDS.SF-3001")
    # Els de Vries: the OM and the fund name the case by its Parketnummer, in either form.
    assert len(refs(v1, KBSP, "100000022", "OM-1004") | refs(v2, KBSP2, "100000022", "SCHADEFONDS.SF-3002")) == 1


def test_no_schadefonds_status_goes_through_v1(delivered):
    assert not [k for k in zaakstatussen(delivered["kbsp"]) if "SF-" in k]


def test_schadefonds_berichtids_are_stable_on_a_rerun(hub, tmp_path, sample):
    from sqlalchemy import select

    from ketenhub.store.tables import delivery
    path = sample("schadefonds/SCHADEFONDS_AANVRAGEN_20270317_001.xml", tmp_path / "first")
    (first,) = ingest(hub, "schadefonds", path)
    with hub.engine.connect() as conn:
        keys = sorted(conn.scalars(select(delivery.c.idempotency_key)))
    assert first.accepted == 3 and len(keys) == 2 and all(k.startswith("SCHADEFONDS.SF-300") for k in keys)
    # The same events in a file with another header: nothing new, the same keys.
    again = tmp_path / "again" / "SCHADEFONDS_AANVRAGEN_20270318_001.xml"
    again.parent.mkdir()
    from tests.support.factories import write_with_marker
    write_with_marker(again, path.read_bytes().replace(b"SF-20270317-001", b"SF-20270318-001"))
    (second,) = ingest(hub, "schadefonds", again)
    assert (second.state, second.accepted, second.duplicates) == ("accepted", 0, 3)
    with hub.engine.connect() as conn:
        assert sorted(conn.scalars(select(delivery.c.idempotency_key))) == keys
