"""KbSP and DLV answering as a hostile or broken peer would, on loopback: redirects, answers that
trickle or never end, oversized answers, absurd Retry-After values, comments and DTDs in SOAP."""
import dataclasses
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
from sqlalchemy import select

from ketenhub.wiring import deliver
from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.protocols.session import NoRedirectSession
from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.store.tables import delivery
from tests.conftest import DATA, ingest, requests_tls
from tests.support.factories import om_batch, om_event, write_with_marker

SIMULATORS = {"kbsp": KbspSimulator, "dlv": DlvSimulator}
EXPECTED = {"kbsp": 4, "dlv": 6}


@pytest.fixture(params=["kbsp", "dlv"])
def peer(request, hub, connection, tmp_path, sample):
    """A destination with pending deliveries, its simulator and a second one on another port."""
    name = request.param
    first = SIMULATORS[name](store=tmp_path / "first").start()
    second = SIMULATORS[name](store=tmp_path / "second").start()
    address = (lambda s: s.address) if name == "kbsp" else (lambda s: s.url)
    connection(name, **first.connection())
    if name == "kbsp":
        path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                                 om_batch([om_event(i) for i in range(EXPECTED["kbsp"])]))
        ingest(hub, "om", path)
    else:
        for f in sorted((DATA / "cvom").glob("*.xml")):
            ingest(hub, "cvom", sample(f"cvom/{f.name}"))
    yield name, first, second, address
    first.stop()
    second.stop()


def limits(hub, name, **kw):
    """The destination with other adapter settings, as an adapter file would give them."""
    return dataclasses.replace(hub.registry.destination(name), **kw)


def rows(hub, name):
    with hub.engine.connect() as conn:
        return conn.execute(select(delivery).where(delivery.c.destination == name).order_by(delivery.c.id)).all()


def due_in(row) -> float:
    due = row.next_attempt_at if row.next_attempt_at.tzinfo else row.next_attempt_at.replace(tzinfo=timezone.utc)
    return (due - datetime.now(timezone.utc)).total_seconds()


# -- redirects ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_fails_the_delivery_naming_only_the_host(hub, peer, status):
    name, first, second, address = peer
    target = address(second) + "?bsn=123456782&naam=Jansen"
    first.misbehave(redirect_next=100, redirect_to=target, redirect_status=status)
    report = deliver(hub, hub.registry.destination(name))
    assert second.calls == 0 and not second.accepted  # nothing reached the other server
    assert (report.delivered, report.failed, report.retry) == (0, EXPECTED[name], 0)
    host = second.url  # scheme, host and port: nothing of the path or query
    for row in rows(hub, name):
        assert row.state == "failed"
        assert f"HTTP {status} redirect to {host};" in row.last_error and "follows no redirects" in row.last_error
        assert "123456782" not in row.last_error and "Jansen" not in row.last_error and "?" not in row.last_error


def test_a_redirect_without_a_host_or_with_a_garbled_one_names_no_path(hub, peer):
    name, first, second, address = peer
    first.misbehave(redirect_next=100, redirect_to="/elders/123456782")
    deliver(hub, hub.registry.destination(name))
    assert {r.state for r in rows(hub, name)} == {"failed"}
    assert all("redirect to a path on the same host" in r.last_error and "123456782" not in r.last_error
               for r in rows(hub, name))


def test_no_session_of_the_hub_follows_a_redirect_even_when_asked_to(tmp_path):
    first, second = DlvSimulator(store=tmp_path / "a").start(), DlvSimulator(store=tmp_path / "b").start()
    try:
        first.misbehave(redirect_next=1, redirect_to=second.url + "/dlv/v1/beroepen/DLV-2026-0000001/status")
        r = NoRedirectSession(first.client_tls()).post(first.url + "/x", data=b"<x/>", allow_redirects=True)
        assert r.status_code == 307 and second.calls == 0
    finally:
        first.stop()
        second.stop()


# -- an overall deadline per call -------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_peer_trickling_its_answer_is_cut_off_at_the_calls_deadline(hub, peer, connection, no_wait):
    name, first, second, address = peer
    connection(name, **first.connection(timeout=5))  # each read is quick enough
    first.misbehave(trickle=0.2)  # a byte every 0.2 s, status line and headers included
    started = time.monotonic()
    report = deliver(hub, limits(hub, name, call_deadline_seconds=1.5))
    took = time.monotonic() - started
    assert report.delivered == 0 and report.retry == EXPECTED[name]
    # KbSP answers once for the whole batch; DLV once per item, each call cut at its deadline
    assert took < (1.5 + 1.5) * (1 if name == "kbsp" else EXPECTED[name])
    assert all("deadline of 1.5 s" in r.last_error for r in rows(hub, name))
    first.misbehave(trickle=0)
    assert deliver(hub, hub.registry.destination(name)).delivered == EXPECTED[name]  # sent again, once each
    assert len(first.accepted) == EXPECTED[name]


