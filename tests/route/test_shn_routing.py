"""SHN's rows of the routing table (contracts README, "Routing: added rows"), end to end through
the store: HULP_AANGEBODEN, HULP_GESTART and HULP_AFGESLOTEN with the Hulpverlener go to KbSP v2
for a victim whose informatiewens is true, with Bron SHN, a Ketenreferentie per victim per case
(parketnummer in slash form, else registratienummer) and a BerichtId stable per event and
victim."""
import json

from lxml import etree
from sqlalchemy import select

from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import Files
from ketenhub.store.tables import delivery
from ketenhub.xml import xslt
from tests.conftest import DATA

V2 = "urn:keten:kbsp:zaakstatus:v2"


def ingest(hub, tmp_path, *pages):
    folder = tmp_path / "pages"
    folder.mkdir(exist_ok=True)
    paths = []
    for i, page in enumerate(pages):
        path = folder / f"pagina-{len(list(folder.iterdir()))}-{i}.json"
        path.write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    partner = hub.registry.partner("shn")
    return ingest_source(hub, partner, Files(paths, partner.receive))


def statuses(hub, namespace=V2):
    with hub.engine.connect() as conn:
        rows = conn.execute(select(delivery.c.idempotency_key, delivery.c.document)
                            .where(delivery.c.destination == "kbsp").order_by(delivery.c.id)).all()
    items = [(key, etree.fromstring(doc)) for key, doc in rows]
    return [(key, item) for key, item in items if etree.QName(item).namespace == namespace]


def page(name):
    return json.loads((DATA / "shn" / name).read_text(encoding="utf-8"))


def text(item, name):
    return item.findtext(f"{{{V2}}}{name}")


def test_each_informed_victim_gets_a_v2_status_with_bron_shn_and_the_hulpverlener(hub, tmp_path):
    ingest(hub, tmp_path, page("valid-01-pagina.json"), page("valid-02-laatste-pagina.json"))
    items = statuses(hub)
    events = page("valid-01-pagina.json")["gebeurtenissen"]  # valid-02's victim asked not to be informed
    assert [text(i, "Status") for _, i in items] == [e["soort"] for e in events]
    for (key, item), e in zip(items, events):
        assert text(item, "Bron") == "SHN"
        assert text(item, "Hulpverlener") == e["hulpverlener"]
        assert item.findtext(f"{{{V2}}}Slachtoffer/{{{V2}}}Bsn") == e["slachtoffer"]["bsn"]
        ref = item.findtext(f"{{{V2}}}Slachtoffer/{{{V2}}}Ketenreferentie")
        assert key == text(item, "BerichtId") == f"SHN.{e['berichtId']}.{ref}"
        assert text(item, "Tijdstip") == e["tijdstip"]
        assert e["slachtoffer"]["naam"].encode() not in etree.tostring(item)  # no name in KbSP v2
    assert items[2][1].findtext(f"{{{V2}}}Slachtoffer/{{{V2}}}Taal") == "tr"
    assert items[0][1].findtext(f"{{{V2}}}Slachtoffer/{{{V2}}}Taal") == "nl"
    assert items[2][1].findtext(f"{{{V2}}}Zaak/{{{V2}}}Parketnummer") == "16/230981-25"  # slash form
    assert statuses(hub, "urn:keten:kbsp:zaakstatus:v1") == []  # v1 has no SHN statuses


def test_the_ketenreferentie_is_per_victim_per_case_parketnummer_first(hub, tmp_path):
    base = page("valid-01-pagina.json")["gebeurtenissen"]
    dash = dict(base[2], berichtId="shn-a")  # 16-230981-25
    slash = dict(base[2], berichtId="shn-b", parketnummer="16/230981-25", registratienummer="PL01A1 2026000001-1")
    other_victim = dict(base[2], berichtId="shn-c", slachtoffer=dict(base[0]["slachtoffer"]))
    by_registratie = dict(base[0], berichtId="shn-d")
    ingest(hub, tmp_path, {"gebeurtenissen": [dash, slash, other_victim, by_registratie], "volgende": "x",
                           "meerBeschikbaar": False})
    refs = [i.findtext(f"{{{V2}}}Slachtoffer/{{{V2}}}Ketenreferentie") for _, i in statuses(hub)]
    bsn = base[2]["slachtoffer"]["bsn"]
    assert refs[0] == refs[1] == xslt.ketenreferentie("", "16/230981-25", bsn, "")  # the parketnummer names the case
    assert refs[2] != refs[0]  # another victim in the same case
    assert refs[3] == xslt.ketenreferentie("PL07B3 2026123456-1", "", base[0]["slachtoffer"]["bsn"], "")


def test_an_event_served_again_gives_the_same_bericht_ids_and_no_second_status(hub, tmp_path):
    first = page("valid-01-pagina.json")
    ingest(hub, tmp_path, first)
    before = [k for k, _ in statuses(hub)]
    again = {**first, "gebeurtenissen": first["gebeurtenissen"][1:], "volgende": "y"}  # another page, same events
    (report,) = ingest(hub, tmp_path, again)
    assert (report.accepted, report.duplicates) == (0, 2)
    assert [k for k, _ in statuses(hub)] == before

