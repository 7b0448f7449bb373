"""Writing to and reading from the audit table. Rows are only ever inserted, chained (see chain)."""
from __future__ import annotations

from hashlib import sha256
from typing import NamedTuple

from sqlalchemy import Connection, or_, select
from sqlalchemy.event import contains, listen

from ketenhub.store.audit_chain import micros, text
from ketenhub.clock import now
from ketenhub.store.bulk import blob, insert_rows, value
from ketenhub.states import EVERY_EVENT_REJECTED, PayloadState
from ketenhub.store.tables import audit, delivery, event, every_event_rejected, payload, quarantine


_SHA256 = sha256()
_PENDING = "ketenhub.store.audit.pending"  # in Connection.info: (transaction, [(at, actor, entries)])


class Entry(NamedTuple):  # not a dataclass: there are two per ingested event, and a tuple is cheaper
    subject: str
    subject_id: int
    action: str
    bericht_id: str | None = None
    detail: str | None = None


def record(conn: Connection, entries: list[Entry], actor: str = "ketenhub") -> None:
    """Adds ``entries`` to the trail when the transaction commits (see ``_append``); until then
    the transaction itself does not see them either."""
    if not entries:
        return
    if conn.get_transaction() is None:
        conn.begin()  # so that the commit that writes them is this transaction's
    pending = conn.info.get(_PENDING)
    if pending is None or pending[0] is not conn.get_transaction():
        if not contains(conn.engine, "commit", _append):
            listen(conn.engine, "commit", _append)
            listen(conn.engine, "rollback", _forget)
        pending = conn.info[_PENDING] = (conn.get_transaction(), [])
    pending[1].append((now(), actor, entries))


def _forget(conn: Connection) -> None:
    conn.info.pop(_PENDING, None)


def _append(conn: Connection) -> None:
    """Chains and inserts the transaction's entries, just before it commits. The chain's head is
    read (on PostgreSQL locked) and written once a transaction, as the last lock it takes: the
    lock is held only for these inserts and the commit, so writers cannot deadlock on it, and the
    chain is in the order of the ids."""
    pending = conn.info.pop(_PENDING, None)
    if pending is None or pending[0] is not conn.get_transaction():
        return
    postgresql = conn.dialect.name == "postgresql"
    mark = "%s" if postgresql else "?"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute("SELECT last_id, hash FROM audit_head WHERE id = 1" + (" FOR UPDATE" if postgresql else ""))
        head = cursor.fetchone()
        if head is None:
            raise RuntimeError("the audit chain's head (table audit_head) is missing: see `ketenhub audit verify`")
        last_id, prev = head[0], bytes(head[1])
        prev_blob = blob(prev)  # each hash is made a blob once, for its row and as the next row's prev_hash
        for at, actor, entries in pending[1]:
            at_actor, at_value = text(str(micros(at))) + text(actor), value(conn, audit.c.at, at)
            # bericht_id is left out rather than bound as NULL where no row has one, as a NULL costs
            # what bytes do (see bulk.blob)
            with_bericht_id, rows = any(e[3] is not None for e in entries), []
            for subject, subject_id, action, bericht_id, detail in entries:
                last_id += 1
                # chain.content in the digest encoding, written out: the call cost a third of the time a
                # row takes here. Hashes start from a copy of an empty one: cheaper than a new one.
                i, s = str(last_id), str(subject_id)
                if bericht_id is not None:
                    b = _SHA256.copy()
                    b.update(bericht_id.encode())
                if detail is not None:
                    d = _SHA256.copy()
                    d.update(detail.encode())
                h = _SHA256.copy()
                h.update(prev + f"{len(i)}:{i}{at_actor}{len(subject)}:{subject}{len(s)}:{s}"
                                f"{'~' if bericht_id is None else '64:' + b.hexdigest()}{len(action)}:{action}"
                                f"{'~' if detail is None else '64:' + d.hexdigest()}".encode())
                h = h.digest()
                h_blob = bytearray(h)  # bulk.blob, without the call
                rows.append((last_id, subject, subject_id, bericht_id, action, detail, prev_blob, h_blob)
                            if with_bericht_id else (last_id, subject, subject_id, action, detail, prev_blob, h_blob))
                prev, prev_blob = h, h_blob
            insert_rows(conn, audit, COLUMNS if with_bericht_id else COLUMNS[:3] + COLUMNS[4:], rows,
                        same={"at": at_value, "actor": actor})
        cursor.execute(f"UPDATE audit_head SET last_id = {mark}, hash = {mark} WHERE id = 1", (last_id, prev_blob))
    finally:
        cursor.close()


COLUMNS = ("id", "subject", "subject_id", "bericht_id", "action", "detail", "prev_hash", "hash")  # and at, actor


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
    # By id too: once retention pseudonymised their rows' BerichtIds, they are found this way only
    for subject, ids in (("payload", payload_ids), ("event", event_ids), ("quarantine", [q.id for q in quarantined]),
                         ("delivery", delivery_ids)):
        if ids:
            conditions.append((audit.c.subject == subject) & audit.c.subject_id.in_(ids))
    rows = [dict(r) for r in conn.execute(select(audit).where(or_(*conditions)).order_by(audit.c.id)).mappings()]
    if payload_ids:
        all_rejected = set(conn.scalars(select(payload.c.id).where(payload.c.id.in_(payload_ids),
                                                                   every_event_rejected)))
        for r in rows:  # shown as ingest and status show it; the trail itself keeps what was written
            if r["subject"] == "payload" and r["action"] == PayloadState.ACCEPTED and r["subject_id"] in all_rejected:
                r["action"] = EVERY_EVENT_REJECTED
    return rows


def refused_calls(conn: Connection, limit: int) -> list[tuple]:
    """(at, detail) of the calls a partner made to the hub's service that were refused, newest
    first: the detail names the partner, the operation and the reason, never what the call held."""
    return conn.execute(select(audit.c.at, audit.c.detail).where(audit.c.subject == "call", audit.c.action == "refused")
                        .order_by(audit.c.id.desc()).limit(limit)).all()


def payload_names(conn: Connection, ids: set[int]) -> dict[int, str]:
    return dict(conn.execute(select(payload.c.id, payload.c.name).where(payload.c.id.in_(ids))).all())
