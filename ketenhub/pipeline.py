"""The inbound pipeline for one payload: receive → validate → normalise → route → store.

A payload is first scanned whole (see validate.payload), then its events are streamed and
stored in chunks. One bad event is quarantined with its reason and does not stop the others;
a payload that is unusable as a whole is quarantined as one item. Nothing is dropped.

The events of a batch are worked on a region at a time (see validate.payload): one parse,
one run of each mapping and one XPath per rule set for hundreds of events, as per event these
fixed costs were most of the work. An event that fails anything there is done again on its
own, which says why.

A big payload's regions are validated, normalised and routed by worker processes (see
workers), one per core, while this process reads them from the file and stores the results
in file order: that work is where the time goes, and Python does it on one core per process.
"""
from __future__ import annotations

import gc
import io
import logging
import os
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, NamedTuple

from ketenhub.adapters import Partner
from ketenhub.store.audit import Entry, record
from ketenhub.hub import Hub
from ketenhub.processing import EventProcessor, split
from ketenhub.receive.base import Incoming, Source
from ketenhub.settings import Tuning
from ketenhub.states import EVERY_EVENT_REJECTED, NO_BERICHT_ID, PayloadState
from ketenhub.store import cases, inbound, kept as kept_payloads
from ketenhub.validate.payload import Scan, regions, scan
from ketenhub.workers import Workers
from ketenhub.xml import xslt
from ketenhub.xml.problems import Problem, explain

log = logging.getLogger(__name__)


@dataclass
class Report:
    partner: str
    name: str
    state: str  # accepted, rejected, already-received
    sha256: str = ""
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[str | None, str]] = field(default_factory=list)  # (BerichtId, reason)
    problems: list[Problem] = field(default_factory=list)  # about the payload as a whole

    @property
    def refused(self) -> bool:
        """Nothing in it could be used: the partner must hear of it (rejected/ with the reason)."""
        return self.state == PayloadState.REJECTED or (bool(self.rejected) and not self.accepted and not self.duplicates)

    def text(self) -> str:
        """Plain words for the partner and the operator (it may be written to .error.txt)."""
        # Stored, but nothing in it could be used: "accepted" would read as the opposite
        shown = EVERY_EVENT_REJECTED if self.refused and self.state != PayloadState.REJECTED else self.state
        lines = [f"{self.partner} {self.name}: {shown}"]
        if self.problems:
            lines += [f"  {p}" for p in self.problems]
        if self.state != PayloadState.REJECTED:
            lines.append(f"  events: {self.accepted} accepted, {self.duplicates} already received, "
                         f"{len(self.rejected)} rejected")
        for bericht_id, reason in self.rejected:
            lines.append(f"  rejected event {bericht_id or NO_BERICHT_ID}:")
            lines += [f"    {r}" for r in reason.splitlines()]
        return "\n".join(lines)


def _keep(hub: Hub, partner: Partner, item: Incoming, sync: bool = True, tuning: Tuning | None = None):
    """Scan the payload while copying it to payloads/<sha256>.xml: its bytes are never lost.
    ``sync=False``: the caller syncs the copy (``_sync``) before it commits anything about it.
    ``tuning``: the scan's, where not the settings' (a feed's page is cut in smaller regions)."""
    store = hub.settings.payloads_dir
    store.mkdir(parents=True, exist_ok=True)
    # Opened by name, so that the scan can have libxml2 read the copy itself (see scan); not as a
    # NamedTemporaryFile, whose wrapper cost more than the copy of a small file.
    tmp = str(store / f"tmp{uuid.uuid4().hex}.tmp")
    with open(tmp, "x+b", opener=_private) as copy, open(item.path, "rb") as source:
        result = scan(partner, hub.settings.schemas_dir / partner.schema, source, copy, tuning or hub.settings.tuning,
                      item.well_formed)
        copy.flush()
        if sync:
            os.fsync(copy.fileno())
    kept = kept_payloads.file(store, result.sha256)
    os.replace(tmp, kept)
    return result, kept


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _read_small(hub: Hub, partner: Partner, item: Incoming):
    """Read and scan a small payload of a group, to be kept in the store with its row (see
    store.kept): a file created and synced for each cost more than the rest of its work. One
    grown too big meanwhile is kept as a file, as on its own."""
    limit = hub.settings.tuning.group_payload_bytes
    with open(item.path, "rb") as source:
        data = source.read(limit + 1)
    if len(data) > limit:
        return _keep(hub, partner, item, sync=False)
    return scan(partner, hub.settings.schemas_dir / partner.schema, io.BytesIO(data), tuning=hub.settings.tuning), data


