"""KbSP's two contract versions against the simulator, which plays both endpoints with one
register of BerichtIds, on both sides of the switch (2027-03-01 00:00 Amsterdam time) with the
hub's clock set (ketenhub.clock): before it the v1 statuses go through v1 and the statuses only
v2 has through v2; from it everything goes through v2, also what was first tried through v1,
converted by mappings/kbsp-v1-to-v2.xsl under the same BerichtId."""
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree
from sqlalchemy import select

from ketenhub import clock, wiring
from ketenhub.deliver.transports import Transport
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.store.tables import audit, delivery
from ketenhub.xml.schema import compile_schema, validate
from tests.conftest import expire_leases, ingest
from tests.support.factories import om_batch, om_event, schadefonds_batch, schadefonds_event, write_with_marker

SWITCH = datetime(2027, 2, 28, 23, 0, tzinfo=timezone.utc)  # 2027-03-01 00:00 Europe/Amsterdam
BEFORE, AFTER = SWITCH - timedelta(days=2), SWITCH + timedelta(hours=1)
V1, V2 = "urn:keten:kbsp:zaakstatus:v1", "urn:keten:kbsp:zaakstatus:v2"


def om(hub, tmp_path, numbers, name="OM_ZAAKGEBEURTENISSEN_20270220_001.xml"):
    ingest(hub, "om", write_with_marker(tmp_path / name, om_batch([om_event(i) for i in numbers])))


def schadefonds(hub, tmp_path, numbers, name="SCHADEFONDS_AANVRAGEN_20270220_001.xml"):
    ingest(hub, "schadefonds", write_with_marker(tmp_path / name, schadefonds_batch(
        [schadefonds_event(i, "BESLISSING" if i % 2 else "AANVRAAG_ONTVANGEN", bsn="111222333") for i in numbers])))


def send(hub, via=None):
    return wiring.deliver(hub, hub.registry.destination("kbsp"), via)


def deliveries(hub):
    with hub.engine.connect() as conn:
        return {d.idempotency_key: d for d in conn.execute(select(delivery).where(delivery.c.destination == "kbsp"))}


def namespace(document: bytes) -> str:
    return etree.QName(etree.fromstring(document)).namespace


def test_before_the_switch_v1_statuses_go_through_v1_and_the_new_ones_through_v2(hub, kbsp, tmp_path):
    with clock.at(BEFORE):
        om(hub, tmp_path, range(3))
        schadefonds(hub, tmp_path, range(2))
        report = send(hub)
    assert report.delivered == 5 and report.batches == ["KETENHUB_KBSP_20270227_001.xml"]
    versions = {key.split(".")[0]: v for key, v in kbsp.versions.items()}
    assert versions == {"OM-T-0000000": "v1", "OM-T-0000001": "v1", "OM-T-0000002": "v1", "SCHADEFONDS": "v2"}
    assert sorted(v for v in kbsp.versions.values()) == ["v1", "v1", "v1", "v2", "v2"]
    assert kbsp.items_per_call == [3, 2]  # one batch, a document per version
    assert {namespace(d.document) for d in deliveries(hub).values()} == {V1, V2}


def test_from_the_switch_everything_goes_through_v2_with_its_bron(hub, kbsp, tmp_path):
    with clock.at(AFTER):
        om(hub, tmp_path, range(3))
        schadefonds(hub, tmp_path, range(2))
        assert send(hub).delivered == 5
    assert set(kbsp.versions.values()) == {"v2"}
    om_status = etree.fromstring(kbsp.accepted["OM-T-0000000." + om_key_suffix(hub)])
    assert om_status.findtext(f"{{{V2}}}Bron") == "OM" and om_status.findtext(f"{{{V2}}}Status") == "ZAAK_BIJ_OM"


def om_key_suffix(hub) -> str:
    (key,) = [k for k in deliveries(hub) if k.startswith("OM-T-0000000.")]
    return key.split(".", 1)[1]


def test_a_v1_delivery_waiting_for_a_retry_at_the_switch_goes_through_v2_converted_under_its_berichtid(
        hub, kbsp, tmp_path, no_wait):
    with clock.at(BEFORE):
        om(hub, tmp_path, range(4))
        kbsp.misbehave(busy_next=4)  # TIJDELIJK_NIET_VERWERKT: each waits for a retry
        assert send(hub).retry == 4
    before = deliveries(hub)
    assert {namespace(d.document) for d in before.values()} == {V1}
    with clock.at(AFTER):
        assert send(hub).delivered == 4
    assert set(kbsp.accepted) == set(before) and set(kbsp.versions.values()) == {"v2"}
    after = deliveries(hub)
    schema = compile_schema(str(hub.settings.schemas_dir / "kbsp/zaakstatus-v2.xsd"))
    for key, d in after.items():
        status = etree.fromstring(d.document)
        assert namespace(d.document) == V2 and validate(schema, status) == []
        assert status.findtext(f"{{{V2}}}BerichtId") == key and status.findtext(f"{{{V2}}}Bron") == "OM"
        assert etree.fromstring(kbsp.accepted[key]).findtext(f"{{{V2}}}Bron") == "OM"
        # Nothing else changed: the v1 item's elements in their order, Bron after Status.
        old = [(etree.QName(e).localname, e.text) for e in etree.fromstring(before[key].document).iter()]
        new = [(etree.QName(e).localname, e.text) for e in status.iter() if etree.QName(e).localname != "Bron"]
        assert old == new
    with hub.engine.connect() as conn:
        converted = conn.execute(select(audit.c.subject_id, audit.c.detail).where(audit.c.action == "converted")).all()
    assert sorted(i for i, _ in converted) == sorted(d.id for d in after.values())
    assert all(detail == "KbSP v1 to v2: v1 is no longer in use" for _, detail in converted)


