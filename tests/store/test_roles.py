"""On PostgreSQL the hub runs as a role that may only add and read audit rows: the layout of
ketenhub.store.roles, made in the test database with roles of the test's own."""
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import ProgrammingError

from ketenhub.store.audit_chain import verify
from ketenhub.deliver.run import deliver
from ketenhub.store.tables import audit
from tests.conftest import ingest
from tests.support.factories import Unreachable


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_hubs_role_writes_the_trail_but_cannot_change_it(hub_role, sample):
    hub, role = hub_role
    (report,) = ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    assert report.accepted == 5
    assert deliver(hub, hub.registry.destination("kbsp"), Unreachable()).retry > 0  # updates deliveries, adds rows
    with hub.engine.connect() as conn:
        assert conn.scalar(text("SELECT current_user")) == role
        rows = conn.scalar(select(func.count()).select_from(audit))
    assert rows > 18
    assert verify(hub.engine).intact

    for attempt in ("UPDATE audit SET detail = 'x' WHERE id = 2", "DELETE FROM audit WHERE id = 2", "TRUNCATE audit",
                    "ALTER TABLE audit DISABLE TRIGGER audit_append_only", "DROP TRIGGER audit_append_only ON audit",
                    "DROP TABLE audit"):
        with pytest.raises(ProgrammingError) as refused:
            with hub.engine.begin() as conn:
                conn.execute(text(attempt))
        assert refused.value.orig.pgcode == "42501", attempt  # insufficient privilege
        assert "permission denied" in str(refused.value.orig) or "must be owner" in str(refused.value.orig)

    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(audit)) == rows
    assert verify(hub.engine).intact