def ingest(hub: Hub, partner: Partner, item: Incoming) -> Report:
    # Worker processes take about 0.15 s each to start: for a payload that will likely need
    # them, they start now and get ready while this process reads it the first time.
    likely = hub.settings.workers >= 2 and os.path.getsize(item.path) >= hub.settings.tuning.start_workers_from_bytes
    with Workers(_for_workers(hub), partner.partner, hub.settings.workers) if likely else nullcontext() as pool:
        return _ingest(hub, partner, item, pool)


def _ingest(hub: Hub, partner: Partner, item: Incoming, pool: Workers | None) -> Report:
    begun = _opened(hub, partner, _read(hub, partner, item))
    if begun.payload_id is not None:
        _store(hub, partner, begun, _processed(hub, partner, begun.kept, begun.scanned, pool))
    return begun.report


class _Begun(NamedTuple):
    """A payload kept and scanned, and once ``_opened`` with its row: its events still to be
    processed and stored (``payload_id`` None: nothing to do, as ``report`` says)."""
    item: Incoming
    report: Report
    kept: Path
    scanned: Scan
    payload_id: int | None = None


def _read(hub: Hub, partner: Partner, item: Incoming, tuning: Tuning | None = None) -> _Begun:
    scanned, kept = _keep(hub, partner, item, tuning=tuning)
    return _Begun(item, _report(partner, item, scanned), kept, scanned)


def _opened(hub: Hub, partner: Partner, begun: _Begun) -> _Begun:
    with hub.engine.begin() as conn:
        return begun._replace(payload_id=_open_payload(conn, partner, begun.item, begun.scanned, begun.report))


def _store(hub: Hub, partner: Partner, begun: _Begun, processed: Iterator[tuple[list, list]]) -> None:
    """A begun payload's processed events stored, in transactions of about
    ``transaction_events``, and the payload finished with the last."""
    tuning, report, payload_id = hub.settings.tuning, begun.report, begun.payload_id
    with _heap_frozen(begun.scanned.events > tuning.region_events):
        stored, analyse_at = 0, tuning.analyse_from
        for (accepted, rejected), last in _with_last(_transactions(processed, tuning.transaction_events)):
            with hub.engine.begin() as conn:
                new, dup = inbound.store_events(conn, partner.partner, payload_id, accepted, rejected)
                stored += len(accepted) + len(rejected)
                if stored >= analyse_at:  # whenever the load has doubled
                    inbound.refresh_statistics(conn)
                    analyse_at *= 2
                if last:  # in the same transaction: one commit less a payload (see _with_last)
                    inbound.finish_payload(conn, payload_id, PayloadState.ACCEPTED)
            _stored(report, new, dup, rejected)
        if not stored:  # no events at all
            with hub.engine.begin() as conn:
                inbound.finish_payload(conn, payload_id, PayloadState.ACCEPTED)
    log.info("payload %s of %s: %d events accepted, %d already received, %d rejected", begun.item.name,
             partner.partner, report.accepted, report.duplicates, len(report.rejected))


def _report(partner: Partner, item: Incoming, result: Scan) -> Report:
    report = Report(partner.partner, item.name, PayloadState.ACCEPTED, result.sha256, problems=list(result.problems))
    if item.expected_sha256 and item.expected_sha256 != result.sha256:
        report.problems.append(Problem("marker", f"the .sha256 marker ({item.expected_sha256}) does not match "
                                       f"the file's SHA-256 ({result.sha256}); the file may be incomplete"))
    return report


