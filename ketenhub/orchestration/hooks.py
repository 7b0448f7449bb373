"""Endpoints come from Airflow Connections; the hub's defaults apply when none is set.

A folder endpoint is a Connection of type ``fs`` whose extra holds ``{"path": "/some/dir"}``,
e.g. ``AIRFLOW_CONN_KETENHUB_OM='{"conn_type": "fs", "extra": {"path": "/data/om"}}'``.
"""
from __future__ import annotations

from pathlib import Path

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException


def connection_id(name: str) -> str:
    return f"ketenhub_{name}"


def folder(name: str, default: Path) -> Path:
    try:
        conn = BaseHook.get_connection(connection_id(name))
    except AirflowNotFoundException:
        return default
    return Path(conn.extra_dejson.get("path") or default)
