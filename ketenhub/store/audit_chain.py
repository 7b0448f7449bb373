"""The audit trail as a hash chain, and its verification.

Each audit row carries ``prev_hash``, the hash of the row before it (32 zero bytes for the
first), and ``hash``: SHA-256 over ``prev_hash`` followed by the row's fields in column order
(id, at, actor, subject, subject_id, bericht_id, action, detail), each written as
``<number of characters>:<text>`` (NULL as ``~``), with ``at`` as microseconds since
1970-01-01 UTC, all encoded as UTF-8. From row ``audit_head.digests_from`` on (migration
0011), the personal fields bericht_id and detail are hashed as the hex SHA-256 of their text
(written the same way): retention can then pseudonymise them and keep that digest in
``bericht_digest``/``detail_digest``, and the chain still verifies. The one row of
``audit_head`` holds the last row's id and hash. A changed, deleted or inserted row then breaks a link, and cutting off the tail
shows against a head kept outside the database (see docs/security-audit.md).
"""
from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import Connection, Engine, select

from ketenhub.store.tables import audit, audit_head

GENESIS = bytes(32)  # the "previous hash" of the first row
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
_CHUNK = 20_000  # rows read per transaction while walking: writers are not held up for long
_RECENT = 10_000  # hashes remembered while walking, to tell rows inserted from rows deleted
_RENUMBERED = 1_000  # how far a row's id is looked for when the trail was renumbered

FIELDS = (audit.c.id, audit.c.at, audit.c.actor, audit.c.subject, audit.c.subject_id, audit.c.bericht_id,
          audit.c.action, audit.c.detail, audit.c.bericht_digest, audit.c.detail_digest, audit.c.prev_hash,
          audit.c.hash)


def micros(at: datetime) -> int:
    if at.tzinfo is None:  # SQLite gives back the UTC time it was given, without its offset
        at = at.replace(tzinfo=timezone.utc)
    return (at - EPOCH) // MICROSECOND


def text(v: str) -> str:
    return f"{len(v)}:{v}"


def digest(value: str) -> bytes:
    """What the chain holds of a personal field (from ``digests_from`` on), and what a
    pseudonymised row keeps of it."""
    return hashlib.sha256(value.encode()).digest()


def personal(value: str | None, kept: bytes | None) -> str | None:
    """A personal field as the digest encoding hashes it: its digest's hex, or NULL."""
    if kept is not None:
        return bytes(kept).hex()
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def content(row_id: int, at_actor: str, subject: str, subject_id: int, bericht_id: str | None, action: str,
            detail: str | None) -> bytes:
    """The row's fields as hashed; ``at_actor`` is ``text(str(micros(at))) + text(actor)``, the
    same for every row of a ``record`` call, so it is made once. In the digest encoding the
    caller passes ``personal(...)`` of bericht_id and detail."""
    i, s = str(row_id), str(subject_id)
    return (f"{len(i)}:{i}{at_actor}{len(subject)}:{subject}{len(s)}:{s}"
            f"{'~' if bericht_id is None else f'{len(bericht_id)}:{bericht_id}'}{len(action)}:{action}"
            f"{'~' if detail is None else f'{len(detail)}:{detail}'}").encode()


def row_hash(prev: bytes, row_id: int, at: datetime, actor: str, subject: str, subject_id: int,
             bericht_id: str | None, action: str, detail: str | None, bericht_digest: bytes | None = None,
             detail_digest: bytes | None = None, digests: bool = True) -> bytes:
    """``digests``: the encoding of rows from migration 0011 on; False for rows chained before."""
    if digests:
        bericht_id, detail = personal(bericht_id, bericht_digest), personal(detail, detail_digest)
    return hashlib.sha256(prev + content(row_id, text(str(micros(at))) + text(actor), subject, subject_id,
                                         bericht_id, action, detail)).digest()


@dataclass(frozen=True)
class Head:
    """The chain's last row: what the nightly DAG logs and compares with the night before."""
    last_id: int
    hash: bytes
    logged: str = ""  # where and when it was written down, for the report

    def text(self) -> str:
        return f"{self.last_id}:{self.hash.hex()}"  # as `ketenhub audit verify --head` takes it


@dataclass
class Verdict:
    rows: int
    head: Head
    problem: str | None = None
    row: int | None = None  # the row the problem is first seen at

    @property
    def intact(self) -> bool:
        return self.problem is None

    def text(self) -> str:
        if self.intact:
            return f"audit trail intact: {self.rows} rows; its head (last row:sha256) is {self.head.text()}"
        return f"audit trail BROKEN at row {self.row}: {self.problem}"


def _rows(ids: str, first: int, last: int) -> str:
    return f"row {first} was {ids}" if first == last else f"rows {first} to {last} were {ids}"


