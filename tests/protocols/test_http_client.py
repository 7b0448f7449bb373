"""HttpClient's own pool of http.client connections: a connection the peer closed while it was
kept alive is not used again, no more are kept than asked, and a plain-HTTP proxy from the
environment is asked for the whole address with its credentials. Its failures carry requests'
names without requests."""
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


def url(server, path="/x") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_a_connection_the_peer_closed_while_kept_alive_is_not_used_again(peer):
    peer.close_after_answer = True
    client = HttpClient(timeout=5, deadline=10, tls=Tls(plain_http=True))
    for _ in range(5):  # each call after the first would meet a closed connection
        assert client.post(url(peer), b"<x/>", {}, "DLV").status == 200
        assert peer.closed.acquire(timeout=5)  # idle, and closed by the peer, before the next call
    assert len(peer.connections) == 5


def test_one_connection_is_kept_for_calls_one_after_another(peer):
    client = HttpClient(timeout=5, deadline=10, tls=Tls(plain_http=True))
    for _ in range(5):
        assert client.post(url(peer), b"<x/>", {}, "DLV").content == b"/x"
    assert len(peer.connections) == 1


def test_no_more_connections_are_kept_than_asked(peer):
    client = HttpClient(timeout=5, deadline=10, tls=Tls(plain_http=True), connections=2)
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
    answer = HttpClient(timeout=5, deadline=10, tls=Tls(plain_http=True)).post(target, b"<x/>", {}, "DLV")
    assert answer.status == 200
    assert peer.seen == [(target, "Basic aHViOnNAY3JldA==")]  # hub:s@cret


def test_basic_credentials_go_with_every_call(peer):
    client = HttpClient(timeout=5, deadline=10, auth=("hub", "s@cret"), tls=Tls(plain_http=True))
    for _ in range(2):
        assert client.post(url(peer), b"<x/>", {}, "DLV").status == 200
    assert peer.authorization == ["Basic aHViOnNAY3JldA=="] * 2


def test_a_peer_that_cannot_be_reached_fails_under_the_name_operators_know(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    closed = free_port()  # nobody listens on it
    client = HttpClient(timeout=5, deadline=10, tls=Tls(plain_http=True))
    with pytest.raises(errors.ConnectionError) as refused:
        client.post(f"http://127.0.0.1:{closed}/x", b"<x/>", {}, "DLV")
    assert not isinstance(refused.value, errors.Timeout)
    reason = f"DLV: {type(refused.value).__name__}"
    assert peertext.split(reason, "DLV") == ("DLV: ConnectionError", "")  # the hub's words, shown to all
    assert "Jansen" not in peertext.split("DLV: Jansen: text", "DLV")[0]  # a word no error is named
