"""Politie over SOAP against the simulator on loopback: paging, confirm after storing, faults.
Each in one process and with forked workers, which map a page while the one before is stored."""
import dataclasses
import time

import pytest
from sqlalchemy import func, select

from ketenhub import wiring
from ketenhub.protocols.soap import ProtocolError, ServiceUnavailable, SoapFault
from ketenhub.simulators.politie import PolitieSimulator
from ketenhub.store.tables import case_link, event, receive_cursor
from tests.conftest import DATA, requests_tls


@pytest.fixture(autouse=True, params=[1, 2], ids=["one-process", "workers"])
def workers(request, hub):
    hub.settings = dataclasses.replace(hub.settings, workers=request.param)
    return request.param


@pytest.fixture
def politie(connection):
    sim = PolitieSimulator().start()
    connection("politie", **sim.connection())
    yield sim
    sim.stop()


def receive(hub):
    return wiring.receive(hub, hub.registry.partner("politie"))


def stored(hub):
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(event).where(event.c.partner == "politie"))


def test_pages_until_none_left_and_confirms_each_stored_page(hub, politie):
    politie.add(2300)
    reports = receive(hub)
    assert [r.accepted for r in reports] == [1000, 1000, 300]
    assert stored(hub) == 2300
    assert politie.state() == {"waiting": 0, "confirmed_up_to": 2300, "handed_out": 2300}
    with hub.engine.connect() as conn:
        assert conn.scalar(select(receive_cursor.c.position)) == 2300
    politie.add(5)
    assert [r.accepted for r in receive(hub)] == [5]  # from the cursor on: nothing asked for twice
    assert politie.state()["handed_out"] == 2305


def test_a_page_is_kept_as_a_flat_batch_of_its_own_namespace(hub, politie, monkeypatch):
    """The page leaves its SOAP envelope behind: kept without SOAP's and WS-Addressing's
    declarations, and without those the simulator's meldingen repeat, so that the scan reads it
    as a plain list of meldingen. Written from the answer as parsed, it is not parsed once more
    to know that it is well-formed."""
    from ketenhub import pipeline
    from ketenhub.validate import payload
    scans, scan = [], pipeline.scan
    monkeypatch.setattr(pipeline, "scan", lambda *a, **kw: scans.append(scan(*a, **kw)) or scans[-1])
    monkeypatch.setattr(payload, "_check_well_formed", lambda f: pytest.fail("the page was checked again"))
    politie.add(3)
    (report,) = receive(hub)
    (kept,) = hub.settings.payloads_dir.glob("*.xml")
    assert report.accepted == 3 and [(s.events, s.plain) for s in scans] == [(3, True)]
    assert all(b"<Melding xmlns=" in melding for melding in politie.last_page)  # as handed out
    assert kept.read_bytes().count(b"xmlns") == 1 and b"soap" not in kept.read_bytes()


@pytest.mark.parametrize("failure", [dict(fail_with="fault"), dict(fail_with="503"), dict(fail_with="500")])
def test_faults_and_5xx_are_retried(hub, politie, no_wait, failure):
    politie.add(1500)
    politie.misbehave(fail_next=2, **failure)
    receive(hub)
    assert stored(hub) == 1500 and politie.state()["waiting"] == 0


def test_a_link_made_on_one_page_reaches_a_melding_on_the_next(hub, politie, workers, monkeypatch):
    """A melding naming its case by registratienummer alone gets the parketnummer's Ketenreferentie
    when one on the page before named both: with workers too, which map the next page while
    that one is still being stored."""
    from tests.store.test_cases import BSN, PARKET, REG, keyed, references
    sample = (DATA / "politie/melding-aangifte.xml").read_text()
    alone = sample.replace("  <Parketnummer>13-002157-26</Parketnummer>\n", "")
    politie.add(999)
    for text in (sample, alone):  # the last of page one, the first of page two
        politie.add_melding(lambda n, text=text: text.replace("<Volgnummer>1<", f"<Volgnummer>{n}<")
                            .replace("POL-0001", f"POL-{n:09d}").replace('<?xml version="1.0" encoding="UTF-8"?>', ""))
    politie.add(999)
    from ketenhub import pipeline
    store = pipeline._store  # slow: the workers surely map page two before page one is stored
    monkeypatch.setattr(pipeline, "_store", lambda *a: time.sleep(0.5) or store(*a))
    assert [r.accepted for r in receive(hub)] == [1000, 1000]
    assert references(hub, "politie", BSN) == {keyed(PARKET)}
    with hub.engine.connect() as conn:
        assert conn.execute(select(case_link.c.registratienummer, case_link.c.parketnummer)).all() == [(REG, PARKET)]


