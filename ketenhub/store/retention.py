"""Retention: personal data kept no longer than each adapter's ``retention:`` says, and the
privacy officer's report of what the hub holds about one person (docs/security-retention.md).

Purging blanks documents in place (rows stay, so counts, traces and the audit trail keep their
references) and deletes kept payloads (store.kept). Audit rows about what was purged keep their place
in the hash chain: their personal fields are replaced by a keyed pseudonym (bericht_id) or
blanked (detail), and the digest the chain holds of each is kept beside it (store.audit_chain).
"""
from __future__ import annotations

import hmac
import logging
import mmap
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hashlib import sha256
from pathlib import Path

from sqlalchemy import Connection, and_, case, exists, func, literal, or_, select, text, update
from sqlalchemy.exc import DBAPIError

from ketenhub import keys
from ketenhub.clock import now as clock_now
from ketenhub.states import DeliveryState, PayloadState, QuarantineState
from ketenhub.store import kept, search
from ketenhub.store.audit import Entry, record
from ketenhub.store.tables import audit, audit_head, delivery, event, kept_payload, payload, quarantine

log = logging.getLogger(__name__)

PURGED = "[purged by retention]"  # a quarantined item's reason once its bytes are gone
EMPTY = b""  # a purged document: the columns stay NOT NULL, and an empty document is never a real one
SETTLED = (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.DEAD)
DUE = (DeliveryState.PENDING, DeliveryState.SENDING)
KINDS = ("payloads", "events", "deliveries", "quarantine", "audit")
_SQLITE_TRIGGER = """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                     BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"""


def pseudonym(key: str, label: str, value: str) -> str:
    """A keyed hash of an identifier (the Ketenreferentie's key, another label): the same value
    gives the same pseudonym, so rows stay linkable, and without the key it cannot be reversed."""
    return "PS-" + hmac.new(keys.check(key), f"{label}|{value}".encode(), sha256).hexdigest()[:32]


@dataclass
class Report:
    dry_run: bool
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (partner or destination, kind) -> n
    audit_rows: int = 0
    audit_skipped: str | None = None  # why the audit rows were not pseudonymised
    archives_skipped: list[str] = field(default_factory=list)  # drop-folder archives that could not be emptied

    def lines(self) -> list[str]:
        verb = "would purge" if self.dry_run else "purged"
        out = [f"{who}: {kind} {n}" for (who, kind), n in sorted(self.counts.items())]
        out.append(f"audit: {self.audit_rows} rows {'to pseudonymise' if self.dry_run else 'pseudonymised'}")
        if self.audit_skipped:
            out.append(f"audit: not pseudonymised: {self.audit_skipped}")
        out += [f"archive not emptied: {why}" for why in self.archives_skipped]
        return [f"retention ({verb}):", *(f"  {line}" for line in out)]

    def total(self) -> int:
        return sum(self.counts.values())


def _cutoff(at: datetime, days: int) -> datetime:
    return at - timedelta(days=days)


def _due_deliveries():
    return exists().where(delivery.c.event_id == event.c.id, delivery.c.state.in_(DUE))


def _events(partner: str, cutoff: datetime):
    return and_(event.c.partner == partner, event.c.received_at < cutoff, event.c.canonical != EMPTY,
                ~_due_deliveries())


def _deliveries(destination: str, cutoff: datetime):
    return and_(delivery.c.destination == destination, delivery.c.state.in_(SETTLED),
                delivery.c.updated_at < cutoff, delivery.c.document != EMPTY)


def _quarantine(partner: str, cutoff: datetime):
    return and_(quarantine.c.partner == partner, quarantine.c.created_at < cutoff, quarantine.c.reason != PURGED)


def _settled_payloads(partner: str, r, at: datetime):
    """Payload rows whose kept bytes may go: old enough, stored, no event of it still to be delivered,
    and no open quarantined item of it that is kept still (a whole payload's item needs its bytes)."""
    due = (select(literal(1)).select_from(event.join(delivery, delivery.c.event_id == event.c.id))
           .where(event.c.payload_id == payload.c.id, delivery.c.state.in_(DUE)).exists())
    open_item = exists().where(quarantine.c.payload_id == payload.c.id, quarantine.c.state == QuarantineState.OPEN,
                               quarantine.c.reason != PURGED, quarantine.c.created_at >= _cutoff(at, r.quarantine))
    return and_(payload.c.partner == partner, payload.c.received_at < _cutoff(at, r.payloads),
                payload.c.state != PayloadState.RECEIVED, ~due, ~open_item)


