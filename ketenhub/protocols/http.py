"""HTTP as the hub speaks it to every peer (the SOAP services and DLV), on requests.

Three promises, whatever the peer does:

- no redirect is ever followed: a 3xx answer is an error naming only the host it pointed to;
- every call has an overall deadline (connecting, sending, waiting and reading together): a
  per-read timeout alone lets a peer that trickles a byte at a time hold a call for ever, so a
  watchdog shuts the call's socket when the deadline passes;
- an answer is read in chunks up to a limit in bytes and refused beyond it, never whole.

And TLS as Digikoppeling has it: the server's certificate is checked against the Connection's CA
bundle (the system's CAs without one), its subject serialNumber against the peer's OIN, and the
hub's client certificate is presented; the TLS context is built once per client, from the
Connection (``Tls``), and neither the caller nor the environment can weaken it. Plain HTTP is
refused unless the Connection allows it.
"""
from __future__ import annotations

import os
import re
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from time import monotonic
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

DEFAULT_ANSWER_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_DEADLINE_SECONDS = 120.0
CHUNK = 64 * 1024


class Redirected(Exception):
    """The peer answered 3xx. Following it could send personal data to whoever it names."""

    def __init__(self, what: str, status: int, location: str | None):
        self.status = status
        super().__init__(f"{what}: HTTP {status} redirect to {_origin(location)}; the hub follows no "
                         "redirects: check the Connection's address with the partner")


class DeadlineExceeded(Exception):
    """The call as a whole took longer than its deadline; the peer may or may not have acted."""


class AnswerTooLarge(Exception):
    """The answer passed the adapter's limit in bytes; what was read of it is dropped."""

    def __init__(self, what: str, status: int, limit: int):
        self.status = status
        super().__init__(f"{what}: the answer (HTTP {status}) is larger than {limit} bytes "
                         "(adapter answer_max_bytes); not read")


class PlainHttpRefused(requests.exceptions.InvalidSchema):
    """A plain http:// address, where the Connection did not allow plain HTTP."""


class TlsRefused(requests.exceptions.SSLError):
    """The TLS handshake failed: the server's certificate (issuer, name or OIN) was refused, or
    the server refused ours."""


class OinMismatch(ssl.SSLCertVerificationError):
    """The server's certificate is valid but names another party's OIN."""


@dataclass(frozen=True)
class Tls:
    """TLS of one Connection: the CA bundle that checks the server (None: the system's CAs), the
    client certificate and key presented (PEM text), the OIN expected in the server
    certificate's subject serialNumber (None: not checked), and whether plain http:// is
    allowed."""
    ca_pem: str | None = None
    cert_pem: str | None = field(default=None, repr=False)
    key_pem: str | None = field(default=None, repr=False)
    key_password: str | None = field(default=None, repr=False)
    server_oin: str | None = None
    plain_http: bool = False

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # the Digikoppeling profiles' floor
        if self.cert_pem:
            # ssl reads a certificate and key from files only: 0600 files, gone once read.
            with tempfile.TemporaryDirectory(prefix="ketenhub-tls-") as folder:
                cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
                for path, text in ((cert, self.cert_pem), (key, self.key_pem or "")):
                    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                        f.write(text)
                context.load_cert_chain(cert, key if self.key_pem else None, self.key_password)
        return context


def _subject_oin(cert: dict) -> str | None:
    for rdn in cert.get("subject", ()):
        for name, value in rdn:
            if name == "serialNumber":
                return value
    return None


