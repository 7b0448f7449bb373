"""HttpClient's own pool of http.client connections: a connection the peer closed while it was
kept alive is not used again, no more are kept than asked, and a plain-HTTP proxy from the
environment is asked for the whole address with its credentials. Its failures carry requests'
names without requests."""
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ketenhub import peertext
from ketenhub.protocols import errors
from ketenhub.protocols.http import HttpClient, Tls
from tests.support.sshd import free_port


class Peer(BaseHTTPRequestHandler):
    """Answers 200 with the path it was asked for; closes each connection after its answer when
    the server says so, without announcing it (as a peer's idle timeout does)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        self.server.authorization.append(self.headers.get("Authorization"))
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.connections.add(self.client_address)
        self.close_connection = self.server.close_after_answer


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def shutdown_request(self, request):
        super().shutdown_request(request)
        self.closed.release()  # the connection is closed now, not only about to be


@pytest.fixture
def peer():
    server = Server(("127.0.0.1", 0), Peer)
    server.seen, server.authorization, server.connections, server.close_after_answer = [], [], set(), False
    server.closed = threading.Semaphore(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def plain(**kwargs) -> HttpClient:
    """A client allowed plain HTTP, as the loopback peers here speak it."""
    return HttpClient(timeout=5, deadline=10, tls=Tls(plain_http=True), **kwargs)


def url(server, path="/x") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_a_connection_the_peer_closed_while_kept_alive_is_not_used_again(peer):
    peer.close_after_answer = True
    client = plain()
    for _ in range(5):  # each call after the first would meet a closed connection
        assert client.post(url(peer), b"<x/>", {}, "DLV").status == 200
        assert peer.closed.acquire(timeout=5)  # idle, and closed by the peer, before the next call
    assert len(peer.connections) == 5


def test_one_connection_is_kept_for_calls_one_after_another(peer):
    client = plain()
    for _ in range(5):
        assert client.post(url(peer), b"<x/>", {}, "DLV").content == b"/x"
    assert len(peer.connections) == 1


def test_no_more_connections_are_kept_than_asked(peer):
    client = plain(connections=2)
    start, done = threading.Barrier(4), []

    def call():
        start.wait()
        done.append(client.post(url(peer), b"<x/>", {}, "DLV").status)
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == [200] * 4
    assert sum(map(len, client.idle.values())) <= 2
    client.close()
    assert not client.idle


def test_a_plain_http_proxy_is_asked_for_the_whole_address_with_its_credentials(peer, monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://hub:s%40cret@127.0.0.1:{peer.server_address[1]}")
    target = "http://dlv.example:8080/dlv/v1/beroepen/DLV-2026-0000001/status?a=1"
    answer = plain().post(target, b"<x/>", {}, "DLV")
    assert answer.status == 200
    assert peer.seen == [(target, "Basic aHViOnNAY3JldA==")]  # hub:s@cret


def test_basic_credentials_go_with_every_call(peer):
    client = plain(auth=("hub", "s@cret"))
    for _ in range(2):
        assert client.post(url(peer), b"<x/>", {}, "DLV").status == 200
    assert peer.authorization == ["Basic aHViOnNAY3JldA=="] * 2


def test_a_peer_that_cannot_be_reached_fails_under_the_name_operators_know(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    closed = free_port()  # nobody listens on it
    client = plain()
    with pytest.raises(errors.ConnectionError) as refused:
        client.post(f"http://127.0.0.1:{closed}/x", b"<x/>", {}, "DLV")
    assert not isinstance(refused.value, errors.Timeout)
    reason = f"DLV: {type(refused.value).__name__}"
    assert peertext.split(reason, "DLV") == ("DLV: ConnectionError", "")  # the hub's words, shown to all
    assert "Jansen" not in peertext.split("DLV: Jansen: text", "DLV")[0]  # a word no error is named


class Scripted:
    """A peer that answers each request with the next of its answers, byte for byte as given
    (what http.server would not write: folded or repeated headers, a 100 Continue first)."""

    def __init__(self, answers: list[bytes]):
        self.answers, self.connections = list(answers), 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/x"

    def _serve(self) -> None:
        while self.answers:
            conn, _ = self.sock.accept()
            self.connections += 1
            with conn, conn.makefile("rb") as requests:
                while self.answers:
                    head = b"".join(iter(requests.readline, b"\r\n"))
                    if not head:
                        break  # the client closed this connection
                    length = re.search(rb"(?i)content-length: *(\d+)", head)
                    requests.read(int(length[1]) if length else 0)
                    answer = self.answers.pop(0)
                    conn.sendall(answer)
                    if b"Content-Length" not in answer and b"chunked" not in answer:
                        break  # an answer without a length ends when the connection does
        self.sock.close()


def test_an_answers_headers_are_read_in_any_case_folded_and_repeated():
    peer = Scripted([b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\nX-Note: one\r\n\ttwo\r\n"
                     b"X-Twice: a\r\nX-Twice: b\r\nContent-Length: 4\r\n\r\nbusy",
                     b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"])
    client = plain()
    answer = client.post(peer.url, b"<x/>", {}, "DLV")
    assert (answer.status, answer.content) == (429, b"busy")
    assert answer.headers["Retry-After"] == "7" and answer.headers.get("RETRY-AFTER") == "7"
    assert answer.headers["x-note"] == "one two"  # a folded line continues the value before it
    assert answer.headers["X-Twice"] == "a" and answer.headers.get_all("x-twice") == ["a", "b"]
    assert "Location" not in answer.headers and answer.headers.get("Location", "-") == "-"
    assert client.post(peer.url, b"<x/>", {}, "DLV").status == 201
    assert peer.connections == 1  # the answer's length was read: the connection was kept


def test_a_chunked_answer_after_a_100_continue_is_read_whole_and_the_connection_kept():
    peer = Scripted([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 422 Unprocessable\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"6\r\nberoep\r\n9\r\n is dicht\r\n0\r\n\r\n",
                     b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    client = plain()
    answer = client.post(peer.url, b"<x/>", {}, "DLV")
    assert (answer.status, answer.content) == (422, b"beroep is dicht")
    assert client.post(peer.url, b"<x/>", {}, "DLV").content == b"ok"
    assert peer.connections == 1


@pytest.mark.parametrize("answer", [b"HTTP/1.1 200 OK\r\n\r\nto the end", b"HTTP/1.0 200 OK\r\n\r\nto the end",
                                    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end"])
def test_an_answer_that_ends_with_its_connection_is_read_to_the_end_and_not_kept(answer):
    peer = Scripted([answer, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"])
    client = plain()
    assert client.post(peer.url, b"<x/>", {}, "DLV").content == b"to the end"
    assert client.post(peer.url, b"<x/>", {}, "DLV").content == b"next"
    assert peer.connections == 2


def test_an_answer_with_too_many_headers_is_refused_as_http_client_refuses_it():
    peer = Scripted([b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(101))
                     + b"Content-Length: 0\r\n\r\n"])
    with pytest.raises(errors.ConnectionError):
        plain().post(peer.url, b"<x/>", {}, "DLV")
