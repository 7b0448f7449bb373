"""requests' transport adapter that keeps the promises of protocols.http on urllib3, for
authlib's token calls (protocols.oauth2), and a session on it: TLS from the Connection only,
the server's OIN checked, no redirect followed, and each call's sockets under its deadline.
The hub's own calls go through ``http.HttpClient``, which needs none of this."""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ketenhub.protocols.http import DEFAULT_CONNECTIONS, Tls, _watch, check_oin, refuse_plain


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
        check_oin(self)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class Adapter(HTTPAdapter):
    """TLS from its ``Tls`` only, with one context for all its connections; plain HTTP refused
    unless that allows it. It keeps up to ``connections`` alive per peer."""

    def __init__(self, tls: Tls, connections: int = DEFAULT_CONNECTIONS):
        self.tls = tls
        self.ssl_context = tls.context()
        connection = type("_OinCheckedConnection", (_HTTPSConnection,), {"server_oin": tls.server_oin})
        self.POOLS = {"http": _HTTPPool, "https": type("_OinCheckedPool", (_HTTPSPool,), {"ConnectionCls": connection})}
        super().__init__(pool_maxsize=connections)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, ssl_context=self.ssl_context, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.POOLS

    def send(self, request, *args, **kwargs):
        refuse_plain(request.url, self.tls)
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
    """A requests session that never follows a redirect (also where a caller did not say
    allow_redirects=False), and whose calls can be given a
    deadline. TLS as ``tls`` says (by default: the system's CAs, no client certificate, no
    plain HTTP)."""

    def __init__(self, tls: Tls | None = None):
        super().__init__()
        adapter = Adapter(tls or Tls())
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        # Asked for identity: a compressed answer could pass the byte limit only once inflated.
        self.headers["Accept-Encoding"] = "identity"

    def get_redirect_target(self, resp):
        return None