def _post_timed(url, tls, answers):
    from ketenhub.protocols.http import DeadlineExceeded, HttpClient
    started = time.monotonic()
    try:
        HttpClient(timeout=5, deadline=1, tls=tls).post(url, b"<x/>", {"Content-Type": "application/xml"}, "DLV")
        answers.put(("answered", time.monotonic() - started))
    except DeadlineExceeded:
        answers.put(("deadline", time.monotonic() - started))


def test_a_forked_process_keeps_the_calls_deadline(tmp_path):
    """The deadlines' watchdog is a thread, which a forked worker does not inherit: its calls
    are cut off all the same."""
    import multiprocessing

    from ketenhub.protocols.http import HttpClient
    sim = DlvSimulator(store=tmp_path / "dlv").start()
    try:
        tls, fork = sim.client_tls(), multiprocessing.get_context("fork")
        assert HttpClient(timeout=5, deadline=10, tls=tls).post(sim.url + "/_sim", b"{}", {}, "DLV").status == 200
        sim.misbehave(trickle=0.2)  # a byte every 0.2 s: each read is quick, the answer takes long
        answers = fork.Queue()
        child = fork.Process(target=_post_timed, args=(sim.url + "/dlv/v1/beroepen/DLV-2026-0000001/status", tls,
                                                       answers))
        child.start()
        outcome, took = answers.get(timeout=30)
        child.join(5)
        assert outcome == "deadline" and took < 3
    finally:
        sim.stop()


def test_the_deadline_is_kept_well_inside_the_batch_lease(hub, connection):
    from ketenhub import wiring
    from ketenhub.deliver.run import LEASE
    connection("dlv", "http", host="http://127.0.0.1:9")
    t = wiring.transport(hub, limits(hub, "dlv", call_deadline_seconds=86400))
    assert t.http.deadline <= LEASE.total_seconds() / 4


