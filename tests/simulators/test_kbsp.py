"""The KbSP simulator as the contract describes the portal: both versions at their own paths
with one register of BerichtIds, and v2's refusals of what its XSD lets through."""

import pytest
from lxml import etree

from ketenhub.protocols.soap import SoapClient
from ketenhub.settings import PROJECT_DIR
from ketenhub.simulators.kbsp import V2, KbspSimulator

NS1, NS2 = "urn:keten:kbsp:zaakstatus:v1", "urn:keten:kbsp:zaakstatus:v2"


pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # v1 until the switch


@pytest.fixture
def kbsp(tmp_path):
    sim = KbspSimulator(store=tmp_path / "accepted").start()
    yield sim
    sim.stop()


def client(sim, version):
    path = sim.path if version == "v1" else V2
    return SoapClient(str(PROJECT_DIR / f"schemas/kbsp/SlachtofferInformatieService-{version}.wsdl"), sim.url + path,
                      sim.oin, tls=sim.client_tls())


def status(ns, bericht_id, status="ZAAK_BIJ_OM", details=""):
    bron = "<Bron>OM</Bron>" if ns == NS2 else ""
    return (f"<Zaakstatus><BerichtId>{bericht_id}</BerichtId><Slachtoffer><Ketenreferentie>KR-1</Ketenreferentie>"
            f"<Taal>nl</Taal></Slachtoffer><Zaak/><Status>{status}</Status>{bron}"
            f"<Tijdstip>2027-01-01T10:00:00+01:00</Tijdstip>{details}</Zaakstatus>")


def publish(sim, version, *statuses):
    ns = NS1 if version == "v1" else NS2
    answer = client(sim, version).call("PubliceerZaakstatus", etree.fromstring(
        f'<PubliceerZaakstatusVerzoek xmlns="{ns}">{"".join(statuses)}</PubliceerZaakstatusVerzoek>'))
    return [(r.findtext(f"{{{ns}}}Code"), r.findtext(f"{{{ns}}}Reden")) for r in answer]


def test_one_register_for_both_versions(kbsp):
    assert publish(kbsp, "v1", status(NS1, "A")) == [("GEACCEPTEERD", None)]
    assert publish(kbsp, "v2", status(NS2, "A"), status(NS2, "B")) == [("DUPLICAAT", None), ("GEACCEPTEERD", None)]
    assert publish(kbsp, "v1", status(NS1, "B")) == [("DUPLICAAT", None)]
    assert kbsp.versions == {"A": "v1", "B": "v2"}


def test_v2_refuses_a_status_without_the_detail_it_needs_or_with_an_address(kbsp):
    bron = "<Bron>CJIB</Bron>"
    verlof = status(NS2, "C", "VERLOF").replace("<Bron>OM</Bron>", bron)
    maatregel = status(NS2, "D", "BESCHERMINGSMAATREGEL_OPGELEGD", "<Datum>2027-01-02</Datum><Voorwaarden><Voorwaarde>"
                       "<Soort>GEBIEDSVERBOD</Soort><Omschrijving>Niet in de buurt van</Omschrijving><Gebied>"
                       "Stationsweg 8, 7201DN Zutphen</Gebied></Voorwaarde></Voorwaarden>").replace("<Bron>OM</Bron>", bron)
    beslissing = status(NS2, "E", "SCHADEFONDS_BESLISSING", "<Datum>2027-01-02</Datum><Schadefondsbeslissing>"
                        "<Toegekend>false</Toegekend><Bedrag>5.00</Bedrag></Schadefondsbeslissing>")
    good = status(NS2, "F", "SCHADEFONDS_BESLISSING", "<Datum>2027-01-02</Datum><Schadefondsbeslissing>"
                  "<Toegekend>false</Toegekend></Schadefondsbeslissing>")
    assert publish(kbsp, "v2", verlof, maatregel, beslissing, good) == [
        ("AFGEWEZEN", "VERLOF zonder Datum"), ("AFGEWEZEN", "Voorwaarde 1 lijkt een adres te bevatten"),
        ("AFGEWEZEN", "Schadefondsbeslissing: Bedrag hoort bij Toegekend true, en alleen daarbij"),
        ("GEACCEPTEERD", None)]


def test_the_control_api_shows_both_versions(kbsp):
    publish(kbsp, "v1", status(NS1, "A"))
    publish(kbsp, "v2", status(NS2, "B"))
    state = kbsp.state()
    assert state["accepted_per_version"] == {"v1": 1, "v2": 1} and state["switch"] == "2027-02-28T23:00:00+00:00"


def test_one_victims_timeline_oldest_first_and_kept_across_a_restart(kbsp):
    def at(item, tijdstip, ref="KR-1"):
        return item.replace("2027-01-01T10:00:00+01:00", tijdstip).replace("KR-1", ref)
    publish(kbsp, "v2", at(status(NS2, "B", "HULP_GESTART", "<Hulpverlener>SHN, regio Oost</Hulpverlener>").replace(
        "<Bron>OM</Bron>", "<Bron>SHN</Bron>"), "2026-03-10T08:45:00Z"))
    publish(kbsp, "v1", at(status(NS1, "A", "AANGIFTE_ONTVANGEN"), "2026-03-10T09:30:00+01:00"),
            at(status(NS1, "C"), "2026-03-11T08:00:00"), at(status(NS1, "D"), "2026-03-12T08:00:00", "KR-2"))
    kbsp.stop()
    again = KbspSimulator(store=kbsp.store).start()  # the portal started again: it still knows what it accepted
    try:
        assert publish(again, "v2", status(NS2, "A")) == [("DUPLICAAT", None)]
        timeline = again.timeline(ketenreferentie="KR-1")
        assert list(timeline) == ["KR-1"]
        # v1 has no Bron: the contract's rule gives POLITIE to AANGIFTE_ONTVANGEN, OM to the rest.
        # Oldest first by the moment, not the text: 09:30 in Dutch winter time is 08:30 UTC.
        assert [(e["tijdstip"], e["bron"], e["status"], e["details"]) for e in timeline["KR-1"]] == [
            ("2026-03-10T09:30:00+01:00", "POLITIE", "AANGIFTE_ONTVANGEN", {}),
            ("2026-03-10T08:45:00Z", "SHN", "HULP_GESTART", {"Hulpverlener": "SHN, regio Oost"}),
            ("2026-03-11T08:00:00", "OM", "ZAAK_BIJ_OM", {})]
        assert again.timeline() == {}  # nobody asked for: nobody shown
    finally:
        again.stop()
