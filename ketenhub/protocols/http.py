"""HTTP as the hub speaks it to every peer (the SOAP services, DLV and SHN): its own calls on
http.client connections from a small pool (``HttpClient``); authlib gets requests' transport
adapter that keeps the same promises on urllib3 (protocols.session).

Three promises, whatever the peer does:

- no redirect is ever followed: a 3xx answer is an error naming only the host it pointed to;
- every call has an overall deadline (connecting, sending, waiting and reading together): a
  per-read timeout alone lets a peer that trickles a byte at a time hold a call for ever, so a
  watchdog thread shuts the call's socket when the deadline passes;
- an answer is read in chunks up to a limit in bytes and refused beyond it, never whole.

And TLS as Digikoppeling has it: the server's certificate is checked against the Connection's CA
bundle (the system's CAs without one), its subject serialNumber against the peer's OIN, and the
hub's client certificate is presented; the TLS context is built once per client, from the
Connection (``Tls``), and neither the caller nor the environment can weaken it. Plain HTTP is
refused unless the Connection allows it.
"""
from __future__ import annotations

import http.client
import os
import re
import select
import socket
import ssl
import tempfile
import threading
import zlib
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import Callable, Iterable, Iterator, Mapping
from urllib.parse import unquote, urlencode, urlsplit

from ketenhub.protocols import errors

DEFAULT_ANSWER_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_DEADLINE_SECONDS = 120.0
DEFAULT_CONNECTIONS = 10  # kept alive per peer, as requests keeps them
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


PlainHttpRefused, TlsRefused = errors.PlainHttpRefused, errors.TlsRefused  # the hub's own refusals, by name in reasons


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


def check_oin(conn) -> None:
    """A connection just made, closed and refused unless the server's certificate names the
    OIN it expects (``conn.server_oin``; None: not checked), before a byte of a request is sent."""
    if conn.server_oin is not None:
        found = _subject_oin(conn.sock.getpeercert() or {})
        if found != conn.server_oin:
            conn.close()
            raise OinMismatch(f"the server's certificate names OIN {found or '(none)'}, "
                              f"not the expected {conn.server_oin}")


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


class _Watchdog:
    """One thread for every call's deadline in this process: it sleeps until the earliest
    deadline of the calls under way and expires those that have passed. A thread started per
    call was a large part of what a kept-alive call cost."""

    def __init__(self):
        self.changed = threading.Condition()
        self.running: set[_Deadline] = set()
        self.wakes_at = float("inf")
        self.thread: threading.Thread | None = None

    def watch(self, deadline: "_Deadline") -> None:
        with self.changed:
            self.running.add(deadline)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="ketenhub-deadlines", daemon=True)
                self.thread.start()
            if deadline.at < self.wakes_at:
                self.changed.notify()

    def forget(self, deadline: "_Deadline") -> None:
        with self.changed:
            self.running.discard(deadline)

    def _run(self) -> None:
        with self.changed:
            while True:
                now = monotonic()
                for deadline in [d for d in self.running if d.at <= now]:
                    self.running.discard(deadline)
                    deadline.expire()
                self.wakes_at = min((d.at for d in self.running), default=float("inf"))
                self.changed.wait(None if self.wakes_at == float("inf") else self.wakes_at - now)


_watchdog = _Watchdog()
# A child process has no copy of the parent's thread: its calls get a watchdog of their own.
os.register_at_fork(after_in_child=lambda: globals().update(_watchdog=_Watchdog()))


