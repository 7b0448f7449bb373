"""What every HTTP simulator shares: a threaded server on a free loopback port, misbehaviour
on request, and a small control API (GET/POST /_sim) for tests and people.

It serves two-way TLS, as a Digikoppeling service does: a server certificate from the test CA
(``ketenhub.simulators.tls``) with the service's OIN, and a client certificate signed by that CA
required on every connection. ``plain=True`` serves plain HTTP instead (for the tests showing
that the hub refuses it)."""
from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ketenhub.protocols.http import Headers
from ketenhub.simulators.tls import Pki, default_pki

HANDSHAKE_SECONDS = 10.0
MAX_HEADER_LINE = 65536  # as http.server's own limits
MAX_HEADERS = 100


class Handler(BaseHTTPRequestHandler):
    """http.server's handler, reading a request's headers without the email package (which cost
    more than the rest of a simulator's answer), and writing an answer's head and body together."""
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024  # sent when the answer is complete: http.server flushes after each request

    def log_message(self, *args):  # no request logging: bodies hold personal data
        pass

    def parse_request(self) -> bool:
        self.command, self.request_version, self.close_connection = None, "HTTP/1.1", True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.send_error(400 if words else 505, "Bad request line")
            return False
        self.command, self.path, self.request_version = words
        if self.path.startswith("//"):  # as http.server: no scheme-less absolute URI taken for a path
            self.path = "/" + self.path.lstrip("/")
        pairs = []
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if line in (b"\r\n", b"\n", b""):
                break
            name, colon, value = str(line, "iso-8859-1").partition(":")
            if len(line) > MAX_HEADER_LINE or not colon or not name or name != name.strip():
                self.send_error(400 if len(line) <= MAX_HEADER_LINE else 431, "Bad header line")
                return False
            pairs.append((name, value.strip()))
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers = Headers(pairs)
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (self.request_version == "HTTP/1.0"
                                                          and connection != "keep-alive")
        if headers.get("expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            going_on = self.handle_expect_100()
            self.wfile.flush()  # the client waits for it before it sends the body
            return going_on
        return True


class _TlsServer(ThreadingHTTPServer):
    """Each connection's handshake in its own thread, so that a client that never completes one
    holds up no other."""
    daemon_threads = True
    context: ssl.SSLContext | None = None
    connections = 0  # connections accepted (with TLS: handshakes completed)

    def finish_request(self, request, client_address):
        # Without Nagle's algorithm, as a service's server runs: a write after an earlier one
        # otherwise waits for the client's delayed ACK, about 40 ms.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is None:
            self.connections += 1
            return super().finish_request(request, client_address)
        request.settimeout(HANDSHAKE_SECONDS)
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):  # no, or an unknown, client certificate: refused
            return self._refused(tls)
        tls.settimeout(None)
        self.connections += 1
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            tls.close()

    @staticmethod
    def _refused(tls: ssl.SSLSocket) -> None:
        """Closed after the client has read the alert: closing at once, with the client's first
        request unread, resets the connection, and the reset can overtake the alert."""
        try:
            tls.shutdown(socket.SHUT_WR)  # from here on a plain socket
            tls.settimeout(2)
            while tls.recv(65536):
                pass
        except OSError:
            pass
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        pass  # a client that went away; nothing of a request is printed (bodies hold personal data)


@dataclass
class Misbehaviour:
    fail_next: int = 0  # answer the next N calls with a failure
    fail_with: str = "fault"  # fault (SOAP Fault), 503, 500, 429
    retry_after: int = 1  # seconds, with 503 and 429
    delay: float = 0.0  # seconds to wait before answering every call
    drop_next: int = 0  # close the connection without an answer, N times
    refuse: list[str] = field(default_factory=list)  # keys refused permanently (AFGEWEZEN / 422)
    busy_next: int = 0  # items answered 'not now' (TIJDELIJK_NIET_VERWERKT)
    redirect_next: int = 0  # answer the next N calls with a redirect to redirect_to
    redirect_to: str = ""
    redirect_status: int = 307
    trickle: float = 0.0  # send every answer one byte at a time, this many seconds apart
    pad_answer: int = 0  # bytes of whitespace after every answer's body (an oversized answer)
    no_length: bool = False  # no Content-Length: the answer ends when the connection closes
    noise: bool = False  # SOAP: comments and processing instructions all through the answer
    doctype: bool = False  # SOAP: the answer declares a DTD


