"""Endpoints, credentials and host keys come from Airflow Connections: ``ketenhub_<name>``,
set in the UI or as ``AIRFLOW_CONN_KETENHUB_<NAME>`` (JSON or URI). The same lookup serves the
DAG tasks and the command line. No Connection means the embedded default: a local folder."""
from __future__ import annotations

from dataclasses import dataclass, field


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
        scheme = self.schema if self.schema in ("http", "https") else "http"
        return f"{scheme}://{host}" + (f":{self.port}" if self.port else "")


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