class _Deadline:
    """Shuts every socket the calling thread opens or uses for this call once ``seconds`` have
    passed; the blocked read then fails at once."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self.lock:
            self.sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                _shut(sock)

    def __enter__(self) -> "_Deadline":
        self.at = monotonic() + self.seconds
        _current.deadline = self
        _watchdog.watch(self)
        return self

    def __exit__(self, *exc) -> None:
        _watchdog.forget(self)
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


def refuse_plain(url: str, tls: Tls) -> None:
    if url[:7].lower() == "http://" and not tls.plain_http:
        raise PlainHttpRefused(f"plain HTTP to {_origin(url)} refused: use https, or allow plain HTTP in the "
                               "Connection (extra insecure_plain_http)")


class Headers(Mapping[str, str]):
    """A message's headers by name in any case: a name repeated gives its first value, as the
    email package's messages do, and all of them by ``get_all``."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()):
        self._all: dict[str, list[str]] = {}
        for name, value in pairs:
            self._all.setdefault(name.lower(), []).append(value)

    def __getitem__(self, name: str) -> str:
        return self._all[name.lower()][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def get_all(self, name: str, default=None) -> list[str] | None:
        return list(self._all.get(name.lower(), ())) or default


def _headers(lines: list[bytes]) -> Headers:
    """An answer's header lines by name. A line that starts with a space or tab continues the
    value before it (obsolete folding); one without a name and colon is skipped, as the email
    package sets it aside."""
    pairs: list[list[str]] = []
    for line in lines:
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if pairs:
                pairs[-1][1] = f"{pairs[-1][1]} {text.strip()}"
            continue
        name, colon, value = text.partition(":")
        if colon and name and name == name.strip():
            pairs.append([name, value.strip()])
    return Headers(pairs)


class _Response(http.client.HTTPResponse):
    """http.client's answer, its headers read without the email package, which cost more than
    the rest of reading a small answer. The rest is http.client's own ``begin``: the lines read
    within its limits, the body's length and whether the connection ends with it."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        version, status, reason = self._read_status()
        while status == http.client.CONTINUE:  # a 100 Continue before the answer: its header skipped
            http.client._read_headers(self.fp)
            version, status, reason = self._read_status()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.code = self.status = status
        self.reason = reason.strip()
        self.headers = self.msg = _headers(http.client._read_headers(self.fp))
        self.chunked = (self.headers.get("transfer-encoding") or "").lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                pass
            if self.length is not None and self.length < 0:
                self.length = None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # no length and kept alive: it ends when the peer closes


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes


class _Plain(http.client.HTTPConnection):
    """A kept-alive connection of ``HttpClient``: its socket is handed to the running call's
    deadline as soon as it is made (before any proxy's tunnel and the handshake)."""

    response_class = _Response

    def __init__(self, host: str, port: int | None, timeout: float, **kwargs):
        super().__init__(host, port, timeout=timeout, **kwargs)
        self._create_connection = self._watched  # http.client's own hook for making the socket
        self.body: bytes | None = None

    def request(self, method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] = {}) -> None:
        """As http.client's, but the body goes out in one write with the headers: http.client
        writes it after them, a second TLS record and a second wake-up for the peer."""
        if body is None:
            return super().request(method, url, headers=headers)
        self.body = body
        try:
            super().request(method, url, headers={**headers, "Content-Length": str(len(body))})
        finally:
            self.body = None

    def send(self, data: bytes) -> None:
        if self.body is not None:  # the headers, the only thing http.client sends for a request without a body
            data, self.body = data + self.body, None
        super().send(data)

    @staticmethod
    def _watched(*args, **kwargs) -> socket.socket:
        sock = socket.create_connection(*args, **kwargs)
        _watch(sock)
        return sock


class _Secure(_Plain, http.client.HTTPSConnection):
    """As ``_Plain``, over TLS with the client's context, the server's OIN checked before a byte
    of the request is sent."""
    server_oin: str | None = None

    def __init__(self, host: str, port: int | None, timeout: float, context: ssl.SSLContext, server_oin: str | None):
        super().__init__(host, port, timeout, context=context)
        self.server_oin = server_oin

    def connect(self):
        super().connect()
        _watch(self.sock)  # the TLS socket now: the plain one it wraps is no longer in use
        check_oin(self)


class HttpClient:
    """Calls to one peer: kept-alive connections, per-read ``timeout``, overall ``deadline``,
    answers read up to ``max_bytes``. ``what`` names the peer and operation in errors;
    ``headers`` makes headers of each call's own when it starts (OAuth2's bearer token);
    ``connections``: as many as are kept alive, at least the calls made at once (more would
    each cost a new handshake).

    It calls http.client's connections from a small pool of its own: urllib3 (and requests on
    it) did several times the work of the call itself per request, and sent the body in a
    write of its own after the headers. TLS, the OIN check and the deadline are as a
    ``NoRedirectSession``'s; a proxy from the environment is tunnelled to (https) or asked
    (http) as requests would. Its errors are raised as requests names them (protocols.errors)."""

    def __init__(self, timeout: float = 30, deadline: float = DEFAULT_DEADLINE_SECONDS,
                 max_bytes: int = DEFAULT_ANSWER_MAX_BYTES, auth: tuple[str, str] | None = None,
                 tls: Tls | None = None, headers: Callable[[], dict] | None = None,
                 connections: int = DEFAULT_CONNECTIONS):
        self.timeout = min(timeout, deadline)
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.tls = tls or Tls()
        self.context = self.tls.context()
        self.connections = connections
        # Asked for identity: a compressed answer could pass the byte limit only once inflated (one
        # compressed all the same is inflated as read, and held to the limit so).
        self.headers = {"Accept-Encoding": "identity", **({"Authorization": _basic(*auth)} if auth else {})}
        self.call_headers = headers
        self.proxies: dict[tuple[str, str], str | None] = {}  # origin -> its proxy from the environment, read once
        self.idle: dict[tuple, list[_Plain]] = {}  # (origin, proxy) -> connections kept alive, the latest last
        self.lock = threading.Lock()

    def post(self, url: str, data: bytes, headers: dict, what: str) -> Answer:
        """Raises Redirected, AnswerTooLarge, DeadlineExceeded, TlsRefused, PlainHttpRefused, or
        another errors.RequestException."""
        return self.request("POST", url, what, data, headers)

    def get(self, url: str, params: dict, headers: dict, what: str) -> Answer:
        """As ``post``."""
        query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        return self.request("GET", f"{url}{'&' if '?' in url else '?'}{query}" if query else url, what, None, headers)

    def close(self) -> None:
        """Its kept-alive connections closed."""
        with self.lock:
            idle, self.idle = self.idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()

    def request(self, method: str, url: str, what: str, data: bytes | None, headers: dict) -> Answer:
        refuse_plain(url, self.tls)
        started = monotonic()
        with _Deadline(self.deadline) as deadline:
            try:
                answer = self._call(method, url, what, data, headers)
            except errors.RequestException as e:
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

    def _call(self, method: str, url: str, what: str, data: bytes | None, headers: dict) -> Answer:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            host = None
        if scheme not in ("http", "https") or not host:
            raise errors.InvalidURL(f"{what}: not an http(s) address with a host: {_origin(url)}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, parts.netloc, self._proxy(url, (scheme, parts.netloc)))
        own = self.call_headers() if self.call_headers else {}
        conn = self._take(key)
        try:
            if conn is None:
                conn = self._connect(key, host, port)
            else:
                _watch(conn.sock)
            if key[2] and scheme == "http":  # a proxy is asked for the whole address; https goes through a tunnel
                target, own = url, {**_proxy_auth(key[2]), **own}
            conn.request(method, target, body=data, headers={**self.headers, **own, **headers})
            r = conn.getresponse()
            if 300 <= r.status < 400:
                raise Redirected(what, r.status, r.getheader("Location"))
            answer = Answer(r.status, r.msg, read_bounded(r.status, r.msg, _body(r), self.max_bytes, what))
        except BaseException as e:
            if conn is not None:
                conn.close()  # what is left unread must not be taken for the next answer
            if isinstance(e, (OSError, http.client.HTTPException)):
                raise _as_call_error(e) from e
            if isinstance(e, zlib.error):
                raise errors.ContentDecodingError(f"{what}: the compressed answer is unreadable") from e
            raise
        if r.will_close:
            conn.close()
        else:
            self._keep(key, conn)
        return answer

    def _proxy(self, url: str, origin: tuple[str, str]) -> str | None:
        if origin not in self.proxies:
            self.proxies[origin] = _environ_proxy(url)
        return self.proxies[origin]

    def _take(self, key: tuple) -> _Plain | None:
        """The connection to ``key`` used last, if one is kept alive and the peer has not closed it."""
        while True:
            with self.lock:
                idle = self.idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            if conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()  # closed by the peer while idle (or it sent what nobody asked for)

    def _keep(self, key: tuple, conn: _Plain) -> None:
        with self.lock:
            idle = self.idle.setdefault(key, [])
            if len(idle) < self.connections:
                idle.append(conn)
                return
        conn.close()

    def _connect(self, key: tuple, host: str, port: int | None) -> _Plain:
        scheme, _, proxy = key
        to = (host, port)
        if proxy:
            via = _proxy_address(proxy)
            if via.scheme.lower() != "http" or not via.hostname:
                raise errors.InvalidSchema(f"proxy {_origin(proxy)}: only an http:// proxy is supported")
            to = (via.hostname, via.port or 80)
        if scheme == "https":
            conn = _Secure(*to, self.timeout, self.context, self.tls.server_oin)
            if proxy:
                conn.set_tunnel(host, port, headers=_proxy_auth(proxy))
        else:
            conn = _Plain(*to, self.timeout)
        try:
            conn.connect()
        except ssl.SSLError as e:
            conn.close()
            raise errors.SSLError(e) from e
        except TimeoutError as e:
            conn.close()
            raise errors.ConnectTimeout(e) from e
        except OSError as e:
            conn.close()
            raise (errors.ProxyError if proxy else errors.ConnectionError)(e) from e
        return conn


def _environ_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, as requests chooses it (no_proxy included);
    requests is imported for that only where the environment names a proxy at all."""
    if not any(value and name.lower().endswith("_proxy") for name, value in os.environ.items()):
        return None
    from requests.utils import get_environ_proxies, select_proxy
    return select_proxy(url, get_environ_proxies(url))


def _readable(sock: socket.socket) -> bool:
    """Whether the peer sent something (or closed) on an idle connection."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _basic(user: str, password: str) -> str:
    """An HTTP Basic credential, encoded as urllib3 encodes it."""
    return "Basic " + b64encode(f"{user}:{password}".encode("latin-1")).decode()


def _proxy_address(proxy: str):
    """A proxy's address from the environment, which may leave out its scheme (http)."""
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _proxy_auth(proxy: str) -> dict:
    """The Proxy-Authorization header for a proxy's address with user:password@, as requests sends it."""
    via = _proxy_address(proxy)
    if not via.username:
        return {}
    return {"Proxy-Authorization": _basic(unquote(via.username), unquote(via.password or ""))}


def _body(r: http.client.HTTPResponse) -> Iterator[bytes]:
    """An answer's body in chunks, inflated as read where it came compressed all the same."""
    encoding = (r.getheader("Content-Encoding") or "").strip().lower()
    inflate = (zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding in ("gzip", "x-gzip")
               else zlib.decompressobj() if encoding == "deflate" else None)
    while chunk := r.read(CHUNK):
        if inflate is None:
            yield chunk
            continue
        while chunk:  # a chunk at a time out of the inflater too: a small bomb must not inflate whole
            yield inflate.decompress(chunk, CHUNK)
            chunk = inflate.unconsumed_tail
    if inflate is not None:
        yield inflate.flush()


def _as_call_error(e: Exception) -> errors.RequestException:
    """The error of a call under way as requests names it."""
    if isinstance(e, errors.RequestException):
        return e
    if isinstance(e, ssl.SSLError):
        return errors.SSLError(e)
    if isinstance(e, TimeoutError):
        return errors.ReadTimeout(e)
    return errors.ConnectionError(e)


def read_bounded(status: int, headers: Mapping[str, str], chunks: Iterable[bytes], max_bytes: int, what: str) -> bytes:
    """An answer's body read in chunks, refused (AnswerTooLarge) once it passes ``max_bytes``."""
    length = headers.get("Content-Length", "")
    if length.strip().isdigit() and int(length) > max_bytes:
        raise AnswerTooLarge(what, status, max_bytes)
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise AnswerTooLarge(what, status, max_bytes)
    return bytes(body)
