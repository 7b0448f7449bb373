"""HTTP as the hub speaks it to every peer (the SOAP services and DLV), on requests.

Three promises, whatever the peer does:

- no redirect is ever followed: a 3xx answer is an error naming only the host it pointed to;
- every call has an overall deadline (connecting, sending, waiting and reading together): a
  per-read timeout alone lets a peer that trickles a byte at a time hold a call for ever, so a
  watchdog shuts the call's socket when the deadline passes;
- an answer is read in chunks up to a limit in bytes and refused beyond it, never whole.
"""
from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass
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
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    POOLS = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.POOLS

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = self.POOLS
        return manager


class NoRedirectSession(requests.Session):
    """A requests session that never follows a redirect (also where a caller, such as zeep
    loading a document, did not say allow_redirects=False), and whose calls can be given a
    deadline."""

    def __init__(self):
        super().__init__()
        self.mount("http://", _Adapter())
        self.mount("https://", _Adapter())
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
                 session: requests.Session | None = None):
        self.timeout = min(timeout, deadline)
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.session = session or NoRedirectSession()
        self.session.auth = auth

    def post(self, url: str, data: bytes, headers: dict, what: str) -> Answer:
        """Raises Redirected, AnswerTooLarge, DeadlineExceeded, or requests' RequestException."""
        started = monotonic()
        with _Deadline(self.deadline) as deadline:
            try:
                with self.session.post(url, data=data, headers=headers, timeout=self.timeout, stream=True,
                                       allow_redirects=False) as r:
                    if 300 <= r.status_code < 400:
                        raise Redirected(what, r.status_code, r.headers.get("Location"))
                    answer = Answer(r.status_code, r.headers, self._read(r, what))
            except requests.RequestException:
                if not (deadline.expired or monotonic() - started >= self.deadline):
                    raise
            # Checked after a clean end too: a shut socket ends an answer without a length early.
            if deadline.expired or monotonic() - started >= self.deadline:
                raise DeadlineExceeded(f"{what}: no complete answer within the call's deadline of "
                                       f"{self.deadline:g} s (adapter call_deadline_seconds)")
        return answer

    def _read(self, r: requests.Response, what: str) -> bytes:
        length = r.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > self.max_bytes:
            raise AnswerTooLarge(what, r.status_code, self.max_bytes)
        body = bytearray()
        for chunk in r.iter_content(CHUNK):
            body += chunk
            if len(body) > self.max_bytes:
                raise AnswerTooLarge(what, r.status_code, self.max_bytes)
        return bytes(body)
