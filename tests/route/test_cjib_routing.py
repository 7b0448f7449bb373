"""CJIB's rows of the routing table to KbSP v2: per victim who asked in this very event,
Datum, Voorwaarden word for word, each victim only their own Betaling or Voorschot."""
import shutil

import pytest
from lxml import etree
from sqlalchemy import select

from ketenhub.pipeline import ingest
from ketenhub.receive.base import Incoming
from ketenhub.settings import PROJECT_DIR
from ketenhub.simulators.cjib_push import event, request
from ketenhub.store.tables import delivery, event as event_table
from tests.support.cjib import KBSP_V2, kbsp_v2_cjib

EXAMPLES = PROJECT_DIR / "schemas" / "cjib" / "examples"
SOURCE = "urn:keten:cjib:slachtofferinformatie:v1"
V2 = {"z": KBSP_V2}


@pytest.fixture
def hub_v2(hub, monkeypatch):
    monkeypatch.setitem(hub.registry.destinations, "kbsp_v2", kbsp_v2_cjib())
    return hub


def push(hub, tmp_path, body: bytes, name: str = "call.xml"):
    path = tmp_path / name
    path.write_bytes(body)
    return ingest(hub, hub.registry.partner("cjib"), Incoming(name, path))


def statuses(hub) -> dict[str, list[etree._Element]]:
    """Per inbound BerichtId, the Zaakstatus items routed to KbSP v2."""
    with hub.engine.connect() as conn:
        rows = conn.execute(select(event_table.c.bericht_id, delivery.c.document).join(
            delivery, delivery.c.event_id == event_table.c.id).where(delivery.c.destination == "kbsp_v2")).all()
    found: dict[str, list] = {}
    for bericht_id, document in rows:
        found.setdefault(bericht_id, []).append(etree.fromstring(bytes(document)))
    return found


def text(item, path) -> str | None:
    return item.findtext(path, namespaces=V2)


def test_the_contracts_valid_examples_route_as_the_table_says(hub_v2, tmp_path):
    for example in ("valid-01-vonnis-vrijlating-verlof.xml", "valid-02-maatregel-betaling-voorschot.xml"):
        shutil.copy(EXAMPLES / example, tmp_path / example)
        assert push(hub_v2, tmp_path, (EXAMPLES / example).read_bytes(), example).accepted == 3
    got = statuses(hub_v2)
    [vonnis] = got["CJIB-SI-2027-000101"]
    assert (text(vonnis, "z:Status"), text(vonnis, "z:Bron"), text(vonnis, "z:Datum")) == \
        ("VONNIS_ONHERROEPELIJK", "CJIB", "2027-02-17")
    assert text(vonnis, "z:Slachtoffer/z:Bsn") == "628194821"
    assert text(vonnis, "z:Zaak/z:Parketnummer") == "05/123456-26"
    assert text(vonnis, "z:Tijdstip") == "2027-02-18T07:10:00+01:00"
    # Derived from the event and the victim: the same on every re-run, so KbSP answers DUPLICAAT.
    assert text(vonnis, "z:BerichtId") == f"CJIB.CJIB-SI-2027-000101.{text(vonnis, 'z:Slachtoffer/z:Ketenreferentie')}"
    # The release: only the victim whose own Informatiewens in this event is true (not F. El Amrani).
    [release] = got["CJIB-SI-2027-000102"]
    assert text(release, "z:Slachtoffer/z:Bsn") == "628194821" and text(release, "z:Datum") == "2027-04-15"
    source = etree.parse(str(EXAMPLES / "valid-01-vonnis-vrijlating-verlof.xml")).getroot()
    sent = [[(c.tag.split("}")[1], c.text) for c in v] for v in release.iterfind("z:Voorwaarden/z:Voorwaarde", V2)]
    wanted = [[(c.tag.split("}")[1], c.text) for c in v]
              for v in source.iterfind(f"{{{SOURCE}}}Slachtofferinformatie[2]/{{{SOURCE}}}Voorwaarden/"
                                       f"{{{SOURCE}}}Voorwaarde")]
    assert sent == wanted and len(sent) == 3  # word for word, in order, none merged or left out
    [leave] = got["CJIB-SI-2027-000103"]
    assert text(leave, "z:Status") == "VERLOF" and text(leave, "z:Zaak/z:Parketnummer") == "16/230981-25"
    assert text(leave, "z:Slachtoffer/z:Taal") == "tr" and leave.find("z:Voorwaarden", V2) is None
    [measure] = got["CJIB-SI-2027-000104"]
    assert text(measure, "z:Voorwaarden/z:Voorwaarde/z:Omschrijving") == \
        "Contactverbod met het slachtoffer voor de duur van vijf jaar."
    paid = {text(z, "z:Slachtoffer/z:Bsn"): z for z in got["CJIB-SI-2027-000105"]}
    assert {b: (text(z, "z:Status"), text(z, "z:Betaling/z:BetaaldBedrag"), text(z, "z:Betaling/z:OpenstaandBedrag"))
            for b, z in paid.items()} == {"628194821": ("SCHADEVERGOEDING_BETAALD", "600.00", "1250.00"),
                                          "353799075": ("SCHADEVERGOEDING_BETAALD", "300.00", "0.00")}
    assert b"1250.00" not in etree.tostring(paid["353799075"])  # never another victim's amounts
    [advance] = got["CJIB-SI-2027-000106"]
    assert (text(advance, "z:Status"), text(advance, "z:Voorschot/z:Bedrag")) == ("VOORSCHOT_UITGEKEERD", "1250.00")
    assert text(advance, "z:Datum") == "2027-10-18"