def test_with_workers_a_page_is_mapped_in_regions_of_its_own_size(hub, politie, workers, monkeypatch):
    """A page of 1,000 is several regions for each worker (``page_region_events``), so that one
    whose core is busier takes fewer of them; in one process, regions as a file's."""
    from ketenhub import pipeline
    sizes, read = [], pipeline.regions
    monkeypatch.setattr(pipeline, "regions", lambda *a: (sizes.append(r.events) or r for r in read(*a)))
    politie.add(1000)
    assert [r.accepted for r in receive(hub)] == [1000]
    tuning = hub.settings.tuning
    size = tuning.page_region_events if workers > 1 else tuning.region_events
    assert sum(sizes) == 1000 and len(sizes) == 1000 // size, sizes


def test_a_dropped_connection_is_retried(hub, politie, no_wait):
    politie.add(10)
    politie.misbehave(drop_next=1)
    receive(hub)
    assert stored(hub) == 10


def test_a_fault_on_a_later_page_loses_and_repeats_nothing_before_it(hub, politie, no_wait, monkeypatch):
    politie.add(2500)
    from ketenhub.receive import soap
    calls = []
    real = soap.SoapClient.call

    def failing_on_third_page(self, operation, body):
        calls.append(operation)
        if operation == "HaalMeldingen" and calls.count("HaalMeldingen") == 3:  # asked while page 2 is stored
            raise SoapFault("soap:Server", "down")
        return real(self, operation, body)
    monkeypatch.setattr(soap, "with_retries", lambda attempt, *args: attempt(True))  # no retries
    monkeypatch.setattr(soap.SoapClient, "call", failing_on_third_page)
    with pytest.raises(SoapFault):
        receive(hub)
    assert stored(hub) == 2000 and politie.state()["confirmed_up_to"] == 2000
    monkeypatch.setattr(soap.SoapClient, "call", real)
    receive(hub)
    assert stored(hub) == 2500
    assert politie.state()["handed_out"] == 2500  # the first two pages were not asked for again


def kept_without_a_row(hub) -> list:
    from ketenhub.store.tables import payload
    with hub.engine.connect() as conn:
        rows = set(conn.scalars(select(payload.c.sha256)))
    return [p for p in hub.settings.payloads_dir.glob("*.xml") if p.stem not in rows]


def test_a_page_that_fails_to_store_leaves_the_next_one_unconfirmed_and_nothing_of_it(hub, politie, monkeypatch):
    """With workers the next page is read, kept and mapped while this one is stored: when
    storing fails, that page leaves no kept copy and no row behind, and is asked for again."""
    from ketenhub import pipeline
    politie.add(2500)
    real = pipeline.inbound.store_events
    monkeypatch.setattr(pipeline.inbound, "store_events", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        receive(hub)
    assert stored(hub) == 0 and politie.state()["confirmed_up_to"] == 0
    from ketenhub.store.tables import payload
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(payload)) == 1  # the page that failed, to finish
    assert kept_without_a_row(hub) == []
    monkeypatch.setattr(pipeline.inbound, "store_events", real)
    assert [r.accepted for r in receive(hub)] == [1000, 1000, 500]
    assert stored(hub) == 2500 and politie.state()["confirmed_up_to"] == 2500
    assert not list((hub.settings.home / "work" / "politie").glob("*.xml"))  # no page left behind


def test_a_page_that_fails_to_map_stops_the_run_after_the_page_before_is_stored(hub, politie, monkeypatch):
    """The second page fails while the workers (or this process) map it: the first is stored
    and confirmed, the second neither, and the next run takes it."""
    from ketenhub.processing import EventProcessor
    politie.add(2500)
    real = EventProcessor.process_region

    def failing_on_page_two(self, region):
        if b"<Volgnummer>1001</Volgnummer>" in region.data:
            raise ValueError("mapping failed")
        return real(self, region)
    monkeypatch.setattr(EventProcessor, "process_region", failing_on_page_two)  # before the workers fork
    with pytest.raises(Exception):
        receive(hub)
    assert stored(hub) == 1000 and politie.state()["confirmed_up_to"] == 1000
    assert kept_without_a_row(hub) == []
    monkeypatch.setattr(EventProcessor, "process_region", real)
    receive(hub)
    assert stored(hub) == 2500 and politie.state()["confirmed_up_to"] == 2500


def test_a_failure_handing_a_page_to_the_workers_confirms_nothing_unstored(hub, politie, monkeypatch):
    from ketenhub import pipeline
    politie.add(2500)
    monkeypatch.setattr(pipeline.cases, "named_links", lambda canonicals: 1 / 0)
    try:
        receive(hub)
    except ZeroDivisionError:
        pass
    assert politie.state()["confirmed_up_to"] == stored(hub)  # 0 with workers, all without