# -- answers read up to a limit ---------------------------------------------------------------
@pytest.mark.parametrize("no_length", [False, True])
def test_an_oversized_answer_is_refused_without_reading_it_whole(hub, peer, no_length, no_wait):
    name, first, second, address = peer
    first.misbehave(pad_answer=60 << 20, no_length=no_length)
    tracemalloc.start()
    try:
        # One call at a time: the bound is per answer (each call in flight holds up to the limit,
        # and the simulator, in this process, a piece of what it sends).
        report = deliver(hub, limits(hub, name, answer_max_bytes=1 << 20, concurrency=1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20  # far below the 60 MB sent
    if name == "kbsp":  # what the portal did is unknown: sent again later, DUPLICAAT if it had it
        assert report.retry == EXPECTED[name]
    else:  # DLV's status code still says it: 201 delivered
        assert report.delivered == EXPECTED[name]
    for r in rows(hub, name):
        assert r.state == "delivered" or "larger than 1048576 bytes" in r.last_error


def test_an_oversized_dlv_error_body_fails_the_item_with_its_status(hub, connection, tmp_path, sample):
    sim = DlvSimulator(store=tmp_path / "dlv").start()
    try:
        connection("dlv", **sim.connection())
        ingest(hub, "cvom", sample("cvom/beslissing-gegrond.xml"))
        sim.misbehave(fail_next=1, fail_with="422", pad_answer=60 << 20, no_length=True)
        assert deliver(hub, limits(hub, "dlv", answer_max_bytes=1 << 20)).failed == 1
    finally:
        sim.stop()
    (row,) = rows(hub, "dlv")
    assert row.last_error == "DLV: the answer (HTTP 422) is larger than 1048576 bytes (adapter answer_max_bytes); not read"


def test_an_answer_within_the_limit_is_read_whatever_its_padding(hub, peer):
    name, first, second, address = peer
    first.misbehave(pad_answer=200_000, no_length=True)
    assert deliver(hub, limits(hub, name, answer_max_bytes=1 << 20)).delivered == EXPECTED[name]


# -- Retry-After ------------------------------------------------------------------------------
def http_date(delta: timedelta) -> str:
    return format_datetime(datetime.now(timezone.utc) + delta, usegmt=True)


@pytest.mark.parametrize("value, low, high", [
    ("1" + "0" * 30, 3590, 3600),  # overflowed the conversion once
    ("9" * 5000, 3590, 3600),
    ("999999999", 3590, 3600),  # 31 years
    (lambda: http_date(timedelta(days=20000)), 3590, 3600),
    (lambda: http_date(timedelta(seconds=120)), 100, 121),
    (lambda: http_date(-timedelta(days=1)), -5, 1),
    ("1e400", 40, 75),  # not the header's syntax: the backoff
    ("NaN", 40, 75),
    ("-5", 40, 75),
    ("soon", 40, 75),
    ("³", 40, 75),
    ("Fri, 31 Dec 99999 23:59:59 GMT", 40, 75),
])
def test_retry_after_is_parsed_capped_and_never_leaves_a_delivery_sending(hub, connection, tmp_path, sample, value,
                                                                          low, high):
    sim = DlvSimulator(store=tmp_path / "dlv").start()
    try:
        connection("dlv", **sim.connection())
        ingest(hub, "cvom", sample("cvom/beslissing-gegrond.xml"))
        sim.misbehave(fail_next=1, fail_with="503", retry_after=value() if callable(value) else value)
        report = deliver(hub, hub.registry.destination("dlv"))
    finally:
        sim.stop()
    assert report.retry == 1
    (row,) = rows(hub, "dlv")
    assert row.state == "pending" and low <= due_in(row) <= high


def test_the_cap_is_the_adapters(hub, connection, tmp_path, sample):
    sim = DlvSimulator(store=tmp_path / "dlv").start()
    try:
        connection("dlv", **sim.connection())
        ingest(hub, "cvom", sample("cvom/beslissing-gegrond.xml"))
        sim.misbehave(fail_next=1, fail_with="429", retry_after="999999999")
        deliver(hub, limits(hub, "dlv", retry_after_max_seconds=600))
    finally:
        sim.stop()
    (row,) = rows(hub, "dlv")
    assert 590 <= due_in(row) <= 600


@pytest.mark.parametrize("retry_after", [10 ** 400, float("inf"), float("-inf"), float("nan"), "999", None])
def test_whatever_a_transport_says_to_wait_the_batch_is_settled(hub, sample, retry_after):
    """The run itself: no value a transport hands back can leave a batch 'sending'."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))

    class Odd(Transport):
        def send(self, name, document, keys):
            return {k: ItemResult("retry", "busy", retry_after) for k in keys}
    report = deliver(hub, hub.registry.destination("cjib"), Odd())
    assert report.retry > 0
    assert {r.state for r in rows(hub, "cjib")} == {"pending"}
    assert all(-1 <= due_in(r) <= 3600 for r in rows(hub, "cjib"))


# -- SOAP answers: comments, processing instructions, whitespace, DTDs ------------------------------
@pytest.fixture
def kbsp(hub, connection, tmp_path):
    sim = KbspSimulator(store=tmp_path / "kbsp").start()
    connection("kbsp", **sim.connection())
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                                        om_batch([om_event(i) for i in range(5)])))
    yield sim
    sim.stop()


def test_comments_and_processing_instructions_anywhere_in_an_answer_do_not_hide_it(hub, kbsp, no_wait):
    kbsp.misbehave(noise=True, busy_next=2)
    keys = [r.idempotency_key for r in rows(hub, "kbsp")]
    kbsp.misbehave(refuse=[keys[0]])
    report = deliver(hub, hub.registry.destination("kbsp"))
    assert (report.delivered, report.failed, report.retry) == (2, 1, 2)
    assert rows(hub, "kbsp")[0].last_error == "KbSP: AFGEWEZEN: onbekend slachtoffer"
    kbsp.misbehave(fail_next=1, fail_with="fault")  # a Fault with noise is still a Fault
    assert deliver(hub, hub.registry.destination("kbsp")).retry == 2
    assert {r.last_error for r in rows(hub, "kbsp")[1:] if r.state == "pending"} == {
        "SoapFault: SOAP Fault soap:Server: the service is busy; try again later"}


def test_a_soap_answer_with_a_doctype_is_refused(hub, kbsp, no_wait):
    kbsp.misbehave(doctype=True)
    report = deliver(hub, hub.registry.destination("kbsp"))
    assert report.delivered == 0 and report.retry == 5
    assert all("declares a DTD" in r.last_error for r in rows(hub, "kbsp"))


def test_requests_itself_would_have_followed_the_redirect(tmp_path):
    """What the tests above guard against: a plain requests session follows a 307 with the body."""
    first, second = DlvSimulator(store=tmp_path / "a").start(), DlvSimulator(store=tmp_path / "b").start()
    try:
        first.misbehave(redirect_next=1, redirect_to=second.url + "/nowhere")
        requests.post(first.url + "/x", data=b"<x/>", headers={"Content-Type": "application/xml"}, **requests_tls(first))
        assert second.calls == 1
    finally:
        first.stop()
        second.stop()


def test_a_compressed_answer_is_held_to_the_limit_once_inflated():
    """200 MB of spaces in 200 KB of gzip, sent although the hub asked for no compression."""
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ketenhub.protocols.http import AnswerTooLarge, HttpClient, Tls
    bomb = gzip.compress(b" " * (200 << 20), 9)

    class Bomb(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(422)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Bomb)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tracemalloc.start()
    try:
        with pytest.raises(AnswerTooLarge, match=r"HTTP 422\) is larger than 1048576 bytes"):
            HttpClient(max_bytes=1 << 20, tls=Tls(plain_http=True)).post(
                f"http://127.0.0.1:{server.server_address[1]}/", b"<x/>", {}, "DLV")
        assert tracemalloc.get_traced_memory()[1] < 12 << 20
    finally:
        tracemalloc.stop()
        server.shutdown()
        server.server_close()
