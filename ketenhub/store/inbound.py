"""Storing what came in: payloads, accepted events with their deliveries, quarantined events.

Every write also appends its audit rows, in the same transaction."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, NamedTuple, Sequence

from sqlalchemy import Connection, insert, or_, select, text

from ketenhub.store.audit import Entry, record
from ketenhub.clock import now
from ketenhub.states import DeliveryState, EventState, PayloadState, QuarantineState
from ketenhub.store import cases
from ketenhub.store.bulk import blobs, execute, execute_many, insert_rows, select_in, value
from ketenhub.store.tables import delivery, event, payload, quarantine

if TYPE_CHECKING:  # for annotations only: the store does not import the processing stage
    from ketenhub.processing import AcceptedEvent, RejectedEvent


class Known(NamedTuple):
    id: int
    state: str
    events_accepted: int
    events_duplicate: int
    events_rejected: int


def find_payload(conn: Connection, partner: str, sha256: str) -> Known | None:
    rows = execute(conn, "SELECT id, state, events_accepted, events_duplicate, events_rejected FROM payload "
                         "WHERE partner = ? AND sha256 = ?", (partner, sha256))
    return Known(*rows[0]) if rows else None


def add_payload(conn: Connection, partner: str, name: str, sha256: str, size: int) -> int:
    (pid,) = add_payloads(conn, partner, [(name, sha256, size)])
    return pid


def find_payloads(conn: Connection, partner: str, sha256s: list[str]) -> dict[str, Known]:
    """``find_payload`` for many at once (a drop folder's group of files): by SHA-256."""
    return {sha: Known(*row) for sha, *row in select_in(
        conn, "SELECT sha256, id, state, events_accepted, events_duplicate, events_rejected FROM payload "
              "WHERE partner = ? AND sha256 IN", (partner,), sha256s)}


def add_payloads(conn: Connection, partner: str, payloads: list[tuple[str, str, int]]) -> Sequence[int]:
    """Rows for new payloads, (name, sha256, size) each, in one statement; their ids in order."""
    ids = insert_rows(conn, payload, ("name", "sha256", "size"), payloads,
                      same={"partner": partner, "received_at": value(conn, payload.c.received_at, now()),
                            "state": PayloadState.RECEIVED.value, "events_accepted": 0, "events_rejected": 0,
                            "events_duplicate": 0})
    record(conn, [Entry("payload", pid, PayloadState.RECEIVED, detail=f"{partner} {name} sha256={sha256} size={size}")
                  for pid, (name, sha256, size) in zip(ids, payloads)])
    return ids


def refresh_statistics(conn: Connection) -> None:
    """PostgreSQL plans with the statistics it has: after a bulk load into tables it last
    analysed when they were small, it would look events up by partner alone and read the whole
    table for every chunk. Autovacuum may be slow or off, so a big load analyses as it goes.
    Only the columns that queries select by: the documents' statistics cost as much as all the
    rest, and no plan uses them. A sample of 3,000 rows a table, not the default 30,000: enough
    for the sizes and for seeing that a BerichtId is unique, at a tenth of the cost (the sampled
    rows are read whole). The setting ends with the transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL default_statistics_target = 10"))
        conn.execute(text("ANALYZE event (partner, bericht_id, payload_id), "
                          "delivery (event_id, destination, state, next_attempt_at, batch_id, created_at, updated_at), "
                          "quarantine (payload_id, fingerprint, bericht_id, state)"))


def finish_payload(conn: Connection, payload_id: int, state: str, reason: str | None = None) -> None:
    finish_payloads(conn, [payload_id], state, reason)


def finish_payloads(conn: Connection, payload_ids: list[int], state: str, reason: str | None = None) -> None:
    if not payload_ids:
        return
    execute_many(conn, "UPDATE payload SET state = ?, reason = ? WHERE id = ?",
                 [(str(state), reason, pid) for pid in payload_ids])
    record(conn, [Entry("payload", pid, state, detail=reason) for pid in payload_ids])


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
    first occurrence, is taken as stored before and not counted as a duplicate.

    An accepted event with a delivery key another event has is quarantined instead, and added to
    ``rejected`` (see ``_without_taken_keys``)."""
    (counts,) = store_chunks(conn, partner, [(payload_id, accepted, rejected)])
    return counts


def store_chunks(conn: Connection, partner: str, chunks: list[tuple[int, list, list]]) -> list[tuple[int, int]]:
    """``store_events`` for the chunks, (payload_id, accepted, rejected) each, of several payloads
    at once (a drop folder's group of files), with a statement per table rather than per
    payload; in order, as if each was stored after the one before."""
    at = now()
    # Events are read by position (AcceptedEvent's and Outbound's field order): from a worker
    # they come as the plain tuples of the pipe, named nowhere else on their way here.
    stored = dict(select_in(conn, "SELECT bericht_id, payload_id FROM event WHERE partner = ? AND bericht_id IN",
                            (partner,), list({e[0] for _, accepted, _ in chunks for e in accepted})))
    fresh, duplicates, counts, seen = [], [], [], set()
    for payload_id, accepted, _ in chunks:
        elsewhere = [b for b in {e[0] for e in accepted} if b in stored and stored[b] != payload_id] \
            if stored else []
        counted = {b for (b,) in select_in(
            conn, "SELECT bericht_id FROM audit WHERE subject = 'payload' AND subject_id = ? "
                  "AND action = 'duplicate-event' AND bericht_id IN", (payload_id,), elsewhere)} if elsewhere else set()
        new, dup, again = 0, 0, 0
        for e in accepted:
            bericht_id = e[0]
            if bericht_id not in stored and bericht_id not in seen:  # new: most events, so asked first
                fresh.append((payload_id, e))
                new += 1
            elif stored.get(bericht_id) == payload_id or bericht_id in counted:
                again += 1  # this payload's own, from a run that did not finish
            else:  # stored before, or sent twice here
                duplicates.append((payload_id, bericht_id))
                dup += 1
            seen.add(bericht_id)
        counts.append([new, dup, again])

    if fresh:
        try:
            with conn.begin_nested():  # a savepoint: a key taken undoes the chunk's inserts, not the transaction
                _insert_fresh(conn, partner, fresh, at)
        except conn.dialect.dbapi.IntegrityError as e:  # its text would quote the keys: said in the hub's words
            if "uq_delivery_destination_key" not in str(e) and "delivery.idempotency_key" not in str(e):
                raise
            fresh = _without_taken_keys(conn, partner, chunks, counts, fresh)
            try:
                with conn.begin_nested():
                    _insert_fresh(conn, partner, fresh, at)
            except conn.dialect.dbapi.IntegrityError:
                raise KeyTaken(sorted({o[0] for _, e in fresh for o in e[4]})) from None
    entries = [Entry("payload", payload_id, "duplicate-event", bericht_id, "BerichtId already received: nothing new "
                     "created") for payload_id, bericht_id in duplicates]
    for (payload_id, _, rejected), count in zip(chunks, counts):
        quarantined = _new_in_quarantine(conn, payload_id, rejected)
        if quarantined:
            qrows = conn.execute(insert(quarantine).returning(quarantine.c.id, sort_by_parameter_order=True), [
                dict(partner=partner, payload_id=payload_id, bericht_id=r.bericht_id, line=r.line, reason=r.reason,
                     raw=r.raw, state=QuarantineState.OPEN, created_at=at, fingerprint=key) for r, key in quarantined
            ]).scalars().all()
            entries += [Entry("quarantine", qid, "quarantined", r.bericht_id, r.reason)
                        for qid, (r, _) in zip(qrows, quarantined)]
        count.append(len(quarantined))
    changed = [(new, dup, q, payload_id) for (payload_id, _, _), (new, dup, _, q) in zip(chunks, counts)
               if new or dup or q]
    if changed:
        execute_many(conn, "UPDATE payload SET events_accepted = events_accepted + ?, events_duplicate = "
                           "events_duplicate + ?, events_rejected = events_rejected + ? WHERE id = ?", changed)
    record(conn, entries)
    return [(new, dup + again) for new, dup, again, _ in counts]


def _insert_fresh(conn: Connection, partner: str, fresh: list[tuple], at) -> None:
    """The new events of a chunk, (payload_id, event) each, with their case links, deliveries and
    audit rows."""
    if not fresh:
        return
    as_blob = blobs(conn)
    # Plain multi-row inserts (see insert_rows for how the new ids are known): an INSERT ...
    # RETURNING that must keep the rows' order costs one statement per row on SQLite.
    ids = insert_rows(conn, event, ("payload_id", "bericht_id", "kind", "soort", "canonical"),
                      [(p, bericht_id, kind, soort, as_blob(canonical))
                       for p, (bericht_id, kind, soort, canonical, _) in fresh],
                      same={"partner": partner, "state": EventState.ACCEPTED.value,
                            "received_at": value(conn, event.c.received_at, at)})
    cases.record_links(conn, ids, [e[3] for _, e in fresh])  # the register of cases (store.cases)
    deliveries = [(event_id, destination, recipient, key, as_blob(document))
                  for event_id, (_, e) in zip(ids, fresh) for destination, key, recipient, document in e[4]]
    delivery_ids = iter(_delivery_ids(conn, deliveries, at) if deliveries else ())
    # One audit row per event says what became of it and which deliveries it made, each
    # pending from now: a row per delivery would say nothing more, at twice the rows. The
    # state as its plain string: a StrEnum member costs sqlite3 a failed adapter lookup a row.
    accepted_state = EventState.ACCEPTED.value
    record(conn, [("event", event_id, accepted_state, bericht_id, f"{soort}; routed to " + (", ".join(
        [f"{o[0]}:{o[2]} (delivery {next(delivery_ids)})" for o in outbound]) or "no destination"))
        for event_id, (_, (bericht_id, _, soort, _, outbound)) in zip(ids, fresh)])  # as Entry, made faster


class Refused(NamedTuple):
    """An event the store refused, in the fields of processing's RejectedEvent: its bytes are in
    its payload, where re-processing finds it by its BerichtId."""
    bericht_id: str
    line: None
    reason: str
    raw: None


def _without_taken_keys(conn: Connection, partner: str, chunks: list[tuple[int, list, list]],
                        counts: list[list[int]], fresh: list[tuple]) -> list[tuple]:
    """``fresh`` less the events a delivery key of which is stored already, or was given to an
    event before them in ``fresh``: each goes to its chunk's ``rejected`` instead, so to the
    quarantine, and is counted there rather than as new. Two events with one key would have the
    destination take the second as a repeat of the first; the rest of the payload goes on."""
    wanted: dict[str, set[str]] = {}
    for _, e in fresh:
        for destination, key, *_ in e[4]:
            wanted.setdefault(destination, set()).add(key)
    holders = {(destination, key): f"{bericht_id} ({of})" for destination, keys in wanted.items()
               for key, bericht_id, of in select_in(
                   conn, "SELECT d.idempotency_key, e.bericht_id, e.partner FROM delivery d JOIN event e ON "
                         "e.id = d.event_id WHERE d.destination = ? AND d.idempotency_key IN", (destination,),
                   sorted(keys))}
    kept, taken = [], {}
    for payload_id, e in fresh:
        keys = [(o[0], o[1]) for o in e[4]]
        clash = next(((destination, holders[destination, key]) for destination, key in keys
                      if (destination, key) in holders), None)
        if clash is None:
            kept.append((payload_id, e))
            holders.update((k, f"{e[0]} ({partner})") for k in keys)
        else:
            taken[id(e)] = clash
    for (_, accepted, rejected), count in zip(chunks, counts):
        for e in accepted:
            if id(e) in taken:
                count[0] -= 1
                rejected.append(Refused(e[0], None, KeyTaken.reason(*taken[id(e)]), None))
    return kept


class KeyTaken(ValueError):
    """Two events were mapped to one delivery key of a destination, which would take the second
    as a repeat of the first. Where the first is stored already, or earlier in the same chunk,
    the second is quarantined (``_without_taken_keys``); this is raised only where the keys
    could not be told apart, and nothing of the chunk is stored."""

    RULE = "delivery-key"
    MEND = ("The destination's mapping must give each event keys of its own: from its BerichtId, with its "
            "partner first (Bron/Partner) where other partners send that kind of event too; see "
            "tests/mappings/test_keys.py")

    def __init__(self, destinations: list[str]):
        super().__init__(
            f"a delivery key for {' or '.join(destinations)} is taken already, by another event: nothing of these "
            "events was stored. " + self.MEND)

    @classmethod
    def reason(cls, destination: str, holder: str) -> str:
        return (f"its delivery key for {destination} is taken by event {holder}, so {destination} would take it as "
                f"a repeat of that one: not stored. {cls.MEND}. Once the mapping is mended, re-process it "
                f"(rule: {cls.RULE})")


def _delivery_ids(conn: Connection, deliveries: list[tuple], at) -> Sequence[int]:
    """The ids of ``deliveries``, just inserted, in their order."""
    at = value(conn, delivery.c.created_at, at)
    return insert_rows(conn, delivery, ("event_id", "destination", "recipient", "idempotency_key", "document"),
                       deliveries, same={"state": DeliveryState.PENDING.value, "attempts": 0, "next_attempt_at": at,
                                         "created_at": at, "updated_at": at})


def _new_in_quarantine(conn: Connection, payload_id: int, rejected: list[RejectedEvent]) -> list[tuple]:
    """The rejected events with their fingerprints, less those this payload quarantined already."""
    keyed = [(r, fingerprint(str(r.line).encode(), r.raw or (r.bericht_id or "").encode())) for r in rejected]
    have = {k for (k,) in select_in(conn, "SELECT fingerprint FROM quarantine WHERE payload_id = ? AND fingerprint IN",
                                    (payload_id,), list({k for _, k in keyed}))} if keyed else set()
    new = []
    for r, key in keyed:
        if key not in have:
            new.append((r, key))
            have.add(key)  # the same bytes on the same line twice in one file: one row
    return new


def stored_bericht_ids(conn: Connection, partner: str, bericht_ids: list[str]) -> set[str]:
    """Which of these BerichtIds this partner's accepted events have (a quarantined one is not stored)."""
    return {b for (b,) in select_in(conn, "SELECT bericht_id FROM event WHERE partner = ? AND bericht_id IN",
                                    (partner,), list({b for b in bericht_ids if b}))}


def quarantined_events(conn: Connection, partner: str, sha256: str) -> list[tuple[str | None, int | None, str]]:
    """(BerichtId, line, reason) of the events a payload had quarantined, in the order they were
    (the payload's own item, refused whole, is not one)."""
    found = find_payload(conn, partner, sha256)
    if found is None:
        return []
    return [tuple(r) for r in conn.execute(
        select(quarantine.c.bericht_id, quarantine.c.line, quarantine.c.reason).where(
            quarantine.c.payload_id == found.id,
            or_(quarantine.c.bericht_id.is_not(None), quarantine.c.line.is_not(None)))
        .order_by(quarantine.c.id))]


def refuse_call(conn: Connection, partner: str, detail: str) -> None:
    """A call refused whole stores nothing; the audit trail records that it came, and why it was refused."""
    record(conn, [Entry("call", 0, "refused", None, f"{partner}: {detail}")])