def test_a_crash_between_storing_and_confirming_yields_duplicates_not_new_events(hub, politie, no_wait, monkeypatch):
    politie.add(30)
    from ketenhub.receive import soap
    real = soap.SoapClient.call

    def crash_on_confirm(self, operation, body):
        if operation == "BevestigOntvangst":
            raise SystemExit("killed")
        return real(self, operation, body)
    monkeypatch.setattr(soap.SoapClient, "call", crash_on_confirm)
    with pytest.raises(SystemExit):
        receive(hub)
    assert stored(hub) == 30 and politie.state()["waiting"] == 30
    monkeypatch.setattr(soap.SoapClient, "call", real)
    politie.add(5)
    (report,) = receive(hub)
    assert (report.accepted, report.duplicates) == (5, 30)  # handed out again, recognised
    assert stored(hub) == 35 and politie.state()["waiting"] == 0


def test_a_slow_answer_beyond_the_timeout_is_retried(hub, politie, no_wait, monkeypatch):
    from ketenhub.protocols import soap as protocol
    politie.add(3)
    client = protocol.SoapClient(str(hub.settings.schemas_dir / "politie/MeldingenService-v1.wsdl"),
                                 politie.address, politie.oin, timeout=0.3, tls=politie.client_tls())
    politie.misbehave(delay=0.6)
    with pytest.raises(ServiceUnavailable):
        client.call("HaalMeldingen", protocol_request())
    politie.misbehave(delay=0)
    assert len(client.call("HaalMeldingen", protocol_request())) == 4  # three meldingen and MeerBeschikbaar


def protocol_request():
    from lxml import etree
    ns = "urn:keten:politie:slachtoffermelding:v1"
    req = etree.Element(f"{{{ns}}}HaalMeldingenVerzoek")
    etree.SubElement(req, f"{{{ns}}}VanafVolgnummer").text = "0"
    etree.SubElement(req, f"{{{ns}}}MaxAantal").text = "10"
    return req


def test_the_service_refuses_calls_without_ws_addressing(politie):
    """The simulator enforces the WUS profile: a bare SOAP call is a Fault."""
    import requests
    body = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<HaalMeldingenVerzoek xmlns="urn:keten:politie:slachtoffermelding:v1"><VanafVolgnummer>0'
            b'</VanafVolgnummer><MaxAantal>1</MaxAantal></HaalMeldingenVerzoek></soap:Body></soap:Envelope>')
    r = requests.post(politie.address, data=body, headers={
        "SOAPAction": '"urn:keten:politie:meldingenservice:v1:HaalMeldingen"', "Content-Type": "text/xml"},
        **requests_tls(politie))
    assert r.status_code == 500 and b"wsa:Action" in r.content


def test_an_answer_without_matching_relatesto_is_not_trusted(hub, politie, monkeypatch):
    from ketenhub.simulators import soap as simsoap
    real = simsoap.SoapSimulator.envelope
    monkeypatch.setattr(simsoap.SoapSimulator, "envelope",
                        lambda self, answer, action, relates_to: real(self, answer, action, "urn:uuid:other"))
    politie.add(1)
    with pytest.raises(ProtocolError):
        receive(hub)
    assert stored(hub) == 0


# -- a service that does not advance, or never ends -----------------------------------------
def with_receive(hub, **kw):
    """The Politie adapter with other receive settings, as its YAML would give them."""
    import dataclasses
    p = hub.registry.partners["politie"]
    hub.registry.partners["politie"] = dataclasses.replace(p, receive=dataclasses.replace(p.receive, **kw))


def test_the_same_page_again_stops_the_receive_with_a_clear_error(hub, politie):
    from ketenhub.receive.soap import PageDoesNotAdvance
    politie.add(1500)
    politie.misbehave(repeat_page=50)  # the page just confirmed, again and again, "more available"
    with pytest.raises(PageDoesNotAdvance, match="from Volgnummer 1000 answered a page up to Volgnummer 1000"):
        receive(hub)
    assert stored(hub) == 1000 and politie.state()["confirmed_up_to"] == 1000
    assert politie.repeat_page == 49  # asked once more, not fifty times
    with hub.engine.connect() as conn:
        assert conn.scalar(select(receive_cursor.c.position)) == 1000


@pytest.mark.timeout(120)
def test_pages_per_run_are_bounded_and_the_next_run_goes_on(hub, politie):
    with_receive(hub, max_pages=3)
    politie.add(10)
    politie.misbehave(endless=8)  # keeps making up more and saying so
    assert len(receive(hub)) == 3
    assert politie.state()["confirmed_up_to"] == 3000 and stored(hub) == 3000
    with hub.engine.connect() as conn:
        assert conn.scalar(select(receive_cursor.c.position)) == 3000
    assert len(receive(hub)) == 3  # the next run: from the cursor on
    assert stored(hub) == 6000 and politie.state()["handed_out"] == 6000  # nothing asked for twice


