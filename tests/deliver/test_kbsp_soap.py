"""KbSP over SOAP against the simulator: calls of at most 500, per-item results, faults. Through
version 1, before KbSP's switch to version 2 (tests/deliver/test_kbsp_versions.py: both sides)."""

import pytest
from sqlalchemy import func, select

from ketenhub.wiring import deliver
from ketenhub.deliver.transports import Transport
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.store.tables import delivery
from tests.conftest import expire_leases, ingest
from tests.support.factories import om_batch, om_event, write_with_marker


pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # v1 until the switch


def events(hub, tmp_path, n):
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(i) for i in range(n)]))
    ingest(hub, "om", path)


def states(hub):
    with hub.engine.connect() as conn:
        return dict(conn.execute(select(delivery.c.state, func.count()).where(delivery.c.destination == "kbsp")
                                 .group_by(delivery.c.state)).all())


def send(hub):
    return deliver(hub, hub.registry.destination("kbsp"))


def test_publishes_in_calls_of_at_most_500_each_item_once(hub, kbsp, tmp_path):
    events(hub, tmp_path, 1203)
    report = send(hub)
    assert report.delivered == 1203
    assert kbsp.items_per_call == [500, 500, 203]
    assert len(kbsp.accepted) == 1203 and len(list(kbsp.store.glob("*.xml"))) == 1203
    assert send(hub).delivered == 0 and len(kbsp.items_per_call) == 3


def test_item_results_delivered_refused_and_not_now(hub, kbsp, tmp_path, no_wait):
    events(hub, tmp_path, 10)
    with hub.engine.connect() as conn:
        keys = conn.scalars(select(delivery.c.idempotency_key).order_by(delivery.c.id)).all()
    kbsp.misbehave(refuse=[keys[0]], busy_next=3)
    report = send(hub)
    assert (report.delivered, report.failed, report.retry) == (6, 1, 3)
    with hub.engine.connect() as conn:
        refused = conn.execute(select(delivery).where(delivery.c.idempotency_key == keys[0])).one()
    assert refused.state == "failed" and refused.last_error == "KbSP: AFGEWEZEN: onbekend slachtoffer"
    assert send(hub).delivered == 3  # TIJDELIJK_NIET_VERWERKT: sent again later
    assert states(hub) == {"delivered": 9, "failed": 1}
    assert len(kbsp.accepted) == 9


def test_a_fault_means_nothing_was_processed_and_the_call_is_repeated(hub, kbsp, tmp_path, no_wait):
    events(hub, tmp_path, 20)
    kbsp.misbehave(fail_next=1, fail_with="fault")
    assert send(hub).retry == 20
    kbsp.misbehave(fail_next=1, fail_with="503")
    assert send(hub).retry == 20
    kbsp.misbehave(drop_next=1)
    assert send(hub).retry == 20
    assert send(hub).delivered == 20
    assert len(kbsp.accepted) == 20 and kbsp.duplicates == 0


def test_a_resend_after_a_crash_is_answered_duplicaat_and_counts_as_delivered(hub, kbsp, tmp_path):
    events(hub, tmp_path, 7)
    from ketenhub import wiring
    real = wiring.transport(hub, hub.registry.destination("kbsp")).of("v1")

    class CrashAfterSend(Transport):
        def send(self, name, document, keys):
            real.send(name, document, keys)
            raise SystemExit("killed")
    with pytest.raises(SystemExit):
        deliver(hub, hub.registry.destination("kbsp"), CrashAfterSend())
    assert states(hub) == {"sending": 7} and len(kbsp.accepted) == 7
    expire_leases(hub)
    assert send(hub).delivered == 7
    assert kbsp.duplicates == 7 and len(kbsp.accepted) == 7  # one effect at the portal


def test_an_answer_too_slow_for_the_timeout_is_sent_again_and_counted_once(hub, tmp_path, connection, no_wait):
    """The portal processed the call but the answer came after our timeout: we cannot know,
    so we send again; the portal says DUPLICAAT; one effect."""
    sim = KbspSimulator(store=tmp_path / "kbsp-slow").start()
    connection("kbsp", **sim.connection(timeout=0.5))
    events(hub, tmp_path, 4)
    sim.misbehave(delay=1.0)
    assert send(hub).retry == 4
    import time
    time.sleep(0.8)  # let the slow call finish at the portal
    sim.misbehave(delay=0)
    assert send(hub).delivered == 4
    assert len(sim.accepted) == 4 and sim.duplicates == 4
    sim.stop()


def test_an_independent_zeep_client_can_use_the_simulated_service(kbsp):
    """The simulator serves the real WSDL and answers what it promises: zeep, built from the
    served ?wsdl, sends a request with WS-Addressing headers and reads the typed answer."""
    import uuid

    import requests
    import zeep
    from lxml import etree
    from zeep.transports import Transport

    from tests.conftest import requests_tls
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, beats the session's verify
    session.verify, session.cert = requests_tls(kbsp)["verify"], requests_tls(kbsp)["cert"]
    client = zeep.Client(kbsp.address + "?wsdl", transport=Transport(session=session))
    wsa = "http://www.w3.org/2005/08/addressing"
    headers = []
    for tag, value in (("Action", "urn:keten:kbsp:slachtofferinformatieservice:v1:PubliceerZaakstatus"),
                       ("MessageID", f"urn:uuid:{uuid.uuid4()}"), ("To", f"{kbsp.address}?OIN={kbsp.oin}")):
        el = etree.Element(f"{{{wsa}}}{tag}")
        el.text = value
        headers.append(el)
    sender = etree.Element(f"{{{wsa}}}From")
    etree.SubElement(sender, f"{{{wsa}}}Address").text = \
        "http://www.w3.org/2005/08/addressing/anonymous?OIN=00000099000000099000"
    headers.append(sender)
    status = dict(BerichtId="ZEEP-1", Slachtoffer=dict(Ketenreferentie="KR-1", Taal="nl"), Zaak={},
                  Status="ZAAK_BIJ_OM", Tijdstip="2026-11-20T09:00:00")
    answer = client.service.PubliceerZaakstatus(Zaakstatus=[status], _soapheaders=headers)
    assert [(r.BerichtId, r.Code) for r in answer] == [("ZEEP-1", "GEACCEPTEERD")]
