"""Delivering one destination's pending deliveries, batch by batch.

Each batch is claimed first (deliveries 'sending', a batch row with its name and a lease for
this worker), then sent, then settled. Claims are serialised per destination (a transaction
lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so two workers never claim the same delivery.
A worker that dies leaves its batch 'sending'; when the lease has run out, the next run takes
it over and sends it again under the same name with the same items, which the destination
treats as the same message (same file name, BerichtId, OpdrachtId): no second effect.

A destination with several contract versions (see adapters.Version) gets each item through the
version it was made for, while that is in use; once it is not, the item is converted to the
next version by the adapter's ``upgrade`` mapping (kept, and audited) and goes through that,
under the same key. A batch may so become one document per version.
"""
from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic
from typing import NamedTuple

from lxml import etree
from sqlalchemy import Connection, case, func, insert, or_, select, text, update

from ketenhub import peertext
from ketenhub.adapters import Destination, Version
from ketenhub.store.audit import Entry, record
from ketenhub.clock import as_utc, now
from ketenhub.deliver.envelopes import Envelope, as_bytes, envelope as envelope_of
from ketenhub.deliver.transports import ItemResult, Transport, VersionedTransport
from ketenhub.hub import Hub
from ketenhub.states import BatchState, DeliveryState, Outcome
from ketenhub.store.tables import delivery, outbound_batch
from ketenhub.xml.parsing import parser
from ketenhub.xml.schema import compile_schema, validate
from ketenhub.xml.xslt import serialised, stylesheet

log = logging.getLogger(__name__)
RETRY_BASE_SECONDS = 30
# Far longer than a send may take (call_deadline_seconds, at most a quarter of it); shorter
# (KETENHUB_LEASE_SECONDS) only for tests that kill a worker and wait for another to take over.
LEASE = timedelta(seconds=int(os.environ.get("KETENHUB_LEASE_SECONDS") or 600))
# One XSD serves every sending thread, and lxml keeps one error log per XSD: a check and the
# reading of its errors are one step, or an invalid document could read another thread's empty log.
_CHECKING = threading.Lock()


@dataclass
class DeliveryReport:
    destination: str
    batches: list[str] = field(default_factory=list)
    delivered: int = 0
    retry: int = 0
    failed: int = 0  # refused for good by the destination, or failed by the hub (an operator replays them)
    dead: int = 0  # retried until the destination's max_attempts
    asked_to_wait: bool = False  # the destination answered with a Retry-After

    def add(self, other: "DeliveryReport") -> None:
        self.batches += other.batches
        self.delivered, self.retry = self.delivered + other.delivered, self.retry + other.retry
        self.failed, self.dead = self.failed + other.failed, self.dead + other.dead
        self.asked_to_wait |= other.asked_to_wait


def backoff(attempts: int) -> timedelta:
    """Exponential, capped at an hour, with jitter so that retries do not arrive in step."""
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** attempts, 3600) * random.uniform(0.8, 1.2))


def retry_wait(retry_after, attempts: int, cap_seconds: float) -> timedelta:
    """How long a delivery waits before its next attempt: what the destination said (Retry-After),
    never more than the adapter's cap, or the backoff when it said nothing usable. Never raises:
    a value that overflowed here once left a whole batch 'sending' for ever."""
    try:  # compared before any conversion: float(10 ** 400) overflows
        seconds = float(min(max(retry_after, 0), cap_seconds))
    except TypeError:
        return backoff(attempts)
    return backoff(attempts) if math.isnan(seconds) else timedelta(seconds=seconds)


def _sequence(conn: Connection, dest: Destination, envelope: Envelope, created: datetime) -> int:
    """One more than the batches made for this destination on the day the name carries. Counted
    by ix_batch_created: by name (LIKE 'prefix%') it read every batch the destination ever had,
    slower every day."""
    start, end = envelope.day(created)
    return 1 + conn.scalar(select(func.count()).select_from(outbound_batch).where(
        outbound_batch.c.destination == dest.destination, outbound_batch.c.created_at >= start,
        outbound_batch.c.created_at < end))


def _lock_destination(conn: Connection, dest: Destination) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(f"ketenhub:{dest.destination}".encode())})


# A batch of items of their own holds this many per connection used: a batch's claim and
# settlement cost about as much for 256 items as for 64, and its last calls leave connections idle.
ITEMS_PER_CONNECTION = 32