class Pages:
    """A service stand-in handing out fixed pages: the rule is about the numbers on a page."""

    def __init__(self, *pages):
        self.pages = list(pages)

    def call(self, operation, body):
        from lxml import etree
        ns = "urn:keten:politie:slachtoffermelding:v1"
        numbers, more = self.pages.pop(0)
        page = etree.Element(f"{{{ns}}}HaalMeldingenAntwoord", nsmap={None: ns})
        for n in numbers:
            etree.SubElement(etree.SubElement(page, f"{{{ns}}}Melding"), f"{{{ns}}}Volgnummer").text = n
        etree.SubElement(page, f"{{{ns}}}MeerBeschikbaar").text = more
        return page


@pytest.mark.parametrize("numbers", [["7"], ["3", "7", "1"], ["0"], ["x"], [""], ["9", ""], ["³"], ["-8"], ["1" * 40]])
def test_a_page_that_does_not_move_the_cursor_on_or_is_unreadable_stops(hub, numbers):
    from ketenhub.protocols.soap import ProtocolError
    from ketenhub.pipeline import ingest_source
    from ketenhub.receive.soap import MeldingenInbox
    from ketenhub.store.cursor import ReceiveCursor
    from ketenhub.store.tables import receive_cursor as cursor
    from ketenhub.clock import now
    with hub.engine.begin() as conn:
        conn.execute(cursor.insert().values(partner="politie", position=7, updated_at=now()))
    with pytest.raises(ProtocolError, match="Volgnummer 7"):
        ingest_source(hub, hub.registry.partner("politie"),
                      MeldingenInbox(Pages((numbers, "true")), ReceiveCursor(hub.engine, "politie"), hub.settings.home))
    assert stored(hub) == 0


# -- answers as a broken or hostile service sends them --------------------------------------
def test_comments_and_processing_instructions_in_the_answers_are_read_through(hub, politie):
    politie.add(1500)
    politie.misbehave(noise=True)
    assert [r.accepted for r in receive(hub)] == [1000, 500]
    assert politie.state()["confirmed_up_to"] == 1500


def test_an_answer_with_a_doctype_is_refused(hub, politie):
    politie.add(3)
    politie.misbehave(doctype=True)
    with pytest.raises(ProtocolError, match="declares a DTD"):
        receive(hub)
    assert stored(hub) == 0 and politie.state()["confirmed_up_to"] == 0


def test_a_redirect_is_not_followed(hub, politie, connection):
    from ketenhub.simulators.politie import PolitieSimulator
    other = PolitieSimulator().start()
    try:
        politie.add(3)
        politie.misbehave(redirect_next=5, redirect_to=other.address + "?VanafVolgnummer=0")
        with pytest.raises(ProtocolError, match=f"HTTP 307 redirect to {other.url};"):
            receive(hub)
        assert other.calls == 0 and stored(hub) == 0
    finally:
        other.stop()


@pytest.mark.timeout(60)
def test_a_trickling_answer_is_cut_off_at_the_deadline(hub, politie):
    import time
    from ketenhub.protocols import soap as protocol
    politie.add(3)
    client = protocol.SoapClient(str(hub.settings.schemas_dir / "politie/MeldingenService-v1.wsdl"),
                                 politie.address, politie.oin, timeout=5, deadline=1, tls=politie.client_tls())
    politie.misbehave(trickle=0.2)  # each byte well within the per-read timeout
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="deadline of 1 s"):
        client.call("HaalMeldingen", protocol_request())
    assert time.monotonic() - started < 3


def test_an_oversized_answer_is_refused(hub, politie):
    with_receive(hub, answer_max_bytes=1 << 20)
    politie.add(3)
    politie.misbehave(pad_answer=40 << 20, no_length=True)
    with pytest.raises(ProtocolError, match="larger than 1048576 bytes"):
        receive(hub)
    assert stored(hub) == 0


def test_a_page_rejected_whole_is_not_confirmed_and_the_run_stops(hub, politie):
    """Confirming would let the police forget meldingen the hub could not read."""
    from dataclasses import replace

    from ketenhub.adapters import Limits
    from ketenhub.receive.soap import PageRejected
    from ketenhub.store.tables import quarantine
    politie.add(1500)
    hub.registry.partners["politie"] = replace(hub.registry.partner("politie"), limits=Limits(payload_bytes=1000))
    with pytest.raises(PageRejected):
        receive(hub)
    # The second page was asked for while the first was stored; neither is confirmed
    assert politie.state() == {"waiting": 1500, "confirmed_up_to": 0, "handed_out": 1500}
    with hub.engine.connect() as conn:
        assert conn.scalar(select(receive_cursor.c.position)) is None
        assert "limits.payload_bytes" in conn.scalar(select(quarantine.c.reason))
