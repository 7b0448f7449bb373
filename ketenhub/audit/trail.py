"""Writing to and reading from the audit table. Rows are only ever inserted."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, or_, select

from ketenhub.clock import now
from ketenhub.store.bulk import insert_rows, select_in, value
from ketenhub.store.tables import audit, delivery, event, payload, quarantine


class Entry(NamedTuple):  # a frozen dataclass costs ~1.5 µs to make; there are two per ingested event
    subject: str
    subject_id: int
    action: str
    bericht_id: str | None = None
    detail: str | None = None


def record(conn: Connection, entries: list[Entry], actor: str = "ketenhub") -> None:
    if not entries:
        return
    at = value(conn, audit.c.at, now())
    if any(e.bericht_id is not None for e in entries):
        insert_rows(conn, audit, ("at", "actor", "subject", "subject_id", "action", "bericht_id", "detail"),
                    [(at, actor, *e) for e in entries])  # Entry's fields are in column order
    else:  # left out rather than bound as NULL, as a NULL costs what bytes do (see bulk.blob)
        insert_rows(conn, audit, ("at", "actor", "subject", "subject_id", "action", "detail"),
                    [(at, actor, e.subject, e.subject_id, e.action, e.detail) for e in entries])


def record_pending_deliveries(conn: Connection, event_ids: list[int], actor: str = "ketenhub") -> None:
    """A "pending" row for each delivery of these events, made by the database from the delivery
    rows themselves: for the million deliveries of a big ingest, no Python work per row."""
    at = value(conn, audit.c.at, now())
    select_in(conn, "INSERT INTO audit (at, actor, subject, subject_id, action, detail) SELECT ?, ?, 'delivery', "
                    "id, 'pending', 'key ' || idempotency_key FROM delivery WHERE event_id IN", (at, actor), event_ids)


def trace(conn: Connection, bericht_id: str) -> list[dict]:
    """Everything that happened to the events with this BerichtId (any partner), oldest first:
    receipt, acceptance or rejection and why, each delivery and its outcome."""
    events = conn.execute(select(event.c.id, event.c.payload_id).where(event.c.bericht_id == bericht_id)).all()
    quarantined = conn.execute(select(quarantine.c.id, quarantine.c.payload_id)
                               .where(quarantine.c.bericht_id == bericht_id)).all()
    event_ids = [e.id for e in events]
    payload_ids = {r.payload_id for r in [*events, *quarantined]}
    delivery_ids = [r.id for r in conn.execute(select(delivery.c.id).where(delivery.c.event_id.in_(event_ids)))]
    conditions = [audit.c.bericht_id == bericht_id]
    for subject, ids in (("payload", payload_ids), ("delivery", delivery_ids)):
        if ids:
            conditions.append((audit.c.subject == subject) & audit.c.subject_id.in_(ids))
    rows = conn.execute(select(audit).where(or_(*conditions)).order_by(audit.c.id)).mappings().all()
    return [dict(r) for r in rows]


def payload_names(conn: Connection, ids: set[int]) -> dict[int, str]:
    return dict(conn.execute(select(payload.c.id, payload.c.name).where(payload.c.id.in_(ids))).all())
