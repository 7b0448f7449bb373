"""The HTTP simulators' own reading of a request (without the email package): headers by name in
any case, http.server's limits, keep-alive and Connection: close, Expect: 100-continue."""
import socket

import pytest

from ketenhub.simulators.dlv import DlvSimulator

BODY = (b'<BeroepStatus xmlns="urn:keten:dlv:beroepstatus:v1"><BerichtId>K-1</BerichtId><DlvZaaknummer>'
        b'DLV-2026-0000001</DlvZaaknummer><CjibNummer>123456789</CjibNummer><Status>IN_BEHANDELING</Status>'
        b'<Tijdstip>2026-12-06T10:00:00Z</Tijdstip></BeroepStatus>')


@pytest.fixture
def sim(tmp_path):
    s = DlvSimulator(store=tmp_path / "dlv", plain=True).start()
    yield s
    s.stop()


def talk(sim, data: bytes, answers: int = 1) -> bytes:
    """What the simulator answers to ``data``, read until it has sent ``answers`` heads or closed."""
    with socket.create_connection(sim.server.server_address[:2], timeout=5) as sock:
        sock.sendall(data)
        got = b""
        while got.count(b"HTTP/1.1 ") < answers or not got.endswith((b"\r\n\r\n", b"busy", b"resource")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def post(headers: str, body: bytes = BODY) -> bytes:
    return (f"POST /dlv/v1/beroepen/DLV-2026-0000001/status HTTP/1.1\r\nHost: dlv\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_headers_are_read_by_name_in_any_case(sim):
    answer = talk(sim, post("content-type: application/xml\r\nIDEMPOTENCY-KEY: K-1\r\n"))
    assert answer.startswith(b"HTTP/1.1 201 ") and sim.accepted == {"K-1": BODY}


def test_two_requests_on_one_connection_get_two_answers_and_close_ends_it(sim):
    first = post("Content-Type: application/xml\r\nIdempotency-Key: K-1\r\n")
    second = post("Content-Type: application/xml\r\nIdempotency-Key: K-1\r\nConnection: close\r\n")
    answer = talk(sim, first + second, answers=2)
    assert answer.startswith(b"HTTP/1.1 201 ") and b"HTTP/1.1 200 " in answer
    assert sim.replays == 1 and sim.server.connections == 1


@pytest.mark.parametrize("request_, status", [
    (b"GARBAGE\r\n\r\n", b"400"),
    (b"POST / HTTP/2.0\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nNo colon here\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nName : space before the colon\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n", b"431"),
    (b"POST / HTTP/1.1\r\nX-Long: " + b"x" * 70000 + b"\r\n\r\n", b"431"),
])
def test_a_malformed_request_is_refused_with_http_servers_limits(sim, request_, status):
    assert talk(sim, request_).startswith(b"HTTP/1.1 " + status)
    assert sim.calls == 0


def test_expect_100_continue_is_answered_before_the_body(sim):
    with socket.create_connection(sim.server.server_address[:2], timeout=5) as sock:
        head = post("Content-Type: application/xml\r\nIdempotency-Key: K-1\r\nExpect: 100-continue\r\n", b"")
        sock.sendall(head.replace(b"Content-Length: 0", f"Content-Length: {len(BODY)}".encode()))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(BODY)
        assert sock.recv(65536).startswith(b"HTTP/1.1 201 ")