def _open_payload(conn, partner: Partner, item: Incoming, result: Scan, report: Report) -> int | None:
    """The payload's row, new or left by a run that did not finish; None when there is nothing
    more to do: received before, or refused whole (``report`` says which)."""
    previous = inbound.find_payload(conn, partner.partner, result.sha256)
    if previous is not None and previous.state == PayloadState.ACCEPTED:
        record(conn, [Entry("payload", previous.id, "received-again", detail=item.name)])
        report.state = PayloadState.ALREADY_RECEIVED
        if previous.events_rejected and not previous.events_accepted and not previous.events_duplicate:
            # refused when it was stored (a crash may have kept it from being handed back so): still refused
            report.rejected.append((None, "its events were rejected when it was first received: see the "
                                          "quarantine"))
        return None
    # A payload seen before but not finished (crash, or rejected for its marker) is processed
    # again under its existing row: per-event deduplication makes that safe.
    payload_id = previous.id if previous is not None else inbound.add_payload(
        conn, partner.partner, item.name, result.sha256, result.size)
    if report.problems:
        report.state = PayloadState.REJECTED
        inbound.reject_payload(conn, partner.partner, payload_id, explain(report.problems))
        log.info("payload %s of %s rejected: %s", item.name, partner.partner,
                 ", ".join(p.rule for p in report.problems))
        return None
    return payload_id


def _stored(report: Report, new: int, duplicates: int, rejected: list) -> None:
    report.accepted += new
    report.duplicates += duplicates
    report.rejected += [(r.bericht_id, r.reason) for r in rejected]


_END = object()


def _with_last(items: Iterator) -> Iterator[tuple[object, bool]]:
    """Each item with whether it is the last, known by reading one ahead: a payload is finished
    in its last chunk's transaction, which for a file of one event is one commit in three less
    (on PostgreSQL, each a WAL flush)."""
    items = iter(items)
    current = next(items, _END)
    while current is not _END:
        following = next(items, _END)
        yield current, following is _END
        current = following


@contextmanager
def _heap_frozen(many_chunks: bool):
    """What is alive before the events are stored (in an Airflow task: Airflow, SQLAlchemy and
    all they hold) is left out of garbage collection meanwhile: the collector walked it all
    again and again while chunks passed. Unless
    someone froze the heap already, whose choice is kept.

    Only for a payload of more than one chunk, and with the young generations collected first:
    what was frozen goes back into the oldest generation, where it does not count towards the
    next full collection. Garbage frozen with it waited there: a drop folder of one-event files
    grew by ~40 KB a file."""
    if not many_chunks or gc.get_freeze_count():
        yield
        return
    gc.collect(1)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _transactions(chunks: Iterator[tuple[list, list]], size: int) -> Iterator[tuple[list, list]]:
    """Chunks of (accepted, rejected) events joined into one of about ``size`` events, to be
    stored in one transaction (see ``Tuning.transaction_events``)."""
    accepted, rejected = [], []
    for a, r in chunks:
        accepted += a
        rejected += r
        if len(accepted) + len(rejected) >= size:
            yield accepted, rejected
            accepted, rejected = [], []
    if accepted or rejected:
        yield accepted, rejected


def _processed(hub: Hub, partner: Partner, path: Path, scanned: Scan, pool: Workers | None = None) \
        -> Iterator[tuple[list, list]]:
    """The payload's events processed, in chunks of (accepted, rejected) events, in file order:
    by worker processes for a big batch (``pool``'s, if started already), as that work is where
    the time goes and Python does it on one core."""
    tuning = hub.settings.tuning
    if hub.settings.workers < 2 or scanned.events < tuning.parallel_from:
        processor = EventProcessor(hub, partner)
        with registered(hub):
            yield from (split(processor.process_region(r)) for r in regions(path, scanned, tuning))
        return
    with nullcontext(pool) if pool is not None else Workers(_for_workers(hub), partner.partner,
                                                            hub.settings.workers) as workers:
        yield from workers.map(regions(path, scanned, tuning), tuning.regions_ahead, tuning.results_waiting)