class Simulator:
    """Subclasses implement ``handle(handler, method)`` and ``state()``."""
    oin: str | None = None  # the service's own OIN, in its server certificate

    def __init__(self, port: int = 0, host: str = "127.0.0.1", pki: Pki | None = None, plain: bool = False):
        self.pki = None if plain else pki or default_pki()
        self.misbehaviour = Misbehaviour()
        self.lock = threading.RLock()
        self.calls = 0
        self.in_flight = self.most_in_flight = 0  # calls being answered at once: several senders show here
        sim = self

        class Dispatch(Handler):
            def do_GET(self):
                sim._dispatch(self, "GET")

            def do_POST(self):
                sim._dispatch(self, "POST")

        self.server = _TlsServer((host, port), Dispatch)
        self.server.context = self.pki.server_context(self.oin) if self.pki else None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.pki else 'http'}://{host}:{port}"

    @property
    def service_url(self) -> str:
        """The address a hub's Connection names."""
        return self.url

    def connection(self, **extra) -> dict:
        """An Airflow Connection (as AIRFLOW_CONN_* JSON or for ``connections import``) that
        reaches this simulator: its address, the test CA and the hub's client certificate."""
        tls = self.pki.connection_extra() if self.pki else {"insecure_plain_http": True}
        return {"conn_type": "http", "host": self.service_url, "extra": json.dumps({**tls, **extra})}

    def client_tls(self, **changes):
        """The hub's TLS settings for this simulator (``Endpoint.tls``), for tests that build a
        client themselves."""
        from ketenhub.connections import Endpoint

        c = self.connection()
        return Endpoint("http", c["host"], extra={**json.loads(c["extra"]), **changes}).tls(self.oin)

    def start(self) -> "Simulator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def misbehave(self, **kw) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self.misbehaviour, k, v)

    def take(self, counter: str) -> bool:
        """Use up one of the misbehaviour's counters; True when it was still above zero."""
        with self.lock:
            n = getattr(self.misbehaviour, counter)
            if n > 0:
                setattr(self.misbehaviour, counter, n - 1)
                return True
            return False

    # -- plumbing ---------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if h.path.startswith("/_sim"):
            return self._control(h, method)
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0)) if method == "POST" else b""
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self._answer(h, method, body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, h: BaseHTTPRequestHandler, method: str, body: bytes) -> None:
        if self.misbehaviour.delay:
            time.sleep(self.misbehaviour.delay)
        if method == "POST" and self.take("drop_next"):
            h.close_connection = True
            h.connection.shutdown(2)  # the client sees the connection drop, no answer
            return
        if method == "POST" and self.take("redirect_next"):
            m = self.misbehaviour
            return self.reply(h, m.redirect_status, b"moved", {"Location": m.redirect_to})
        status, headers, payload = self.handle(h, method, body)
        if method == "POST" and (self.misbehaviour.trickle or self.misbehaviour.pad_answer
                                 or self.misbehaviour.no_length):
            return self._misreply(h, status, payload, headers)
        self.reply(h, status, payload, headers)

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict | None = None) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def _misreply(self, h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict) -> None:
        """An answer as a misbehaving peer sends it: trickled, padded, or without a length."""
        m = self.misbehaviour
        head = f"HTTP/1.1 {status} Whatever\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if m.no_length:
            head += "Connection: close\r\n"
            h.close_connection = True
        else:
            head += f"Content-Length: {len(payload) + m.pad_answer}\r\n"
        data = head.encode() + b"\r\n" + payload
        pad = m.pad_answer
        try:
            if m.trickle:
                for byte in data:
                    h.wfile.write(bytes([byte]))
                    h.wfile.flush()
                    time.sleep(m.trickle)
                return
            h.wfile.write(data)
            while pad > 0:  # in pieces: a padded answer may be far larger than memory should hold
                h.wfile.write(b" " * min(pad, 1 << 20))
                pad -= 1 << 20
        except OSError:  # the client gave up on us: what a misbehaving peer deserves
            h.close_connection = True

    def _control(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if method == "POST":
            self.misbehave(**json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)) or b"{}"))
        state = {"misbehaviour": asdict(self.misbehaviour), "calls": self.calls, "most_in_flight": self.most_in_flight,
                 **self.state()}
        self.reply(h, 200, json.dumps(state, indent=2).encode(), {"Content-Type": "application/json"})

    def handle(self, h, method: str, body: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def state(self) -> dict:
        return {}