def test_one_register_a_v1_batch_resent_after_the_switch_is_a_duplicaat_through_v2(hub, kbsp, tmp_path):
    with clock.at(BEFORE):
        om(hub, tmp_path, range(5))
        real = wiring.transport(hub, hub.registry.destination("kbsp")).of("v1")

        class CrashAfterSend(Transport):
            def send(self, name, document, keys):
                real.send(name, document, keys)
                raise SystemExit("killed")
        with pytest.raises(SystemExit):
            send(hub, CrashAfterSend())
    assert set(kbsp.versions.values()) == {"v1"} and len(kbsp.accepted) == 5
    with clock.at(AFTER):
        expire_leases(hub)
        assert send(hub).delivered == 5  # the abandoned batch, taken over, goes through v2
    assert kbsp.duplicates == 5 and len(kbsp.accepted) == 5  # one effect at the portal
    assert {namespace(d.document) for d in deliveries(hub).values()} == {V2}


def test_v1_refused_for_the_switch_by_a_portal_whose_clock_is_ahead_is_retried_through_v2(
        hub, tmp_path, connection, no_wait):
    sim = KbspSimulator(store=tmp_path / "ahead", switch=BEFORE - timedelta(minutes=1)).start()
    for name, fields in sim.connections().items():
        connection(name, **fields)
    with clock.at(BEFORE):
        om(hub, tmp_path, range(3))
        report = send(hub)
    assert (report.delivered, report.retry, report.failed) == (0, 3, 0)
    assert set(sim.refused.values()) == {"VERSIE_BUITEN_GEBRUIK"}
    assert {d.last_error for d in deliveries(hub).values()} == {"KbSP: AFGEWEZEN: VERSIE_BUITEN_GEBRUIK"}
    with clock.at(AFTER):
        assert send(hub).delivered == 3
    assert set(sim.versions.values()) == {"v2"}
    sim.stop()


def test_the_portal_refuses_v1_after_the_switch_as_the_contract_says(kbsp):
    from ketenhub.protocols.soap import SoapClient
    from ketenhub.settings import PROJECT_DIR

    status = etree.fromstring(f"""<PubliceerZaakstatusVerzoek xmlns="{V1}"><Zaakstatus><BerichtId>X-1</BerichtId>
      <Slachtoffer><Ketenreferentie>KR-1</Ketenreferentie><Taal>nl</Taal></Slachtoffer><Zaak/>
      <Status>ZAAK_BIJ_OM</Status><Tijdstip>2027-03-01T10:00:00+01:00</Tijdstip></Zaakstatus>
      </PubliceerZaakstatusVerzoek>""")
    client = SoapClient(str(PROJECT_DIR / "schemas/kbsp/SlachtofferInformatieService-v1.wsdl"), kbsp.address,
                        kbsp.oin, tls=kbsp.client_tls())
    with clock.at(AFTER):
        answer = client.call("PubliceerZaakstatus", status)
    assert [(r.findtext(f"{{{V1}}}Code"), r.findtext(f"{{{V1}}}Reden")) for r in answer] == [
        ("AFGEWEZEN", "VERSIE_BUITEN_GEBRUIK")]
    with clock.at(BEFORE):
        answer = client.call("PubliceerZaakstatus", status)
    assert [r.findtext(f"{{{V1}}}Code") for r in answer] == ["GEACCEPTEERD"]


def test_a_v1_delivery_that_cannot_be_converted_fails_with_the_reason(hub, tmp_path, no_wait):
    from dataclasses import replace

    kbsp = hub.registry.destination("kbsp")
    v1, v2 = kbsp.versions
    without_upgrade = replace(kbsp, versions=(replace(v1, upgrade=None), v2))
    with clock.at(BEFORE):
        om(hub, tmp_path, range(2))
    with clock.at(AFTER):
        report = wiring.deliver(hub, without_upgrade)  # no Connection: the folders
    assert (report.delivered, report.failed) == (0, 2)
    assert {d.state for d in deliveries(hub).values()} == {"failed"}
    assert {d.last_error for d in deliveries(hub).values()} == {
        "KbSP does not take version v1 now, and the adapter names no later version with an upgrade to it"}
    assert not list(hub.settings.path("outbox/kbsp").glob("*.xml"))