def _side_by_side(dest: Destination, envelope: Envelope, transport: Transport) -> bool:
    """Items that are documents of their own (an envelope of one), sent several at once."""
    return envelope.max_items == 1 and dest.concurrency > 1 and transport.concurrent


def _batch_size(dest: Destination, envelope: Envelope, transport: Transport) -> int:
    return dest.concurrency * ITEMS_PER_CONNECTION if _side_by_side(dest, envelope, transport) else envelope.max_items


def _claim(conn: Connection, dest: Destination, envelope: Envelope, due: datetime, worker: str, size: int | None = None):
    """Claim the next batch of due deliveries: (batch id, items claimed), or None if none are due."""
    _lock_destination(conn, dest)
    ids = conn.scalars(
        select(delivery.c.id)
        .where(delivery.c.destination == dest.destination, delivery.c.state == DeliveryState.PENDING,
               delivery.c.next_attempt_at <= due)
        .order_by(delivery.c.next_attempt_at, delivery.c.id).limit(size or envelope.max_items)  # as ix_delivery_due
        .with_for_update(skip_locked=True)).all()
    if not ids:
        return None
    at = now()
    name = envelope.name(at, _sequence(conn, dest, envelope, at))
    batch_id = conn.execute(insert(outbound_batch).values(
        destination=dest.destination, name=name, state=BatchState.SENDING, item_count=len(ids), created_at=at,
        worker=worker, lease_until=at + LEASE)).inserted_primary_key[0]
    conn.execute(update(delivery).where(delivery.c.id.in_(ids), delivery.c.state == DeliveryState.PENDING).values(
        state=DeliveryState.SENDING, batch_id=batch_id, updated_at=at))
    record(conn, [Entry("batch", batch_id, BatchState.SENDING, detail=f"{dest.destination} {name}: {len(ids)} items")]
           + [Entry("delivery", i, DeliveryState.SENDING, detail=name) for i in ids])
    return batch_id


def _take_over(hub: Hub, batch_id: int, worker: str) -> bool:
    """A batch left 'sending' by a worker whose lease ran out becomes ours, if nobody was quicker."""
    at = now()
    with hub.engine.begin() as conn:
        return conn.execute(update(outbound_batch).where(
            outbound_batch.c.id == batch_id, outbound_batch.c.state == BatchState.SENDING,
            or_(outbound_batch.c.lease_until.is_(None), outbound_batch.c.lease_until < at))
            .values(worker=worker, lease_until=at + LEASE)).rowcount == 1


class Item(NamedTuple):
    id: int
    idempotency_key: str
    document: bytes
    attempts: int


def _send(hub: Hub, dest: Destination, envelope: Envelope, transport: Transport, batch_id: int,
          report: DeliveryReport) -> None:
    with hub.engine.connect() as conn:
        batch = conn.execute(select(outbound_batch).where(outbound_batch.c.id == batch_id)).one()
        items = [Item(*i) for i in conn.execute(
            select(delivery.c.id, delivery.c.idempotency_key, delivery.c.document, delivery.c.attempts)
            .where(delivery.c.batch_id == batch_id).order_by(delivery.c.id)).all()]
    if not items:
        with hub.engine.begin() as conn:
            conn.execute(update(outbound_batch).where(outbound_batch.c.id == batch_id).values(state=BatchState.EMPTY))
        return
    side_by_side = _side_by_side(dest, envelope, transport) and len(items) > 1
    if not side_by_side:
        fit = envelope.fit([i.document for i in items])
        if fit < len(items):  # e.g. a CJIB control total that would pass its maximum: the rest waits
            _release(hub, batch_id, [i.id for i in items[fit:]], fit)
            items = items[:fit]
    results: dict[str, ItemResult] = {}
    groups = _by_version(hub, dest, items, results) if dest.versions else [(dest, envelope, items)]
    pace = _Pace()
    for target, target_envelope, group in groups:
        schema = compile_schema(str(hub.settings.schemas_dir / target.schema))
        if side_by_side:
            results.update(_send_each(target, schema, target_envelope, transport, batch, group, pace))
        else:
            results.update(_send_document(target, schema, target_envelope, transport, batch, group))
    if pace.held:
        _hold(hub, dest, batch, len(items), pace, report)
    _settle(hub, dest, batch_id, batch.name, [i for i in items if i.id not in pace.held], results, report)