def registered(hub: Hub):
    """While in the block, references made in this process resolve a registratienummer through
    the store's register."""
    return xslt.registered(cases.Register(hub.engine))


def _for_workers(hub: Hub):
    """The settings for worker processes, with the register of cases as it is now: they have no
    database to ask it."""
    with hub.engine.connect() as conn:
        return replace(hub.settings, case_register=cases.snapshot(conn))


def ingest_source(hub: Hub, partner: Partner, source: Source) -> list[Report]:
    """Every ready payload, then a rejected report for everything the source refused to hand on
    (a link, a name that is not plain), so that it counts and shows like any other refused file.
    One payload that fails does not keep the others from being read.

    Where the source allows it (``Source.grouped``), small payloads that are ready together are
    stored a group at a time (``_ingest_group``): a drop folder of thousands of one-event files
    is then a few transactions, not thousands."""
    reports, failures, group, group_bytes = [], [], [], 0
    tuning = hub.settings.tuning

    def one(item: Incoming) -> None:
        try:
            report = ingest(hub, partner, item)
            _hand_back(source, item, report)
            reports.append(report)
        except Exception as e:
            _failed(partner, item.name, e, failures)

    def flush() -> None:
        nonlocal group, group_bytes
        if len(group) == 1:
            one(group[0])
        elif group:
            _ingest_group(hub, partner, source, group, reports, failures, one)
        group, group_bytes = [], 0

    if source.paged and hub.settings.workers >= 2:
        # A feed's pages: workers forked now, before the source starts a thread of its own (see
        # Workers.forked), and kept for the run, as a page is too little work to start them for.
        with Workers.forked(hub, partner.partner, hub.settings.workers) as pool:
            _ingest_pages(hub, partner, source, pool, reports, failures)
    else:
        for item in source.ready():
            size = _size(item) if source.grouped and tuning.group_payloads > 1 else None
            if size is None or size > tuning.group_payload_bytes:
                flush()
                one(item)
                if failures and source.ordered:
                    break
                continue
            group.append(item)
            group_bytes += size
            if len(group) >= tuning.group_payloads or group_bytes >= tuning.group_bytes:
                flush()
        flush()
    reports += [Report(partner.partner, r.name, PayloadState.REJECTED, problems=[Problem(r.rule, r.reason)])
                for r in source.refused]
    if failures:
        raise failures[0]
    return reports


def _ingest_pages(hub: Hub, partner: Partner, source: Source, pool: Workers, reports: list[Report],
                  failures: list[Exception]) -> None:
    """A feed's pages in order, two at a time: the workers map a page while this process
    stores the one before and hands it back to the source, and meanwhile reads and keeps the
    next. The workers take a page once the results of the one before are in, with the links
    between case numbers that its events will make when stored (store.cases.Register.pending):
    each page's events see the links of every page before it, as when taken one by one (but
    for an event found a duplicate only when stored, whose numbers count as a new one's). A
    page's row is opened only once the page before is done: after a page that fails, none is
    stored further (the pages are ``ordered``), and the next, read already, leaves nothing
    behind (``_dropped``) and is read again next run."""
    tuning = hub.settings.tuning
    paging = replace(tuning, region_events=tuning.page_region_events)
    mapped = None  # (the page the workers have, its results as they come)

    def failed(name: str, e: Exception) -> None:
        _failed(partner, name, e, failures)

    def finish(begun: _Begun, processed) -> bool:
        try:
            if begun.payload_id is not None:
                _store(hub, partner, begun, processed)
            _hand_back(source, begun.item, begun.report)
            reports.append(begun.report)
            return True
        except Exception as e:
            failed(begun.item.name, e)
            return False

    pages = iter(source.ready())
    while True:
        try:
            item = next(pages, None)
        except Exception:  # from the source (a page it could not fetch): the page mapped already is stored first
            if mapped:
                finish(*mapped)
            raise
        if item is None:
            break
        before = results = None
        try:
            begun = _read(hub, partner, item, paging)
        except Exception as e:
            if mapped:
                finish(*mapped)
                mapped = None
            failed(item.name, e)
            break
        if mapped:
            before, mapped = mapped, None
            try:
                results = list(before[1])  # the page before, mapped to its end
            except Exception as e:
                _dropped(hub, begun)
                failed(before[0].item.name, e)
                break
        following = None
        if not begun.report.problems and begun.scanned.events > tuning.region_events and not pool.spoiled:
            links = cases.named_links(a[3] for accepted, _ in results for a in accepted) if before else None
            following = pool.map(regions(begun.kept, begun.scanned, paging), tuning.page_regions_ahead,
                                 tuning.results_waiting, links)
        if before and not finish(before[0], iter(results)):
            _dropped(hub, begun, following)
            break
        try:
            begun = _opened(hub, partner, begun)
        except Exception as e:
            _dropped(hub, begun, following)
            failed(item.name, e)
            break
        if following is not None and begun.payload_id is not None:
            mapped = (begun, following)
            continue
        _dropped_map(following)  # received before, or refused whole: nothing to store
        if not finish(begun, _processed(hub, partner, begun.kept, begun.scanned)):
            break
    if mapped:
        finish(*mapped)