def run(hub, dry_run: bool = False, at: datetime | None = None, actor: str = "ketenhub-retention",
        archives: dict[str, list[Path]] | None = None) -> Report:
    """Purges what is past its period; ``dry_run`` only counts. Each kind is one transaction.
    ``archives``: per partner, the local folders a drop folder moves a file to once taken
    (wiring.archives), emptied of what was moved there longer ago than its payloads' period."""
    at = at or clock_now()
    registry, report = hub.registry, Report(dry_run)
    partners = {p.partner: p.retention for p in registry.partners.values()}
    destinations = {d.destination: d.retention for d in registry.destinations.values()}
    with hub.engine.begin() as conn:
        for name, r in destinations.items():
            where = _deliveries(name, _cutoff(at, r.deliveries))
            report.counts[(name, "deliveries")] = _apply(conn, delivery, where, dry_run,
                                                         document=EMPTY, last_error=None)
        for name, r in partners.items():
            if not dry_run:
                search.forget(conn, select(event.c.id).where(_events(name, _cutoff(at, r.events))))
            report.counts[(name, "events")] = _apply(conn, event, _events(name, _cutoff(at, r.events)), dry_run,
                                                     canonical=EMPTY)
            q = _quarantine(name, _cutoff(at, r.quarantine))
            # An open item can no longer be re-processed: it leaves the operators' list.
            purged = dict(reason=PURGED, state=case((quarantine.c.state == QuarantineState.OPEN,
                                                     QuarantineState.PURGED.value), else_=quarantine.c.state))
            # A whole payload's item has no bytes of its own (raw NULL: they are its payload's).
            n = _apply(conn, quarantine, and_(q, quarantine.c.raw.is_not(None)), dry_run, raw=EMPTY, **purged)
            report.counts[(name, "quarantine")] = n + _apply(conn, quarantine, and_(q, quarantine.c.raw.is_(None)),
                                                             dry_run, **purged)
        for name, n in _payload_files(conn, hub.settings.payloads_dir, partners, at, dry_run).items():
            report.counts[(name, "payloads")] = n
        for name, r in partners.items():  # a file's name and a refusal's reason are the partner's words
            report.counts[(name, "payload names")] = _apply(
                conn, payload, and_(_settled_payloads(name, r, at), payload.c.name != PURGED), dry_run,
                name=PURGED, reason=case((payload.c.reason.is_not(None), PURGED), else_=None))
        for name, folders in (archives or {}).items():
            if name in partners:
                report.counts[(name, "archived files")] = _archived(folders, _cutoff(at, partners[name].payloads),
                                                                    dry_run, report)
        if not dry_run and report.total():
            summary = ", ".join(f"{who} {kind} {n}" for (who, kind), n in sorted(report.counts.items()) if n)
            record(conn, [Entry("retention", 0, "purged", detail=summary)], actor=actor)
    _pseudonymise_audit(hub, report, dry_run, at, partners, destinations)
    return report


def _archived(folders: list[Path], cutoff: datetime, dry_run: bool, report: Report) -> int:
    """Deletes what was moved into ``folders`` before ``cutoff`` (a move sets an entry's ctime):
    a copy of a payload under the partner's file name, its marker and error report, or a link the
    drop folder refused. A folder that is a link is not followed; one that cannot be read is
    named in the report, and the rest goes on."""
    n, before = 0, cutoff.timestamp()
    for folder in folders:
        try:
            with _archive(folder) as fd:
                for entry in os.scandir(fd) if fd is not None else ():
                    if not entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_ctime < before:
                        if not dry_run:
                            os.unlink(entry.name, dir_fd=fd)
                        n += not entry.name.endswith((".sha256", ".error.txt"))
        except OSError as e:
            report.archives_skipped.append(f"{folder}: {e.strerror}")
    return n


