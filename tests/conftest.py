"""Shared fixtures. Every test that touches the store runs twice: on SQLite (the embedded
default) and on PostgreSQL (the production store, at 127.0.0.1:5432, database test), each
test in a fresh database (a fresh schema on PostgreSQL)."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ketenhub.hub import Hub
from ketenhub.keys import VARIABLE
from ketenhub.xml import xslt
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import Files
from ketenhub.store import db

from tests import TEST_KEY

DATA = Path(__file__).parent / "data"
# The test key, as an Airflow Variable from the environment (so also in the hub's subprocesses),
# and for the tests that run mappings without a Hub.
os.environ[f"AIRFLOW_VAR_{VARIABLE.upper()}"] = TEST_KEY
xslt.use_key(TEST_KEY)
PG_URL = os.environ.get("KETENHUB_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def hub(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("KETENHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KETENHUB_DATABASE_URL", database_url)
    h = Hub()
    yield h
    if "engine" in h.__dict__:
        h.engine.dispose()
        db.engine.cache_clear()


@pytest.fixture
def sample(tmp_path):
    """Copy a sample file (and its marker) from tests/data into a scratch folder."""
    def copy(relative: str, folder: Path | None = None) -> Path:
        src = DATA / relative
        dest_dir = folder or tmp_path / "samples"
        dest_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest_dir / src.name)
        marker = src.with_name(src.name + ".sha256")
        if marker.exists():
            shutil.copy(marker, dest_dir / marker.name)
        return dest_dir / src.name
    return copy


@pytest.fixture
def cvom(hub):
    """CVOM's drop folder, made, and the partner: (partner, folder)."""
    p = hub.registry.partner("cvom")
    folder = hub.settings.path(p.receive.folder)
    folder.mkdir(parents=True)
    return p, folder


@pytest.fixture
def no_wait(monkeypatch):
    """Retries due at once, so a test can run the next attempt straight away."""
    from ketenhub.deliver import run
    from ketenhub import retry
    monkeypatch.setattr(run, "RETRY_BASE_SECONDS", 0)
    monkeypatch.setattr(retry, "sleep", lambda s: None)


@pytest.fixture
def before_kbsp_switch():
    """The hub's clock before KbSP's switch to v2 (2027-03-01): the Politie and OM statuses go
    through v1, as tests written for v1 expect whatever the date they run on."""
    from ketenhub import clock
    with clock.at(datetime(2027, 2, 1, 12, tzinfo=timezone.utc)):
        yield


@pytest.fixture
def connection(monkeypatch):
    """Configure an Airflow Connection ketenhub_<name> the way an operator would: AIRFLOW_CONN_*."""
    def set_connection(name: str, conn_type: str, **fields):
        monkeypatch.setenv(f"AIRFLOW_CONN_KETENHUB_{name.upper()}", json.dumps({"conn_type": conn_type, **fields}))
    return set_connection


def requests_tls(sim) -> dict:
    """requests' own arguments that reach a simulator over two-way TLS: its CA, the hub's client
    certificate."""
    cert, key = sim.pki.client()
    return {"verify": str(sim.pki.ca_file), "cert": (str(cert), str(key))}


@pytest.fixture(scope="session")
def openssh(tmp_path_factory):
    from tests.support.sshd import OpenSSH
    server = OpenSSH(tmp_path_factory.mktemp("openssh"))
    yield server
    server.stop()


def expire_leases(hub: Hub) -> None:
    """What time does for a worker that died: its batches' leases run out."""
    from sqlalchemy import update

    from ketenhub.store.tables import outbound_batch
    with hub.engine.begin() as conn:
        conn.execute(update(outbound_batch).where(outbound_batch.c.state == "sending")
                     .values(lease_until=datetime(2000, 1, 1, tzinfo=timezone.utc)))


def tune(hub: Hub, **knobs) -> None:
    """Other knobs of the fast path (settings.Tuning), as KETENHUB_<NAME> would set them."""
    hub.settings = replace(hub.settings, tuning=replace(hub.settings.tuning, **knobs))


def ingest(hub: Hub, partner: str, *paths: Path):
    p = hub.registry.partner(partner)
    return ingest_source(hub, p, Files(paths, p.receive))


def all_samples() -> dict[str, list[Path]]:
    return {p: sorted((DATA / p).glob("*.xml")) for p in ("politie", "om", "cvom", "schadefonds")}