def _dropped(hub: Hub, begun: _Begun, mapping: Iterator | None = None) -> None:
    """A page read but not opened, as a page before it failed: its kept copy removed unless a
    row has it (the page is read again next run), and its mapping taken to its end and dropped."""
    _dropped_map(mapping)
    with hub.engine.connect() as conn:
        kept_payloads.discard(conn, hub.settings.payloads_dir, begun.scanned.sha256)


def _dropped_map(mapping: Iterator | None) -> None:
    """A map's results not wanted: taken all the same, so that the workers are free for the next."""
    try:
        for _ in mapping or ():
            pass
    except Exception:  # a worker that failed on them: the next map says so if it matters
        pass


def _hand_back(source: Source, item: Incoming, report: Report) -> None:
    """``source.done``, told whether the payload counts as taken (see ``Source.per_event``)."""
    taken = report.state != PayloadState.REJECTED if source.per_event else not report.refused
    source.done(item, taken, report.text())


def _failed(partner: Partner, name: str, e: Exception, failures: list[Exception]) -> None:
    log.error("payload %s of %s could not be processed: %s", name, partner.partner, type(e).__name__)
    failures.append(e)


def _size(item: Incoming) -> int | None:
    try:
        return os.path.getsize(item.path)
    except OSError:  # gone meanwhile: taken on its own, which says so
        return None


def _ingest_group(hub: Hub, partner: Partner, source: Source, items: list[Incoming], reports: list[Report],
                  failures: list[Exception], one) -> None:
    """Small payloads stored in one transaction, each as ``ingest`` stores it on its own: read,
    checked and processed first (nothing in the store yet), then stored and committed at once
    with their bytes (store.kept), and only then handed back to the source (archived, or moved
    to rejected/ with its own reason). A crash before the commit leaves every one of them
    where it was, to be read again; after it, each is found received. Should the transaction
    fail, each payload is taken again on its own."""
    tuning = hub.settings.tuning
    prepared, cut = [], []
    for item in items:
        try:
            result, kept = _read_small(hub, partner, item)
            report = _report(partner, item, result)
            cut.append([] if report.problems else list(regions(kept, result, tuning)))
            prepared.append([item, result, kept, report, []])
        except Exception as e:
            _failed(partner, item.name, e, failures)
    try:
        with registered(hub):
            processed = iter(EventProcessor(hub, partner).process_documents([r for rs in cut for r in rs]))
    except Exception as e:  # one payload's trouble: each is taken on its own, which finds which
        log.warning("a group of %d payloads of %s could not be processed together (%s): each is taken on its own",
                    len(prepared), partner.partner, type(e).__name__)
        for item, *_ in prepared:
            one(item)
        return
    for p, rs in zip(prepared, cut):
        p[4] = [split(next(processed)) for _ in rs]
    _sync([kept for _, _, kept, _, _ in prepared if isinstance(kept, Path)])
    try:
        with hub.engine.begin() as conn:
            _store_group(conn, partner, prepared)
    except Exception as e:
        log.warning("a group of %d payloads of %s could not be stored (%s): each is taken on its own",
                    len(prepared), partner.partner, type(e).__name__)
        for item, *_ in prepared:
            one(item)
        return
    for item, _, _, report, _ in prepared:
        try:
            source.done(item, not report.refused, report.text())
            reports.append(report)
        except Exception as e:
            log.error("payload %s of %s could not be handed back: %s", item.name, partner.partner, type(e).__name__)
            failures.append(e)
    log.info("%d payloads of %s: %d events accepted, %d already received, %d rejected", len(prepared),
             partner.partner, sum(r.accepted for *_, r, _ in prepared), sum(r.duplicates for *_, r, _ in prepared),
             sum(len(r.rejected) for *_, r, _ in prepared))