class _Walk:
    """Follows the chain row by row; ``step`` returns (row, problem) at the first broken link."""

    def __init__(self, digests_from: int = 1):
        self.digests_from = digests_from
        self.rows, self.last_id, self.last_hash = 0, 0, GENESIS
        self.recent, self.order = {GENESIS: 0}, deque()
        self.seen: dict[int, bytes] = {}  # hashes of rows asked for (the logged head)
        self.watch: set[int] = set()

    def step(self, r) -> tuple[int, str] | None:
        row_id, prev, h = r[0], r[10], r[11]
        if prev is None or h is None:
            return row_id, f"row {row_id} carries no hash: it was inserted, or its hash wiped, outside the hub"
        prev, h = bytes(prev), bytes(h)
        content_ok = row_hash(prev, *r[:10], digests=row_id >= self.digests_from) == h
        if prev != self.last_hash:
            earlier = self.recent.get(prev)
            if earlier is not None and earlier < self.last_id:
                return earlier + 1, (_rows("inserted", earlier + 1, self.last_id)
                                     + f": row {row_id} is chained to row {earlier}, the row before them")
            if row_id > self.last_id + 1:
                return self.last_id + 1, (_rows("deleted", self.last_id + 1, row_id - 1)
                                          + f": row {row_id} is chained to a row that is gone")
            if self.last_id == 0:
                return row_id, f"rows before row {row_id} were deleted: it is chained to a row that is gone"
            if content_ok:
                return self.last_id, (f"row {self.last_id} was replaced: its hash is not the one row {row_id} "
                                      f"was chained to")
            written = self._written_as(r, prev, h)
            if written is not None and written > row_id:
                return row_id, (_rows("deleted", row_id, written - 1) + f" and the rows after renumbered: row "
                                f"{row_id} was written as row {written}")
            if written is not None:
                return written, (_rows("inserted", written, row_id - 1) + f" and the rows after renumbered: row "
                                 f"{row_id} was written as row {written}")
            return row_id, (f"row {row_id} was replaced or inserted: neither its content nor its link to "
                            f"row {self.last_id} match")
        if not content_ok:
            return row_id, f"row {row_id} was changed after it was written: its content no longer matches its hash"
        self.rows, self.last_id, self.last_hash = self.rows + 1, row_id, h
        self.recent[h] = row_id
        self.order.append(h)
        if len(self.order) > _RECENT:
            del self.recent[self.order.popleft()]
        if row_id in self.watch:
            self.seen[row_id] = h
        return None

    def _written_as(self, r, prev: bytes, h: bytes) -> int | None:
        """The id a renumbered row was written under, if it is near its present one."""
        row_id, *fields = r[:10]
        for other in range(max(1, row_id - _RENUMBERED), row_id + _RENUMBERED + 1):
            if other != row_id and row_hash(prev, other, *fields, digests=other >= self.digests_from) == h:
                return other
        return None


def read_head(conn: Connection) -> Head | None:
    row = conn.execute(select(audit_head.c.last_id, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    return None if row is None else Head(row.last_id, bytes(row.hash))


def verify(engine: Engine, logged: Head | None = None) -> Verdict:
    """Walks the whole chain and compares its end with ``audit_head`` and with ``logged``, a
    head written down earlier outside the database. Rows are read a chunk per transaction; the
    last chunk and the head are read in one transaction, so they agree with each other."""
    with engine.connect() as conn:  # set once by migration 0011: rows before it are hashed as written
        digests_from = conn.scalar(select(audit_head.c.digests_from).where(audit_head.c.id == 1))
    walk = _Walk(1 if digests_from is None else digests_from)
    if logged is not None:
        walk.watch.add(logged.last_id)

    def follow(rows: Iterable) -> tuple[int, str] | None:
        for r in rows:
            broken = walk.step(r)
            if broken:
                return broken
        return None

    read_to = 0

    def chunk(conn: Connection, limit: int | None):
        nonlocal read_to
        q = select(*FIELDS).where(audit.c.id > read_to).order_by(audit.c.id)
        rows = conn.execute(q.limit(limit) if limit else q).all()
        if rows:
            read_to = rows[-1][0]
        return rows

    while True:
        with engine.begin() as conn:
            rows = chunk(conn, _CHUNK)
        broken = follow(rows)
        if broken or len(rows) < _CHUNK:
            break
    if not broken:  # what was written meanwhile, read in the same snapshot as the head
        options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
        with engine.connect().execution_options(**options) as conn, conn.begin():
            broken = follow(chunk(conn, None))
            head = read_head(conn)
    verdict = Verdict(walk.rows, Head(walk.last_id, walk.last_hash))
    if broken:
        verdict.row, verdict.problem = broken
        return verdict
    problem = _compare(walk, head, "the chain's head (table audit_head)")
    if problem is None and logged is not None and logged.last_id:
        problem = _compare(walk, logged, f"the head logged {logged.logged}".rstrip(), outside=True)
    if problem:
        verdict.row, verdict.problem = problem
    return verdict


def _compare(walk: _Walk, head: Head | None, name: str, outside: bool = False) -> tuple[int, str] | None:
    if head is None:
        return walk.last_id, f"{name} is missing"
    if head.last_id > walk.last_id:
        if walk.rows == 0:
            return 1, f"the audit trail is empty, but {name} is row {head.last_id}: it was truncated"
        return walk.last_id + 1, (f"the chain was truncated: {name} is row {head.last_id}, but the trail ends at "
                                  f"row {walk.last_id}")
    if outside:  # the trail has grown since: the logged head must still be in it, unchanged
        h = walk.seen.get(head.last_id)
        if h is None:
            return head.last_id, f"row {head.last_id}, {name}, is gone"
        if h != head.hash:
            return head.last_id, (f"the trail up to row {head.last_id} was rewritten: that row's hash is not "
                                  f"{name}")
        return None
    if head.last_id < walk.last_id:
        return head.last_id + 1, (_rows("added", head.last_id + 1, walk.last_id)
                                  + f" after {name} (row {head.last_id}), outside the hub")
    if head.hash != walk.last_hash:
        return head.last_id, f"row {head.last_id} was rewritten: its hash is not the one {name} holds"
    return None