@contextmanager
def _archive(folder: Path):
    """A drop folder's archive opened as a descriptor to read and unlink its entries by: never a
    link followed; None where it does not exist. Raises OSError where it cannot be read."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _apply(conn: Connection, table, where, dry_run: bool, **values) -> int:
    if dry_run:
        return conn.scalar(select(func.count()).select_from(table).where(where))
    return conn.execute(update(table).where(where).values(**values)).rowcount


def _payload_files(conn: Connection, folder: Path, partners: dict, at: datetime, dry_run: bool) -> dict[str, int]:
    """Deletes the kept bytes of every payload that may go (store.kept), counted per partner."""
    settled = or_(*(_settled_payloads(name, r, at) for name, r in partners.items()))
    return kept.forget(conn, folder, settled, list(partners), dry_run)


def _audit_candidates(at: datetime, partners: dict, destinations: dict):
    """Audit rows about events, deliveries, quarantined items and payloads that are purged (or
    about to be), not pseudonymised yet, and chained with digests (rows before migration 0011 are not)."""
    events = select(event.c.id).where(or_(event.c.canonical == EMPTY,
                                          *(_events(n, _cutoff(at, r.events)) for n, r in partners.items())))
    deliveries = select(delivery.c.id).where(or_(delivery.c.document == EMPTY, *(
        _deliveries(n, _cutoff(at, r.deliveries)) for n, r in destinations.items())))
    items = select(quarantine.c.id).where(or_(quarantine.c.reason == PURGED, *(
        _quarantine(n, _cutoff(at, r.quarantine)) for n, r in partners.items())))
    payloads = select(payload.c.id).where(or_(payload.c.name == PURGED, *(
        _settled_payloads(n, r, at) for n, r in partners.items())))
    digests_from = select(audit_head.c.digests_from).where(audit_head.c.id == 1).scalar_subquery()
    return and_(
        audit.c.id >= func.coalesce(digests_from, 1),
        or_(and_(audit.c.bericht_id.is_not(None), audit.c.bericht_digest.is_(None)),
            and_(audit.c.detail.is_not(None), audit.c.detail_digest.is_(None))),
        or_(and_(audit.c.subject == "event", audit.c.subject_id.in_(events)),
            and_(audit.c.subject == "delivery", audit.c.subject_id.in_(deliveries)),
            and_(audit.c.subject == "quarantine", audit.c.subject_id.in_(items)),
            and_(audit.c.subject == "payload", audit.c.subject_id.in_(payloads))))


def _pseudonymise_audit(hub, report: Report, dry_run: bool, at: datetime, partners: dict, destinations: dict):
    where = _audit_candidates(at, partners, destinations)
    if dry_run:
        with hub.engine.connect() as conn:
            report.audit_rows = conn.scalar(select(func.count()).select_from(audit).where(where))
        return
    key = hub.settings.ketenreferentie_key
    if not key:
        report.audit_skipped = (f"no key (Airflow Variable {keys.VARIABLE}) to make pseudonyms with; the rows "
                                "stay as they are until a run with the key")
        return
    try:
        with hub.engine.begin() as conn:
            rows = conn.execute(select(audit.c.id, audit.c.bericht_id, audit.c.detail).where(where)).all()
            if not rows:
                return
            _lift_append_only(conn)
            for row_id, bericht_id, detail in rows:
                values = {}
                if bericht_id is not None:
                    values.update(bericht_id=pseudonym(key, "audit-bericht-id", bericht_id),
                                  bericht_digest=sha256(bericht_id.encode()).digest())
                if detail is not None:  # free text: may quote a peer, a name, a BSN; nothing of it is kept
                    values.update(detail=None, detail_digest=sha256(detail.encode()).digest())
                conn.execute(update(audit).where(audit.c.id == row_id).values(**values))
            _restore_append_only(conn)
            report.audit_rows = len(rows)
    except DBAPIError as e:
        if hub.engine.dialect.name != "postgresql" or getattr(e.orig, "pgcode", None) != "42501":
            raise
        # Only the tables' owner may disable the trigger: the hub's insert-only role may not.
        report.audit_skipped = ("the database role may not change audit rows (only the tables' owner may); "
                                "run retention with the owner's KETENHUB_DATABASE_URL, see "
                                "docs/security-retention.md")
        log.warning("retention: audit rows not pseudonymised: %s", report.audit_skipped)


def _lift_append_only(conn: Connection) -> None:
    """The one place the hub changes audit rows, in the same transaction as the change: on
    PostgreSQL ALTER TABLE also locks the table against every other writer until the commit."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER audit_no_update"))
    else:
        conn.execute(text("ALTER TABLE audit DISABLE TRIGGER audit_append_only"))


def _restore_append_only(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text(_SQLITE_TRIGGER))
    else:
        conn.execute(text("ALTER TABLE audit ENABLE TRIGGER audit_append_only"))


# -- the privacy officer's report -------------------------------------------------------------

@dataclass
class Held:
    kind: str  # event, delivery, quarantine, payload, archive (a file in a drop folder's processed/ or rejected/)
    id: int
    who: str  # partner or destination
    at: datetime | None
    state: str
    note: str = ""


def _contains(conn: Connection, column, needle: bytes):
    if conn.dialect.name == "postgresql":
        return func.position(literal(needle).op("IN")(column)) > 0
    return func.instr(column, literal(needle)) > 0


def _contains_any(conn: Connection, column, needles: list[bytes]):
    return or_(*[_contains(conn, column, needle) for needle in needles])


