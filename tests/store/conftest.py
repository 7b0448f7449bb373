"""Fixtures of the store's tests."""
import uuid

import pytest
from sqlalchemy import create_engine, text

from ketenhub.hub import Hub
from ketenhub.store import db
from ketenhub.store.roles import hub_grants
from tests.conftest import PG_URL


@pytest.fixture
def hub_role(database_url, monkeypatch, tmp_path):
    """The schema migrated by its owner (the test's superuser), and a login role for the hub
    with the grants of hub_grants; the role is dropped afterwards."""
    schema = database_url.rsplit("%3D", 1)[1]
    role = f"ketenhub_hub_{uuid.uuid4().hex[:12]}"
    db.engine(database_url).dispose()  # migrated here, as the owner
    admin = create_engine(database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        for statement in hub_grants(role, schema):
            conn.execute(text(statement))
    url = PG_URL.replace("postgres@", f"{role}@", 1) + f"?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("KETENHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KETENHUB_DATABASE_URL", url)
    hub = Hub()
    try:
        yield hub, role
    finally:
        hub.engine.dispose()
        db.engine.cache_clear()
        with admin.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))  # its grants
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()