def _store_group(conn, partner: Partner, prepared: list[list]) -> None:
    """The group's payloads, (item, scan, kept, report, chunks) each, stored as ``_open_payload``
    and ``store_events`` store them one at a time, with a statement per table for all the new
    ones (most), and their bytes with them (``kept``: the bytes, or a file's path). One seen
    before, sent twice in the group, or refused whole is stored on its own afterwards, so that
    the second of two copies finds the first received."""
    known = inbound.find_payloads(conn, partner.partner, [result.sha256 for _, result, *_ in prepared])
    times = Counter(result.sha256 for _, result, *_ in prepared)
    new, alone = [], []
    for p in prepared:
        (new if not p[3].problems and times[p[1].sha256] == 1 and p[1].sha256 not in known else alone).append(p)
    ids = inbound.add_payloads(conn, partner.partner, [(item.name, result.sha256, result.size)
                                                       for item, result, *_ in new])
    kept_payloads.keep_many(conn, [(payload_id, p[2]) for payload_id, p in zip(ids, new) if isinstance(p[2], bytes)])
    counts = iter(inbound.store_chunks(conn, partner.partner, [(payload_id, accepted, rejected)
                                                               for payload_id, p in zip(ids, new)
                                                               for accepted, rejected in p[4]]))
    for p in new:
        for _, rejected in p[4]:
            _stored(p[3], *next(counts), rejected)
    inbound.finish_payloads(conn, list(ids), PayloadState.ACCEPTED)
    for item, result, data, report, chunks in alone:
        payload_id = _open_payload(conn, partner, item, result, report)
        if isinstance(data, bytes):  # its row is there now, new or not: the bytes go with it
            kept_payloads.keep(conn, inbound.find_payload(conn, partner.partner, result.sha256).id, data)
        if payload_id is None:
            continue
        for accepted, rejected in chunks:
            _stored(report, *inbound.store_events(conn, partner.partner, payload_id, accepted, rejected), rejected)
        inbound.finish_payload(conn, payload_id, PayloadState.ACCEPTED)


_syncing: ThreadPoolExecutor | None = None  # made on first use, kept: making threads cost more than the syncs


def _sync(paths: list[Path]) -> None:
    """The kept copies on disk, and their names in the folder, before anything about them is
    committed. Several at once: the disk then writes them out together."""
    global _syncing
    if not paths:
        return
    if _syncing is None:
        _syncing = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ketenhub-sync")
    list(_syncing.map(_fsync, [*paths, paths[0].parent]))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check(hub: Hub, partner: Partner, path: Path) -> Report:
    """Everything ingest checks, without storing anything (``ketenhub validate``)."""
    with open(path, "rb") as f:
        result = scan(partner, hub.settings.schemas_dir / partner.schema, f, tuning=hub.settings.tuning)
    report = Report(partner.partner, path.name, "valid", result.sha256, problems=list(result.problems))
    if not report.problems:
        for accepted, rejected in _processed(hub, partner, path, result):
            report.accepted += len(accepted)
            report.rejected += [(r.bericht_id, r.reason) for r in rejected]
    if report.problems or report.rejected:
        report.state = "invalid"
    return report