# A payload the hub refused for its encoding is kept as sent: its digits may be two or four bytes
# each, or EBCDIC's. What the hub writes itself, and what it took in, is UTF-8.
_SENT_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp500")


def _mentions(data, number: bytes, encoding: str = "utf-8") -> bool:
    """Whether ``data`` (bytes, or a mapped file) holds ``number`` (in ``encoding``) with no digit
    either side: as an element's value, an attribute's, a JSON string or number, or within a text.
    Where a character is several bytes, only where one starts: elsewhere the bytes are parts of
    two characters (the digits of another number, in the other byte order, say). In UTF-8 also
    with digits written as XML character references or JSON escapes (``_written``)."""
    digits, width = _DIGITS[encoding], len(_DIGITS[encoding][0])
    at = data.find(number)
    while at >= 0:
        if at % width == 0 and data[at - width:at] not in digits \
                and data[at + len(number):at + len(number) + width] not in digits:
            return True
        at = data.find(number, at + 1)
    return encoding == "utf-8" and any(data.find(mark) >= 0 for mark in _ESCAPES) and _written(data, number)


_DIGITS = {encoding: [str(d).encode(encoding) for d in range(10)] for encoding in _SENT_ENCODINGS}

# A digit as a partner may write it where its parser reads the digit: itself, an XML character
# reference (&#49; &#x31;) or a JSON escape (\u0031).
_ESCAPES = (b"&#", b"\\u003")
_DIGIT = rb"(?:[0-9]|&#0*(?:4[89]|5[0-7]);|&#[xX]0*3[0-9];|\\u003[0-9])"
_DIGIT_AFTER, _DIGIT_BEFORE = re.compile(_DIGIT), re.compile(_DIGIT + rb"\Z")


def _written(data, number: bytes) -> bool:
    """``_mentions`` where some of the number's digits are escaped. A digit before it is looked
    for in the 32 bytes before: a longer reference (leading zeros) counts as none, which
    reports more, never less."""
    forms = re.compile(b"".join(rb"(?:%c|&#0*%d;|&#[xX]0*3%c;|\\u003%c)" % (c, c, c, c) for c in number))
    return any(not _DIGIT_BEFORE.search(data, max(0, m.start() - 32), m.start())
               and not _DIGIT_AFTER.match(data, m.end()) for m in forms.finditer(data))


def _mentions_as_sent(data, bsn: str) -> bool:
    return any(_mentions(data, bsn.encode(encoding), encoding) for encoding in _SENT_ENCODINGS)


def _mentioning(conn: Connection, folder: Path, bsn: str, known: set[int]) -> set[int]:
    """The payloads other than ``known`` whose kept bytes hold this BSN: in the store (those that
    hold its digits at all found by the database), or as files, each file read once."""
    found = set()
    for payload_id, content in conn.execute(select(kept_payload.c.payload_id, kept_payload.c.content).where(
            _contains_any(conn, kept_payload.c.content, [bsn.encode(e) for e in _SENT_ENCODINGS] + [*_ESCAPES]))):
        if payload_id not in known and _mentions_as_sent(bytes(content), bsn):
            found.add(payload_id)
    files: dict[str, list[int]] = {}
    for payload_id, digest in conn.execute(select(payload.c.id, payload.c.sha256).where(
            ~exists().where(kept_payload.c.payload_id == payload.c.id))):
        if payload_id not in known:
            files.setdefault(digest, []).append(payload_id)
    for digest, ids in files.items():
        if _file_mentions(kept.file(folder, digest), bsn):
            found.update(ids)
    return found


def _archived_mentioning(archives: dict[str, list[Path]], bsn: str) -> list[Held]:
    """The files in drop-folder archives (``wiring.archives``) whose name or bytes hold this BSN:
    copies of payloads, and files the drop folder refused for their name, which no payload row
    has. Named by their folder only (a name may be the BSN itself); a link is not followed, a
    folder that cannot be read is said so."""
    held, number = [], bsn.encode()
    for partner, folders in archives.items():
        for folder in folders:
            try:
                with _archive(folder) as fd:
                    for entry in os.scandir(fd) if fd is not None else ():
                        if entry.is_file(follow_symlinks=False) and (
                                _mentions(os.fsencode(entry.name), number) or _file_mentions(entry.name, bsn, fd)):
                            at = datetime.fromtimestamp(entry.stat(follow_symlinks=False).st_mtime)
                            held.append(Held("archive", 0, partner, at, "file", f"a file in {folder}"))
            except OSError as e:
                held.append(Held("archive", 0, partner, None, "unread", f"{folder}: {e.strerror}"))
    return held


