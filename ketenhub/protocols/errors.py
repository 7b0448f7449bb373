"""How a call to a peer failed before it had an answer, under the names requests gives these
failures: operators read the names in reasons ("DLV: ReadTimeout"), and tests and the
audit trail have them from before the hub made its own calls. The hub's HTTP client raises
them without importing requests, which a polling task would otherwise import each run (its
cost: docs/performance.md); what still goes through requests (authlib's token calls) is turned into these where it is
caught (protocols.oauth2)."""
from __future__ import annotations


class RequestException(OSError):
    """A call that got no answer, or none that could be read."""


class ConnectionError(RequestException):  # requests' name, which reasons quote, not the builtin
    """The peer could not be reached, or dropped the connection."""


class ProxyError(ConnectionError):
    """The proxy from the environment could not be reached."""


class SSLError(ConnectionError):
    """The TLS handshake or a TLS record failed."""


class Timeout(RequestException):
    """The peer did not answer within the per-read timeout."""


class ConnectTimeout(ConnectionError, Timeout):
    """No connection within the timeout."""


class ReadTimeout(Timeout):
    """Connected, but no answer (or no more of it) within the timeout."""


class InvalidURL(RequestException, ValueError):
    """Not an http(s) address with a host."""


class InvalidSchema(RequestException, ValueError):
    """A scheme the hub does not call."""


class ContentDecodingError(RequestException, ValueError):
    """A compressed answer that does not inflate."""


class PlainHttpRefused(InvalidSchema):
    """A plain http:// address, where the Connection did not allow plain HTTP."""


class TlsRefused(SSLError):
    """The TLS handshake failed: the server's certificate (issuer, name or OIN) was refused, or
    the server refused ours."""


def named(word: str) -> bool:
    """Whether ``word`` is the name of one of these failures."""
    kind = globals().get(word)
    return isinstance(kind, type) and issubclass(kind, RequestException)