VICTIM = "<Slachtoffer><Bsn>{}</Bsn><Naam>N</Naam><Informatiewens>{}</Informatiewens>{}</Slachtoffer>"


def test_release_and_leave_go_only_by_the_victims_own_wish_in_this_event(hub_v2, tmp_path):
    first = event("CJIB-W-1", victims=VICTIM.format("628194821", "true", ""))  # asked, in an earlier event
    release = event("CJIB-W-2", "INVRIJHEIDSTELLING", victims=VICTIM.format("628194821", "false", "")
                    + VICTIM.format("353799075", "true", ""))
    push(hub_v2, tmp_path, request([first, release]))
    got = statuses(hub_v2)
    assert [text(z, "z:Slachtoffer/z:Bsn") for z in got["CJIB-W-2"]] == ["353799075"]
    assert [text(z, "z:Slachtoffer/z:Bsn") for z in got["CJIB-W-1"]] == ["628194821"]


def test_amounts_go_only_to_the_victim_they_belong_to(hub_v2, tmp_path):
    paid = event("CJIB-A-1", "SCHADEVERGOEDING_BETALING", victims=VICTIM.format(
        "628194821", "true", "<Betaling><BetaaldBedrag>12.50</BetaaldBedrag><OpenstaandBedrag>7.50</OpenstaandBedrag>"
        "</Betaling>") + VICTIM.format("353799075", "true", "") + VICTIM.format(
        "121547280", "false", "<Betaling><BetaaldBedrag>99.00</BetaaldBedrag><OpenstaandBedrag>1.00"
        "</OpenstaandBedrag></Betaling>"))
    push(hub_v2, tmp_path, request([paid]))
    [only] = statuses(hub_v2)["CJIB-A-1"]  # the informed victim without a Betaling gets nothing, nor the uninformed
    assert text(only, "z:Slachtoffer/z:Bsn") == "628194821" and text(only, "z:Betaling/z:BetaaldBedrag") == "12.50"


def test_voorwaarden_are_passed_on_exactly_as_written(hub_v2, tmp_path):
    odd = "  Geen contact,\n ook niet  via   anderen — óók niet online.  "
    gebied = "de wijk <Oost> & het centrum"
    body = request([event("CJIB-V-1", "BESCHERMINGSMAATREGEL_OPGELEGD", extra=(
        "<Voorwaarden><Voorwaarde><Soort>GEBIEDSVERBOD</Soort><Omschrijving>{}</Omschrijving><Gebied>{}</Gebied>"
        "</Voorwaarde></Voorwaarden>").format(odd, gebied.replace("&", "&amp;").replace("<", "&lt;")
                                            .replace(">", "&gt;")))])
    push(hub_v2, tmp_path, body)
    [measure] = statuses(hub_v2)["CJIB-V-1"]
    assert text(measure, "z:Voorwaarden/z:Voorwaarde/z:Omschrijving") == odd
    assert text(measure, "z:Voorwaarden/z:Voorwaarde/z:Gebied") == gebied


def test_an_event_refused_for_an_address_sends_nothing_to_anyone(hub_v2, tmp_path):
    report = push(hub_v2, tmp_path, (EXAMPLES / "afgewezen-01-postcode-in-voorwaarde.xml").read_bytes())
    assert report.accepted == 0 and len(report.rejected) == 1
    assert statuses(hub_v2) == {}
