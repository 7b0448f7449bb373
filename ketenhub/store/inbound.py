"""Storing what came in: payloads, accepted events with their deliveries, quarantined events.

Every write also appends its audit rows, in the same transaction."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, text, update

from ketenhub.store.audit import Entry, record, record_pending_deliveries
from ketenhub.clock import now
from ketenhub.states import DeliveryState, EventState, PayloadState, QuarantineState
from ketenhub.store import cases
from ketenhub.store.bulk import blob, insert_rows, select_in, value
from ketenhub.store.tables import delivery, event, payload, quarantine

if TYPE_CHECKING:  # for annotations only: the store does not import the processing stage
    from ketenhub.processing import AcceptedEvent, RejectedEvent


def find_payload(conn: Connection, partner: str, sha256: str):
    return conn.execute(select(payload).where(payload.c.partner == partner, payload.c.sha256 == sha256)).first()


def add_payload(conn: Connection, partner: str, name: str, sha256: str, size: int) -> int:
    pid = conn.execute(insert(payload).values(
        partner=partner, name=name, sha256=sha256, size=size, received_at=now(), state=PayloadState.RECEIVED,
        events_accepted=0, events_rejected=0, events_duplicate=0)).inserted_primary_key[0]
    record(conn, [Entry("payload", pid, PayloadState.RECEIVED, detail=f"{partner} {name} sha256={sha256} size={size}")])
    return pid


def refresh_statistics(conn: Connection) -> None:
    """PostgreSQL plans with the statistics it has: after a bulk load into tables it last
    analysed when they were small, it would look events up by partner alone and read the whole
    table for every chunk. Autovacuum may be slow or off, so a big load analyses as it goes."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE event, delivery, quarantine"))


def finish_payload(conn: Connection, payload_id: int, state: str, reason: str | None = None) -> None:
    conn.execute(update(payload).where(payload.c.id == payload_id).values(state=state, reason=reason))
    record(conn, [Entry("payload", payload_id, state, detail=reason)])


def fingerprint(*parts: bytes) -> str:
    """What a quarantine row holds, as its key within its payload."""
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def reject_payload(conn: Connection, partner: str, payload_id: int, reason: str) -> None:
    """The whole payload is unusable: it goes to quarantine as one item, once per reason."""
    key = fingerprint(b"payload", reason.encode())
    if conn.scalar(select(quarantine.c.id).where(quarantine.c.payload_id == payload_id,
                                                 quarantine.c.fingerprint == key)) is None:
        qid = conn.execute(insert(quarantine).values(
            partner=partner, payload_id=payload_id, bericht_id=None, line=None, reason=reason, raw=None,
            state=QuarantineState.OPEN, created_at=now(), fingerprint=key)).inserted_primary_key[0]
        record(conn, [Entry("quarantine", qid, "quarantined", detail=reason)])
    finish_payload(conn, payload_id, PayloadState.REJECTED, reason)