def _send_document(dest: Destination, schema: etree.XMLSchema, envelope: Envelope, transport: Transport, batch,
                   items: list[Item]) -> dict[str, ItemResult]:
    """One outbound document of ``items``, checked against the destination's XSD (``schema``) and sent."""
    root = envelope.build([i.document for i in items], batch.name, as_utc(batch.created_at))
    document = as_bytes(root)
    keys = [i.idempotency_key for i in items]
    # As sent, parsed from its bytes, unless the tree is that already: a parse an item saved.
    with _CHECKING:
        problems = [] if envelope.same_as_sent and schema.validate(root) else validate(
            schema, etree.fromstring(document, parser()))
    if problems:
        reason = "the outbound document is invalid against the destination's XSD: " + "; ".join(map(str, problems))
        return {k: ItemResult(Outcome.FAILED, reason) for k in keys}
    try:
        via = transport.of(dest.version) if isinstance(transport, VersionedTransport) else transport
        return via.send(batch.name, document, keys)
    except Exception as e:  # the transport could not tell what arrived: all of it is retried
        log.warning("sending %s to %s failed: %s", batch.name, dest.destination, type(e).__name__)
        return {k: ItemResult(Outcome.RETRY, f"{type(e).__name__}: {e}") for k in keys}


def _version_of(dest: Destination, document: bytes) -> Version | None:
    """The version an item was made for, by its element: as serialised by the router its start
    tag says so, else it is parsed."""
    for v in dest.versions:
        ns, local = v.destination.item[1:].split("}")
        if document.startswith(f'<{local} xmlns="{ns}"'.encode()):
            return v
    tag = etree.fromstring(document, parser()).tag
    return next((v for v in dest.versions if v.destination.item == tag), None)


def _by_version(hub: Hub, dest: Destination, items: list[Item], results: dict[str, ItemResult]):
    """The items per version they go through now: (version, its envelope, items). An item whose
    version is no longer in use is converted, step by step, to the first version in use after
    it, and kept so; one that cannot be gets a failed result in ``results``."""
    at = now()
    versions = list(dest.versions)
    groups: dict[str, list[Item]] = {}
    converted = []
    for item in items:
        v, document, why = _version_of(dest, item.document), item.document, None
        if v is None:
            why = f"the item is of no version of {dest.label} the adapter names"
        while why is None and not v.in_use(at):
            following = versions[versions.index(v) + 1:]
            if not following or not v.upgrade:
                why = (f"{dest.label} does not take version {v.version} now, and the adapter names no later "
                       "version with an upgrade to it")
                break
            try:
                document = serialised(stylesheet(str(hub.settings.mappings_dir / v.upgrade))(
                    etree.fromstring(document, parser())).getroot())
            except (etree.XSLTError, etree.XMLSyntaxError, TypeError) as e:  # TypeError: it made no document
                why = f"the upgrade of version {v.version} ({v.upgrade}) failed: {type(e).__name__}"
                break
            converted.append((item.id, v.version, following[0].version, document))
            v = following[0]
        if why:
            results[item.idempotency_key] = ItemResult(Outcome.FAILED, why)
            continue
        groups.setdefault(v.version, []).append(item._replace(document=document))
    if converted:
        with hub.engine.begin() as conn:
            for delivery_id, old, new, document in converted:
                conn.execute(update(delivery).where(delivery.c.id == delivery_id).values(document=document,
                                                                                           updated_at=at))
            record(conn, [Entry("delivery", i, "converted", detail=f"{dest.label} {old} to {new}: {old} is no "
                                "longer in use") for i, old, new, _ in converted])
    return [(d, envelope_of(d), groups[d.version]) for d in dest.each_version() if d.version in groups]


class _Pace:
    """What a batch's items sent side by side share: when to stop starting calls, whether the
    destination asked to wait (its Retry-After seconds), and the items held back for either."""

    def __init__(self):
        self.until = monotonic() + LEASE.total_seconds() / 2
        self.waited: list[float] = []
        self.held: set[int] = set()

    def stopped(self) -> bool:
        return bool(self.waited) or monotonic() > self.until


