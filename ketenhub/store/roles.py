"""The PostgreSQL role layout under which the hub cannot change its own audit trail.

The tables belong to an owner role that only migrations use. The hub runs as another role,
which may add audit rows and read them, but not change, delete or truncate them, nor disable
the append-only trigger (only an owner may alter a table). ``audit_head`` it must update: it
is the chain's lock and a first check, not a trusted copy of the head (that is the nightly
DAG's task log). See docs/security-audit.md.
"""
from __future__ import annotations

from ketenhub.store.db import VERSION_TABLE
from ketenhub.store.tables import audit, audit_head, metadata


def hub_grants(role: str, schema: str = "public") -> list[str]:
    """The statements an owner runs once, after the migrations, to let ``role`` run the hub."""
    others = ", ".join(f'"{schema}".{t.name}' for t in metadata.sorted_tables if t not in (audit, audit_head))
    return [
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON {others} TO "{role}"',
        f'GRANT SELECT, INSERT ON "{schema}".audit TO "{role}"',  # no UPDATE, DELETE or TRUNCATE
        f'GRANT SELECT, UPDATE ON "{schema}".audit_head TO "{role}"',
        f'GRANT SELECT ON "{schema}".{VERSION_TABLE} TO "{role}"',  # to see that the schema is migrated
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
    ]