def _file_mentions(path: Path | str, bsn: str, dir_fd: int | None = None) -> bool:
    """Whether the file at ``path`` (within ``dir_fd``, if given; a link not followed) holds this
    BSN as sent (``_mentions_as_sent``), read once. A file gone meanwhile holds nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:  # deleted by retention meanwhile
        return False
    try:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
            return _mentions_as_sent(data, bsn)
    except ValueError:  # empty
        return False
    finally:
        os.close(fd)


def privacy_report(hub, bsn: str, actor: str, archives: dict[str, list[Path]] | None = None) \
        -> tuple[str, list[Held]]:
    """Everything the hub holds that mentions this BSN (its digits with no digit either side, see
    ``_mentions``), and an audit row that names who asked and the BSN's pseudonym only. Returns
    the pseudonym and rows. ``archives``: drop-folder archives to search too (``wiring.archives``)."""
    if not (bsn.isascii() and bsn.isdigit() and len(bsn) == 9):
        raise ValueError("--bsn: a BSN has 9 digits")
    key = hub.settings.ketenreferentie_key
    marker = pseudonym(key, "bsn", bsn)  # checks the key first: no report without an audit row
    number = bsn.encode()  # anywhere with no digit either side: a value, or within a text (see _mentions)
    held: list[Held] = []
    with hub.engine.begin() as conn:
        events = [e for e in conn.execute(select(event.c.id, event.c.partner, event.c.received_at, event.c.state,
                                                 event.c.payload_id, event.c.bericht_id, event.c.canonical)
                                          .where(_contains(conn, event.c.canonical, number)).order_by(event.c.id))
                  if _mentions(bytes(e.canonical), number)]
        held += [Held("event", e.id, e.partner, e.received_at, e.state, f"BerichtId {e.bericht_id}") for e in events]
        event_ids = {e.id for e in events}
        found = [d for d in conn.execute(select(delivery.c.id, delivery.c.destination, delivery.c.updated_at,
                                                delivery.c.state, delivery.c.event_id, delivery.c.document)
                                         .where(or_(delivery.c.event_id.in_(event_ids),
                                                    _contains(conn, delivery.c.document, number)))
                                         .order_by(delivery.c.id))
                 if d.event_id in event_ids or _mentions(bytes(d.document), number)]
        held += [Held("delivery", d.id, d.destination, d.updated_at, d.state, f"of event {d.event_id}")
                 for d in found]
        items = [q for q in conn.execute(select(quarantine.c.id, quarantine.c.partner, quarantine.c.created_at,
                                                quarantine.c.state, quarantine.c.payload_id, quarantine.c.bericht_id,
                                                quarantine.c.raw)
                                         .where(_contains_any(conn, quarantine.c.raw, [number, *_ESCAPES]))
                                         .order_by(quarantine.c.id))
                 if _mentions(bytes(q.raw), number)]
        held += [Held("quarantine", q.id, q.partner, q.created_at, q.state,
                      f"BerichtId {q.bericht_id}" if q.bericht_id else "") for q in items]
        payload_ids = {e.payload_id for e in events} | {q.payload_id for q in items}
        # A payload named after the person (a partner's file name), whatever it holds.
        payload_ids |= {i for i, name in conn.execute(select(payload.c.id, payload.c.name)
                                                      .where(payload.c.name.contains(bsn)))
                        if _mentions(name.encode(), number)}
        # What no event or quarantined event holds: a payload refused whole, or what a mapping
        # leaves out (a convict's own data in CJIB's file). Read in the kept bytes themselves.
        payload_ids |= _mentioning(conn, hub.settings.payloads_dir, bsn, payload_ids)
        for p in conn.execute(select(payload.c.id, payload.c.partner, payload.c.received_at, payload.c.state,
                                     payload.c.sha256).where(payload.c.id.in_(payload_ids))
                              .order_by(payload.c.id)).all():
            still = kept.is_kept(kept.find(conn, hub.settings.payloads_dir, p.id, p.sha256))
            held.append(Held("payload", p.id, p.partner, p.received_at, p.state,
                             "bytes kept" if still else "bytes deleted"))
        held += _archived_mentioning(archives or {}, bsn)
        counts = ", ".join(f"{sum(h.kind == k for h in held)} {k}" for k in ("event", "delivery", "quarantine",
                                                                             "payload", "archive"))
        record(conn, [Entry("privacy", 0, "report", detail=f"inzageverzoek for bsn {marker} by {actor}: {counts}")],
               actor=actor)
    return marker, held