def _send_each(dest: Destination, schema: etree.XMLSchema, envelope: Envelope, transport: Transport, batch, items,
               pace: _Pace) -> dict[str, ItemResult]:
    """Items that are documents of their own, sent ``dest.concurrency`` at a time over the
    transport's kept-alive connections (it must allow calls from several threads, as the HTTP
    one does). Once the destination answers with a Retry-After, nothing more is sent to it
    after the calls under way: the items not yet sent are held back (``pace.held``), to go back
    to pending due when it said, without an attempt counted. So are those not started within
    half the batch's lease (a slow destination), due at once: the lease then outlasts the calls
    under way (each within call_deadline_seconds, at most a quarter of it), and no other worker
    takes over a batch still being sent."""

    def one(item: Item) -> ItemResult | None:
        if pace.stopped():
            return None
        result = _send_document(dest, schema, envelope, transport, batch, [item]).get(
            item.idempotency_key, ItemResult(Outcome.RETRY, "no result for this item"))
        if result.retry_after is not None:
            pace.waited.append(result.retry_after)
        return result

    # Each thread takes the next item as soon as its call is answered: waiting for a wave's
    # slowest call left the others' connections idle. Threads that take items from one list,
    # not a future per item: the futures' locks and wake-ups cost more than the calls' Python.
    waiting, taking, answers = iter(items), threading.Lock(), {}

    def sender() -> None:
        while True:
            with taking:
                item = next(waiting, None)
            if item is None:
                return
            answers[item.id] = one(item)

    with ThreadPoolExecutor(max_workers=dest.concurrency, thread_name_prefix=f"ketenhub-{dest.destination}") as pool:
        for sending in [pool.submit(sender) for _ in range(min(dest.concurrency, len(items)))]:
            sending.result()  # an error in one is raised, once all have ended
    pace.held.update(item.id for item in items if answers.get(item.id) is None)
    return {item.idempotency_key: answers[item.id] for item in items if answers.get(item.id) is not None}


def _hold(hub: Hub, dest: Destination, batch, claimed: int, pace: _Pace, report: DeliveryReport) -> None:
    """The items held back go back to pending, out of the batch."""
    values = dict(state=DeliveryState.PENDING, batch_id=None, updated_at=now())
    why = f"{dest.label} asked to wait" if pace.waited else "the batch's time was up, in a next batch"
    if pace.waited:
        values["next_attempt_at"] = now() + retry_wait(max(pace.waited), 0, dest.retry_after_max_seconds)
        # Why it is pending, on the Deliveries page, where it was never tried (an error of an
        # earlier attempt stays: that is the one to read)
        values["last_error"] = func.coalesce(delivery.c.last_error, why)
        values["error_summary"] = case((delivery.c.last_error.is_(None), why), else_=delivery.c.error_summary)
    with hub.engine.begin() as conn:
        conn.execute(update(delivery).where(delivery.c.id.in_(pace.held)).values(**values))
        conn.execute(update(outbound_batch).where(outbound_batch.c.id == batch.id).values(
            item_count=claimed - len(pace.held)))
        record(conn, [Entry("delivery", i, DeliveryState.PENDING, detail=f"{batch.name}: not sent, {why}")
                      for i in sorted(pace.held)])
    report.asked_to_wait |= bool(pace.waited)


def _release(hub: Hub, batch_id: int, ids: list[int], keep: int) -> None:
    with hub.engine.begin() as conn:
        conn.execute(update(delivery).where(delivery.c.id.in_(ids)).values(state=DeliveryState.PENDING, batch_id=None,
                                                                           updated_at=now()))
        conn.execute(update(outbound_batch).where(outbound_batch.c.id == batch_id).values(item_count=keep))
        record(conn, [Entry("delivery", i, DeliveryState.PENDING, detail="did not fit in the batch; next batch") for i in ids])