def store_events(conn: Connection, partner: str, payload_id: int, accepted: list[AcceptedEvent],
                 rejected: list[RejectedEvent]) -> tuple[int, int]:
    """Store one chunk of a payload's events. Returns (new, duplicate) counts of accepted events.

    An event whose BerichtId this partner already sent is a duplicate: it creates nothing new,
    only an audit row. That is what makes re-ingesting a file, or a melding handed out twice,
    harmless.

    A payload is processed again from its start after a crash. What it stored before is found
    and neither stored nor counted again: an event stored from this payload (returned as a
    duplicate, as it is no news to the caller), a duplicate it counted already (its audit row
    says so), a quarantined event (its fingerprint: line and raw bytes). So the payload's
    counters and quarantine rows are those of one uninterrupted run. The one case this cannot
    tell apart: a BerichtId repeated in the payload itself, in another transaction than its
    first occurrence, is taken as stored before and not counted as a duplicate."""
    at = now()
    stored = dict(select_in(conn, "SELECT bericht_id, payload_id FROM event WHERE partner = ? AND bericht_id IN",
                            (partner,), list({e.bericht_id for e in accepted})))
    elsewhere = [b for b, p in stored.items() if p != payload_id]
    counted = {b for (b,) in select_in(
        conn, "SELECT bericht_id FROM audit WHERE subject = 'payload' AND subject_id = ? AND action = 'duplicate-event' "
              "AND bericht_id IN", (payload_id,), elsewhere)} if elsewhere else set()
    fresh, duplicates, again, seen = [], [], 0, set()
    for e in accepted:
        if stored.get(e.bericht_id) == payload_id or e.bericht_id in counted:
            again += 1  # this payload's own, from a run that did not finish
        else:
            (duplicates if e.bericht_id in stored or e.bericht_id in seen else fresh).append(e)
        seen.add(e.bericht_id)

    if fresh:
        # Plain multi-row inserts (see insert_rows for how the new ids are known): an INSERT ...
        # RETURNING that must keep the rows' order costs one statement per row on SQLite.
        at_event = value(conn, event.c.received_at, at)
        ids = insert_rows(conn, event, ("partner", "bericht_id", "payload_id", "kind", "soort", "state",
                                        "received_at", "canonical"),
                          [(partner, e.bericht_id, payload_id, e.kind, e.soort, EventState.ACCEPTED, at_event,
                            blob(e.canonical)) for e in fresh])
        if ids is None:
            by_bericht_id = dict(select_in(conn, "SELECT bericht_id, id FROM event WHERE partner = ? AND bericht_id IN",
                                           (partner,), [e.bericht_id for e in fresh]))
            ids = [by_bericht_id[e.bericht_id] for e in fresh]
        at_delivery = value(conn, delivery.c.created_at, at)
        deliveries, accepted_entries = [], []
        for event_id, e in zip(ids, fresh):
            routed = ", ".join(f"{o.destination}:{o.recipient}" for o in e.outbound)
            accepted_entries.append(Entry("event", event_id, EventState.ACCEPTED, e.bericht_id,
                                          f"{e.soort}; routed to {routed or 'no destination'}"))
            deliveries += [(event_id, o.destination, o.recipient, o.key, blob(o.document), DeliveryState.PENDING, 0,
                            at_delivery, at_delivery, at_delivery) for o in e.outbound]
        record(conn, accepted_entries)
        cases.record_links(conn, ids, [e.canonical for e in fresh])
        if deliveries:
            insert_rows(conn, delivery, ("event_id", "destination", "recipient", "idempotency_key", "document",
                                         "state", "attempts", "next_attempt_at", "created_at", "updated_at"),
                        deliveries)
            record_pending_deliveries(conn, list(ids))
    entries = [Entry("payload", payload_id, "duplicate-event", e.bericht_id, "BerichtId already received: nothing new "
                     "created") for e in duplicates]
    quarantined = _new_in_quarantine(conn, payload_id, rejected)
    if quarantined:
        qrows = conn.execute(insert(quarantine).returning(quarantine.c.id, sort_by_parameter_order=True), [
            dict(partner=partner, payload_id=payload_id, bericht_id=r.bericht_id, line=r.line, reason=r.reason,
                 raw=r.raw, state=QuarantineState.OPEN, created_at=at, fingerprint=key) for r, key in quarantined
        ]).scalars().all()
        entries += [Entry("quarantine", qid, "quarantined", r.bericht_id, r.reason)
                    for qid, (r, _) in zip(qrows, quarantined)]
    conn.execute(update(payload).where(payload.c.id == payload_id).values(
        events_accepted=payload.c.events_accepted + len(fresh),
        events_duplicate=payload.c.events_duplicate + len(duplicates),
        events_rejected=payload.c.events_rejected + len(quarantined)))
    record(conn, entries)
    return len(fresh), len(duplicates) + again


def _new_in_quarantine(conn: Connection, payload_id: int, rejected: list[RejectedEvent]) -> list[tuple]:
    """The rejected events with their fingerprints, less those this payload quarantined already."""
    keyed = [(r, fingerprint(str(r.line).encode(), r.raw or b"")) for r in rejected]
    have = {k for (k,) in select_in(conn, "SELECT fingerprint FROM quarantine WHERE payload_id = ? AND fingerprint IN",
                                    (payload_id,), list({k for _, k in keyed}))} if keyed else set()
    new = []
    for r, key in keyed:
        if key not in have:
            new.append((r, key))
            have.add(key)  # the same bytes on the same line twice in one file: one row
    return new
