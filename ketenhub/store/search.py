"""Finding one event by what an operator has at hand: its BerichtId, the case's parketnummer or
police registratienummer, or a victim's Ketenreferentie.

The keys are read from the canonical documents after they are stored (``index_new``: by the
ketenhub_health DAG every few minutes, and before every search), not while storing: a big
ingest does no extra work for them. Quarantined events are found by BerichtId through their
own index."""
from __future__ import annotations

import re
from typing import NamedTuple

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from ketenhub.store.bulk import insert_rows
from ketenhub.store.tables import event, quarantine, search_key

KINDS = ("bericht_id", "parketnummer", "registratienummer", "ketenreferentie")
_KEY = re.compile(rb"<(?:\w+:)?(Parketnummer|Registratienummer|Ketenreferentie)>([^<]{1,255})</")
# Events stored in the last transactions of concurrent writers may commit after higher ids
# (PostgreSQL sequences): the ids just below the highest indexed one are looked at again.
_OVERLAP = 5000
PURGED = b""  # a canonical document retention blanked (store.retention.EMPTY): found by nothing
_LAST = "\U0010ffff"  # sorts after every character: the end of a prefix's range of the index


class Found(NamedTuple):
    kind: str  # event or quarantine
    id: int
    partner: str
    bericht_id: str | None
    matched: str  # which key matched: bericht_id, parketnummer, ...
    at: object


def normalised(text: str) -> str:
    """As the canonical model writes identifiers (xs:token): white space collapsed."""
    return " ".join(text.split())


def keys_of(bericht_id: str, canonical: bytes) -> set[tuple[str, str]]:
    found = {("bericht_id", bericht_id)}
    for name, value in _KEY.findall(canonical):
        found.add((name.decode().lower(), normalised(value.decode())))
    return found


def index_new(conn: Connection, limit: int = 50_000) -> int:
    """Adds the keys of events not indexed yet, at most ``limit`` events. Returns how many."""
    highest = conn.scalar(select(func.max(search_key.c.event_id))) or 0
    indexed = select(search_key.c.event_id).where(search_key.c.event_id == event.c.id).exists()
    rows = conn.execute(select(event.c.id, event.c.bericht_id, event.c.canonical)
                        .where(event.c.id > highest - _OVERLAP, ~indexed, event.c.canonical != PURGED)
                        .order_by(event.c.id).limit(limit)).all()
    insert_rows(conn, search_key, ("event_id", "kind", "value"),
                [(i, kind, value) for i, bericht_id, canonical in rows
                 for kind, value in sorted(keys_of(bericht_id, bytes(canonical)))])
    return len(rows)


def catch_up(engine, limit: int = 50_000) -> int:
    """``index_new`` in a transaction of its own; another process doing the same at the same time
    is no error (the keys are the same)."""
    try:
        with engine.begin() as conn:
            return index_new(conn, limit)
    except IntegrityError:
        return 0


def forget(conn: Connection, event_ids) -> None:
    """The keys of events whose documents retention purges: found no longer by what they held."""
    conn.execute(search_key.delete().where(search_key.c.event_id.in_(event_ids)))


def find(conn: Connection, text: str, whole_value_only: bool, limit: int = 100) -> list[Found]:
    """Events (and quarantined events, by BerichtId) whose key is ``text``, or, unless
    ``whole_value_only``, starts with it: newest first. Every lookup is a range of an index."""
    text = normalised(text)
    if not text:
        return []
    if whole_value_only:
        match, q_match = search_key.c.value == text, quarantine.c.bericht_id == text
    else:
        match = (search_key.c.value >= text) & (search_key.c.value < text + _LAST)
        q_match = (quarantine.c.bericht_id >= text) & (quarantine.c.bericht_id < text + _LAST)
    events = conn.execute(
        select(event.c.id, event.c.partner, event.c.bericht_id, search_key.c.kind, event.c.received_at)
        .select_from(search_key.join(event, event.c.id == search_key.c.event_id))
        .where(match).order_by(event.c.id.desc()).limit(limit)).all()
    held = conn.execute(
        select(quarantine.c.id, quarantine.c.partner, quarantine.c.bericht_id, quarantine.c.created_at)
        .where(q_match).order_by(quarantine.c.id.desc()).limit(limit)).all()
    seen, found = set(), []
    for r in events:
        if r.id not in seen:
            seen.add(r.id)
            found.append(Found("event", r.id, r.partner, r.bericht_id, r.kind, r.received_at))
    found += [Found("quarantine", r.id, r.partner, r.bericht_id, "bericht_id", r.created_at) for r in held]
    return found[:limit]
