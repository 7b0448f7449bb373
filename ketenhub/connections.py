"""Endpoints, credentials and host keys come from Airflow Connections: ``ketenhub_<name>``,
set in the UI or as ``AIRFLOW_CONN_KETENHUB_<NAME>`` (JSON or URI). The same lookup serves the
DAG tasks and the command line. No Connection means the embedded default: a local folder.

TLS of an http Connection, in its extra: ``ca_pem`` or ``ca_file`` (the CA bundle that checks the
server; without one the system's CAs), ``cert_pem``/``cert_file`` and ``key_pem``/``key_file``
(the hub's client certificate and key; PEM text in the Connection is preferred over a path),
``key_password``, ``server_oin`` (the OIN expected in the server certificate's subject
serialNumber: by default the adapter's OIN, ``false`` for none) and ``insecure_plain_http``
(``true`` allows an http:// address; nothing else does)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Endpoint:
    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict = field(default_factory=dict, repr=False)
    conn_id: str | None = None  # the Airflow Connection it came from, for messages

    @property
    def timeout(self) -> float:
        return float(self.extra.get("timeout", 30))  # seconds per read

    @property
    def base_url(self) -> str:
        """For http: the Connection's host may hold a full URL, or host and port and schema."""
        host = self.host or "localhost"
        if "://" in host:
            return host.rstrip("/")
        scheme = self.schema if self.schema in ("http", "https") else "https"
        return f"{scheme}://{host}" + (f":{self.port}" if self.port else "")

    def tls(self, oin: str | None = None):
        """The Connection's TLS settings; ``oin`` is the peer's OIN from its adapter."""
        from ketenhub.protocols.http import Tls

        def pem(name: str) -> str | None:
            text, path = self.extra.get(f"{name}_pem"), self.extra.get(f"{name}_file")
            return text or (Path(path).read_text() if path else None)

        server_oin = self.extra.get("server_oin", oin)
        return Tls(ca_pem=pem("ca"), cert_pem=pem("cert"), key_pem=pem("key"),
                   key_password=self.extra.get("key_password"),
                   server_oin=str(server_oin) if server_oin not in (None, False, "") else None,
                   plain_http=self.extra.get("insecure_plain_http") in (True, "true"))


def connection_id(name: str) -> str:
    return f"ketenhub_{name}"


def endpoint(name: str) -> Endpoint | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        c = BaseHook.get_connection(connection_id(name))
    except AirflowNotFoundException:
        return None
    return Endpoint(conn_type=c.conn_type, host=c.host, port=c.port, login=c.login, password=c.password,
                    schema=c.schema, extra=c.extra_dejson, conn_id=connection_id(name))