def _settle(hub: Hub, dest: Destination, batch_id: int, name: str, items, results: dict[str, ItemResult],
            report: DeliveryReport) -> None:
    at = now()
    entries, delivered = [], []
    with hub.engine.begin() as conn:
        for item in items:
            result = results.get(item.idempotency_key, ItemResult(Outcome.RETRY, "no result for this item"))
            state = result.outcome
            if state == Outcome.DELIVERED:
                delivered.append(item.id)  # the common case: settled together below
                report.delivered += 1
                entries.append(Entry("delivery", item.id, DeliveryState.DELIVERED, detail=name))
                continue
            # The destination's text (personal data) apart from the hub's own words: see peertext.
            reason = peertext.clean(result.reason or "")
            summary, rest = peertext.split(reason, dest.label, dest.options.get("outcomes", ()))
            values = dict(updated_at=at, attempts=item.attempts + 1, last_error=reason, error_summary=summary,
                          batch_id=None)
            if state == Outcome.RETRY:
                if item.attempts + 1 >= dest.max_attempts:
                    state = DeliveryState.DEAD
                else:
                    wait = retry_wait(result.retry_after, item.attempts + 1, dest.retry_after_max_seconds)
                    report.asked_to_wait |= result.retry_after is not None
                    state, values["next_attempt_at"] = DeliveryState.PENDING, at + wait
            conn.execute(update(delivery).where(delivery.c.id == item.id).values(state=state, **values))
            entries.append(Entry("delivery", item.id, state,
                                 detail=peertext.detail(f"{name}: {summary}", dest.label, rest)))
            if state == DeliveryState.PENDING:
                report.retry += 1
            elif state == DeliveryState.DEAD:
                report.dead += 1
            else:
                report.failed += 1
        for i in range(0, len(delivered), 500):
            conn.execute(update(delivery).where(delivery.c.id.in_(delivered[i:i + 500])).values(
                state=DeliveryState.DELIVERED, attempts=delivery.c.attempts + 1, last_error=None, error_summary=None,
                updated_at=at))
        batch_state = BatchState.SENT if delivered else BatchState.FAILED
        conn.execute(update(outbound_batch).where(outbound_batch.c.id == batch_id).values(state=batch_state, sent_at=at))
        entries.append(Entry("batch", batch_id, batch_state, detail=name))
        record(conn, entries)
    report.batches.append(name)


def _reopen_refused(hub: Hub, dest: Destination, refused: dict[str, str], report: DeliveryReport) -> None:
    """Deliveries in a document the destination refused afterwards are not delivered: they
    become failed, with the destination's reason, for an operator to replay."""
    with hub.engine.begin() as conn:
        batches = conn.execute(select(outbound_batch.c.id, outbound_batch.c.name).where(
            outbound_batch.c.destination == dest.destination, outbound_batch.c.state == BatchState.SENT,
            outbound_batch.c.name.in_(list(refused)))).all()
        for batch_id, name in batches:
            ids = conn.scalars(select(delivery.c.id).where(delivery.c.batch_id == batch_id,
                                                           delivery.c.state == DeliveryState.DELIVERED)).all()
            summary = f"{dest.label}: refused after delivery"  # the reason is the destination's text
            detail = peertext.detail(f"{name}: {summary}", dest.label, f": {refused[name]}")
            conn.execute(update(delivery).where(delivery.c.id.in_(ids)).values(
                state=DeliveryState.FAILED, last_error=peertext.clean(refused[name]), error_summary=summary, updated_at=now()))
            conn.execute(update(outbound_batch).where(outbound_batch.c.id == batch_id).values(state=BatchState.REFUSED))
            record(conn, [Entry("batch", batch_id, BatchState.REFUSED, detail=detail)]
                   + [Entry("delivery", i, DeliveryState.FAILED, detail=detail) for i in ids])
            report.failed += len(ids)


def deliver(hub: Hub, dest: Destination, transport: Transport) -> DeliveryReport:
    """Every due delivery to ``dest`` over ``transport`` (see wiring.deliver for the configured one)."""
    envelope = envelope_of(dest)
    report = DeliveryReport(dest.destination)
    try:
        refused = transport.refused()
    except Exception as e:  # unreachable now: read next run; sending below counts the attempt
        log.warning("reading refused documents from %s failed: %s", dest.destination, type(e).__name__)
        refused = {}
    if refused:
        _reopen_refused(hub, dest, refused, report)
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with hub.engine.connect() as conn:
        abandoned = conn.scalars(select(outbound_batch.c.id).where(
            outbound_batch.c.destination == dest.destination, outbound_batch.c.state == BatchState.SENDING,
            or_(outbound_batch.c.lease_until.is_(None), outbound_batch.c.lease_until < now()))
            .order_by(outbound_batch.c.id)).all()
    for batch_id in abandoned:
        if _take_over(hub, batch_id, worker):
            _send(hub, dest, envelope, transport, batch_id, report)
    started = now()  # what was retried during this run waits for the next one
    while True:
        with hub.engine.begin() as conn:
            batch_id = _claim(conn, dest, envelope, started, worker, _batch_size(dest, envelope, transport))
        if batch_id is None:
            break
        _send(hub, dest, envelope, transport, batch_id, report)
        if report.asked_to_wait and _side_by_side(dest, envelope, transport):  # the rest waits for the next run
            break
    log.info("%s: %d delivered, %d to retry, %d failed, %d dead, in %d documents", dest.destination,
             report.delivered, report.retry, report.failed, report.dead, len(report.batches))
    return report