def _tls_refusal(e: BaseException) -> str | None:
    """What refused the handshake, in the handshake's own words (no URL: its path may carry
    personal data); None when ``e`` is no certificate refusal on either side."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OinMismatch):
            return e.args[0]
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"the server's certificate was refused: {e.verify_message or e.reason}"
        if isinstance(e, ssl.SSLError) and "ALERT" in (e.reason or ""):  # the server refused ours
            return f"the server refused the TLS handshake ({e.reason})"
        inner = getattr(e, "reason", None)
        e = inner if isinstance(inner, BaseException) else (e.args[0] if e.args and isinstance(
            e.args[0], BaseException) else e.__context__)
    return None


_HOST = re.compile(r"^[a-z0-9.:\-]{1,253}$")


def _origin(location: str | None) -> str:
    """Scheme, host and port of a Location: never its path or query, which may carry personal data."""
    if not location or not location.strip():
        return "nowhere (no Location)"
    try:
        parts = urlsplit(location.strip())
        host, port = parts.hostname, parts.port  # never user:password@; a bad port raises
    except ValueError:
        return "an unreadable address"
    if not parts.netloc:
        return "a path on the same host"
    if not host or not _HOST.match(host):
        return "an unreadable address"
    host = f"[{host}]" if ":" in host else host
    scheme = parts.scheme if parts.scheme in ("http", "https") else "?"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None when absent or
    unreadable. Never raises and never returns more than a finite float: callers cap it."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # RFC 9110: 1*DIGIT. Not float(): '1' * 400 overflows it
        return float(int(value)) if len(value) <= 12 else 1e12
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


# -- the overall deadline -------------------------------------------------------------------
_current = threading.local()


class _Deadline:
    """Shuts every socket the calling thread opens or uses for this call once ``seconds`` have
    passed; the blocked read then fails at once."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self.lock:
            self.sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                _shut(sock)

    def __enter__(self) -> "_Deadline":
        _current.deadline = self
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        _current.deadline = None


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _watch(sock) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _Watched:
    """A urllib3 connection whose socket is handed to the running call's deadline: a new one when
    it is made, a kept-alive one each time it is used."""

    def _new_conn(self):
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args, **kwargs):
        _watch(self.sock)
        return super().request(*args, **kwargs)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    server_oin: str | None = None  # set per client, on a subclass

    def connect(self):
        super().connect()
        if self.server_oin is not None:  # checked before a byte of the request is sent
            found = _subject_oin(self.sock.getpeercert() or {})
            if found != self.server_oin:
                self.close()
                raise OinMismatch(f"the server's certificate names OIN {found or '(none)'}, "
                                  f"not the expected {self.server_oin}")


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    """TLS from its ``Tls`` only, with one context for all its connections; plain HTTP refused
    unless that allows it."""

    def __init__(self, tls: "Tls"):
        self.tls = tls
        self.ssl_context = tls.context()
        connection = type("_OinCheckedConnection", (_HTTPSConnection,), {"server_oin": tls.server_oin})
        self.POOLS = {"http": _HTTPPool, "https": type("_OinCheckedPool", (_HTTPSPool,), {"ConnectionCls": connection})}
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, ssl_context=self.ssl_context, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.POOLS

    def send(self, request, *args, **kwargs):
        if request.url.lower().startswith("http://") and not self.tls.plain_http:
            raise PlainHttpRefused(f"plain HTTP to {_origin(request.url)} refused: use https, or allow plain "
                                   "HTTP in the Connection (extra insecure_plain_http)", request=request)
        return super().send(request, *args, **kwargs)

    # The context decides alone: a caller's verify=False or cert, or REQUESTS_CA_BUNDLE, change nothing.
    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        return super().build_connection_pool_key_attributes(request, True, None)

    def cert_verify(self, conn, url, verify, cert):
        conn.cert_reqs, conn.ca_certs, conn.ca_cert_dir = "CERT_REQUIRED", None, None

    def proxy_manager_for(self, proxy, **kwargs):
        kwargs.setdefault("ssl_context", self.ssl_context)  # through a proxy's tunnel the same TLS
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = self.POOLS
        return manager


class NoRedirectSession(requests.Session):
    """A requests session that never follows a redirect (also where a caller, such as zeep
    loading a document, did not say allow_redirects=False), and whose calls can be given a
    deadline. TLS as ``tls`` says (by default: the system's CAs, no client certificate, no
    plain HTTP)."""

    def __init__(self, tls: Tls | None = None):
        super().__init__()
        adapter = _Adapter(tls or Tls())
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        # Asked for identity: a compressed answer could pass the byte limit only once inflated.
        self.headers["Accept-Encoding"] = "identity"

    def get_redirect_target(self, resp):
        return None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    content: bytes


class HttpClient:
    """POSTs to one peer: kept-alive session, per-read ``timeout``, overall ``deadline``, answers
    read up to ``max_bytes``. ``what`` names the peer and operation in errors."""

    def __init__(self, timeout: float = 30, deadline: float = DEFAULT_DEADLINE_SECONDS,
                 max_bytes: int = DEFAULT_ANSWER_MAX_BYTES, auth: tuple[str, str] | None = None,
                 session: requests.Session | None = None, tls: Tls | None = None):
        self.timeout = min(timeout, deadline)
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.session = session or NoRedirectSession(tls)
        self.session.auth = auth

    def post(self, url: str, data: bytes, headers: dict, what: str) -> Answer:
        """Raises Redirected, AnswerTooLarge, DeadlineExceeded, TlsRefused, PlainHttpRefused, or
        requests' RequestException."""
        return self.request("POST", url, what, data=data, headers=headers)

    def get(self, url: str, params: dict, headers: dict, what: str) -> Answer:
        """As ``post``."""
        return self.request("GET", url, what, params=params, headers=headers)

    def request(self, method: str, url: str, what: str, **arguments) -> Answer:
        started = monotonic()
        with _Deadline(self.deadline) as deadline:
            try:
                with self.session.request(method, url, timeout=self.timeout, stream=True, allow_redirects=False,
                                          **arguments) as r:
                    if 300 <= r.status_code < 400:
                        raise Redirected(what, r.status_code, r.headers.get("Location"))
                    answer = Answer(r.status_code, r.headers, read_bounded(r, self.max_bytes, what))
            except requests.RequestException as e:
                if not (deadline.expired or monotonic() - started >= self.deadline):
                    refusal = _tls_refusal(e)
                    if refusal:
                        raise TlsRefused(f"{what}: {refusal}") from None
                    raise
            # Checked after a clean end too: a shut socket ends an answer without a length early.
            if deadline.expired or monotonic() - started >= self.deadline:
                raise DeadlineExceeded(f"{what}: no complete answer within the call's deadline of "
                                       f"{self.deadline:g} s (adapter call_deadline_seconds)")
        return answer



def read_bounded(r: requests.Response, max_bytes: int, what: str) -> bytes:
    """An answer's body read in chunks, refused (AnswerTooLarge) once it passes ``max_bytes``."""
    length = r.headers.get("Content-Length", "")
    if length.strip().isdigit() and int(length) > max_bytes:
        raise AnswerTooLarge(what, r.status_code, max_bytes)
    body = bytearray()
    for chunk in r.iter_content(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise AnswerTooLarge(what, r.status_code, max_bytes)
    return bytes(body)
