"""What operators do with failed deliveries and quarantined events: find them, look at one
(personal data masked unless they may see it), and replay or re-process them, with who, when,
which and why written to the audit trail. Used by the CLI and the Deliveries page in Airflow."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from lxml import etree
from sqlalchemy import and_, false, func, or_, select, update

from ketenhub import peertext
from ketenhub.clock import as_utc, now
from ketenhub.hub import Hub
from ketenhub.states import IN_TROUBLE, DeliveryState, PayloadState, QuarantineState
from ketenhub.store.audit import Entry, record, trace
from ketenhub.store.retention import EMPTY as PURGED
from ketenhub.store.tables import delivery, event, quarantine
from ketenhub.xml.parsing import NOT_IN_CONTRACT, parser, shown_name

log = logging.getLogger(__name__)
REPLAYABLE = IN_TROUBLE
# A pending delivery waiting longer than this since it was made is "waiting" (long-waiting).
WAITING = timedelta(hours=1)
# Every delivery an operator should see, in kinds that do not overlap, so their counts add up:
# refused for good, given up, pending after a failed attempt, and pending long without one.
KINDS = ("failed", "dead", "retrying", "waiting")
KIND_WORDS = {"failed": "failed (refused for good)", "dead": "dead (gave up after max attempts)",
              "retrying": "retrying (pending after a failed attempt)",
              "waiting": f"waiting (pending, never tried, older than {WAITING.seconds // 3600} h)",
              "pending": "pending (all)"}
SORTS = {"id": delivery.c.id, "destination": delivery.c.destination, "partner": event.c.partner,
         "event": event.c.bericht_id, "state": delivery.c.state, "attempts": delivery.c.attempts,
         "changed": delivery.c.updated_at, "next": delivery.c.next_attempt_at, "created": delivery.c.created_at}


def kind_condition(kind: str, at: datetime | None = None):
    """The deliveries of one kind (KINDS, or any stored state such as pending)."""
    if kind == "retrying":
        return and_(delivery.c.state == DeliveryState.PENDING, delivery.c.attempts > 0)
    if kind == "waiting":
        return and_(delivery.c.state == DeliveryState.PENDING, delivery.c.attempts == 0,
                    delivery.c.created_at < (at or now()) - WAITING)
    if kind in tuple(DeliveryState):
        return delivery.c.state == kind
    raise ValueError(f"unknown state {kind!r}: use {', '.join(KINDS)} or pending")


def kinds(text: str | None) -> tuple[str, ...]:
    """Comma-separated kinds as typed (CLI, page), checked; nothing: every kind in trouble."""
    chosen = tuple(k.strip() for k in (text or "").split(",") if k.strip()) or KINDS
    for k in chosen:
        kind_condition(k)
    return chosen


# What a masked document still shows: identifiers of the case and the message, codes, dates and
# amounts. Everything else is masked, so a field added to a contract is hidden until it is added
# here. The Ketenreferentie is a keyed hash (see xml.xslt), not reversible without the key.
VISIBLE = {"BerichtId", "Ketenreferentie", "Taal", "Registratienummer", "Parketnummer", "Status", "Tijdstip",
           "Datumtijd", "Instantie", "Uitkomst", "Bedrag", "TeBetalen", "Beslisdatum", "DlvZaaknummer",
           "CjibNummer", "OpdrachtId", "Soort", "Oin", "BatchId", "Aanmaaktijdstip", "AantalOpdrachten",
           "TotaalBedrag", "Afzender", "Code"}
MASK = "•••"


@dataclass(frozen=True)
class Filter:
    """Which deliveries: every field optional; ``ids`` wins over the rest."""
    ids: tuple[int, ...] = ()
    states: tuple[str, ...] = KINDS  # kinds (KINDS) or stored states
    destination: str | None = None
    partner: str | None = None
    error: str | None = None  # part of the last error
    since: datetime | None = None
    until: datetime | None = None
    destinations: tuple[str, ...] | None = None  # only these (the ones a user may replay), also with ids
    # Whether ``error`` may match what a destination wrote back (personal data), or only the hub's
    # own words: else a search would tell a viewer, letter by letter, what a hidden text says.
    personal_data: bool = False

    def where(self, at: datetime | None = None):
        conditions = [or_(*(kind_condition(k, at) for k in self.states)) if self.states else false()]
        if self.destinations is not None:
            conditions.append(delivery.c.destination.in_(self.destinations))
        if self.ids:
            return and_(delivery.c.id.in_(self.ids), *conditions)
        if self.destination:
            conditions.append(delivery.c.destination == self.destination)
        if self.partner:
            conditions.append(event.c.partner == self.partner)
        if self.error:
            column = delivery.c.last_error if self.personal_data else delivery.c.error_summary
            conditions.append(column.contains(self.error, autoescape=True))
        if self.since:
            conditions.append(delivery.c.updated_at >= self.since)
        if self.until:
            conditions.append(delivery.c.updated_at <= self.until)
        return and_(*conditions)


def _joined(*columns):
    return select(*columns).select_from(delivery.join(event, delivery.c.event_id == event.c.id))


def _error(hub: Hub, row, personal_data: bool) -> str:
    if personal_data:
        return row["last_error"] or ""
    return peertext.public(row["error_summary"], row["last_error"], _label(hub, row["destination"]))


def _label(hub: Hub, destination: str) -> str:
    """How the destination's adapter names it in errors; its name, for one no longer configured."""
    known = hub.registry.destinations.get(destination)
    return known.label if known else destination.upper()


def shown_trace(rows: list[dict], personal_data: bool) -> list[dict]:
    """Audit rows with what destinations wrote back hidden, unless the reader may see personal data."""
    show = peertext.full_detail if personal_data else None
    return [dict(r, detail=show(r["detail"]) if show else peertext.public_detail(r["subject"], r["action"], r["detail"]))
            for r in rows]


def list_deliveries(hub: Hub, f: Filter, limit: int = 500, personal_data: bool = False, offset: int = 0,
                    sort: str = "id", descending: bool = False) -> list[dict]:
    """One page of the matching deliveries, sorted (SORTS) server-side, with the kind each is in.
    ``last_error`` as the reader may see it: the hub's own words, and what the destination wrote
    back only for who may see personal data."""
    column = SORTS.get(sort, delivery.c.id)
    order = [column.desc() if descending else column.asc()]
    if column is not delivery.c.id:
        order.append(delivery.c.id.desc() if descending else delivery.c.id.asc())
    at = now()
    with hub.engine.connect() as conn:
        rows = conn.execute(_joined(delivery.c.id, delivery.c.destination, delivery.c.recipient, delivery.c.state,
                                    delivery.c.attempts, delivery.c.last_error, delivery.c.error_summary,
                                    delivery.c.next_attempt_at, delivery.c.created_at, delivery.c.updated_at,
                                    event.c.partner, event.c.bericht_id)
                            .where(f.where(at)).order_by(*order).offset(offset).limit(limit)).mappings().all()
    return [dict(r, last_error=_error(hub, r, personal_data), kind=kind_of(r, at)) for r in rows]


def kind_of(row, at: datetime) -> str:
    if row["state"] == DeliveryState.PENDING:
        if row["attempts"] > 0:
            return "retrying"
        return "waiting" if as_utc(row["created_at"]) < at - WAITING else "pending"
    return row["state"]


def count_deliveries(hub: Hub, f: Filter) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(_joined(func.count()).where(f.where()))


def counts(hub: Hub, f: Filter, kinds_counted: tuple[str, ...] = KINDS) -> dict[str, int]:
    """How many deliveries of each kind match the filter's other conditions, at one moment: the
    numbers beside the state choices, true whatever the page shows."""
    at = now()
    with hub.engine.connect() as conn:
        return {k: conn.scalar(_joined(func.count()).where(replace(f, states=(k,), ids=()).where(at)))
                for k in kinds_counted}


def destinations_matching(hub: Hub, f: Filter) -> list[str]:
    """Every destination the filter's deliveries go to, however many deliveries match: what a
    replay would touch, for the permission check."""
    with hub.engine.connect() as conn:
        return sorted(conn.scalars(_joined(delivery.c.destination).where(f.where()).distinct()))


class Contract(NamedTuple):
    """A partner's schema, event element and declared names: what its bytes must pass to show."""
    schema: etree.XMLSchema
    event: str
    names: frozenset[str]  # xml.schema.declared_names


def mask(document: bytes) -> bytes:
    """One of the hub's own documents (canonical, outbound: made valid) with every value not
    known to be harmless replaced (texts, tails and attributes): for eyes that may not see
    personal data."""
    root = etree.fromstring(document, parser())
    _masked(root, None)
    return etree.tostring(root, encoding="UTF-8")


def mask_sent(root: etree._Element, contract: Contract | None) -> str:
    """A partner's bytes as sent (parsed under their namespaces), masked as ``mask`` masks, but
    the value of a VISIBLE element shows only within a document or event its ``contract``
    accepts, and only in the form of an identifier, a code, a date or an amount; the document is
    written anew in the contract's namespace, with every name it does not declare replaced and
    no prefix or namespace of the partner's: what was sent may hold anything, a name or a BSN
    too. Without a contract, no value shows."""
    def accepted(el: etree._Element) -> bool:
        try:
            return contract.schema.validate(el)
        except etree.Error:  # libxml2 gave up on it (a document with a DTD, say): not accepted
            return False
    shown = set()
    if contract is not None and accepted(root):
        shown = None
    elif contract is not None:
        shown = {e for event in root.iter(contract.event) if accepted(event) for e in event.iter()}
    shown = {el for el in (root.iter() if shown is None else shown)
             if isinstance(el.tag, str) and _PLAIN_VALUE.fullmatch((el.text or "").strip())}
    _masked(root, shown)
    namespace = etree.QName(contract.event).namespace if contract is not None else None
    names = contract.names if contract is not None else frozenset()

    def written(el: etree._Element, parent: etree._Element | None) -> etree._Element:
        q = etree.QName(el)
        ours = q.namespace == namespace and shown_name(q.localname, names) != NOT_IN_CONTRACT
        tag = etree.QName(namespace, q.localname if ours else NOT_DECLARED).text
        new = etree.Element(tag, nsmap={None: namespace} if namespace else None) if parent is None \
            else etree.SubElement(parent, tag)
        for i, (name, value) in enumerate(el.attrib.items()):
            a = etree.QName(name)
            new.set(a.localname if a.namespace is None and a.localname in names else f"{NOT_DECLARED}{i + 1}", value)
        new.text, new.tail = el.text, el.tail
        for child in el:
            if isinstance(child.tag, str):
                written(child, new)
            else:  # a comment or processing instruction, whose target is the partner's text too
                new.append(etree.Comment(MASK))
                new[-1].tail = child.tail
        return new
    return etree.tostring(written(root, None), encoding="unicode", with_tail=False)


NOT_DECLARED = "notInContract"  # a name a masked partner document had that its contract does not declare
# A value a masked partner document may show: an identifier, a code, a date or an amount
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:/+-]{1,64}")


def _masked(root: etree._Element, shown: set | None) -> None:
    """Values replaced in place; ``shown``: the elements whose VISIBLE values may show (None: all)."""
    for el in root.iter():
        if not isinstance(el.tag, str):  # a comment or processing instruction: none is ours
            if el.text:
                el.text = MASK
        elif el.text and el.text.strip() and (etree.QName(el).localname not in VISIBLE
                                              or shown is not None and el not in shown):
            el.text = MASK
        if el.tail and el.tail.strip():
            el.tail = MASK
        for name in list(el.attrib) if isinstance(el.tag, str) else ():
            el.attrib[name] = MASK


def show_delivery(hub: Hub, delivery_id: int, personal_data: bool = False) -> dict | None:
    with hub.engine.connect() as conn:
        row = conn.execute(_joined(delivery, event.c.partner, event.c.bericht_id)
                           .where(delivery.c.id == delivery_id)).mappings().first()
        if row is None:
            return None
        history = trace(conn, row["bericht_id"])
    d = dict(row)
    document = bytes(d["document"])
    # empty: purged by retention
    d["document"] = (document if personal_data or document == PURGED else mask(document)).decode()
    d["last_error"] = _error(hub, row, personal_data)
    d["trace"] = shown_trace(history, personal_data)
    return d


def replay(hub: Hub, f: Filter, actor: str, reason: str, dry_run: bool = False) -> int:
    """Make the matching deliveries pending and due now, attempts starting over: failed and dead
    ones again, retrying and waiting ones at once. Returns how many. One whose document retention
    purged is left (there is nothing left to send), and so is one a worker claimed meanwhile."""
    if not reason.strip():
        raise ValueError("a replay needs a reason, for the audit trail")
    with hub.engine.begin() as conn:
        # What the update below takes: a dry run counts no delivered one a real replay would leave.
        ids = conn.scalars(_joined(delivery.c.id).where(f.where(), delivery.c.document != PURGED,
                                                        delivery.c.state.in_(_REPLAYED_FROM))).all()
        if dry_run or not ids:
            return len(ids)
        at = now()
        done: list[int] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            done += conn.scalars(update(delivery).where(
                delivery.c.id.in_(chunk), delivery.c.state.in_(_REPLAYED_FROM)).values(
                state=DeliveryState.PENDING, attempts=0, next_attempt_at=at, batch_id=None, updated_at=at)
                .returning(delivery.c.id)).all()
        if done:
            record(conn, [Entry("delivery", i, "replayed", detail=f"by {actor}: {reason}") for i in sorted(done)],
                   actor=actor)
    return len(done)


_REPLAYED_FROM = (*REPLAYABLE, DeliveryState.PENDING)


def destinations_of(hub: Hub, ids: list[int]) -> list[str]:
    with hub.engine.connect() as conn:
        return sorted(set(conn.scalars(select(delivery.c.destination).where(delivery.c.id.in_(ids)))))


def quarantine_partners(hub: Hub, ids: list[int]) -> list[str]:
    """The partners of these quarantined items, whatever their number or state: for the
    permission check of a re-process."""
    partners: set[str] = set()
    with hub.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            partners.update(conn.scalars(select(quarantine.c.partner).where(quarantine.c.id.in_(ids[i:i + 500]))
                                         .distinct()))
    return sorted(partners)


@dataclass(frozen=True)
class QuarantineFilter:
    """Which quarantined items: every field optional; ``ids`` wins over the rest."""
    ids: tuple[int, ...] = ()
    partner: str | None = None
    state: str = QuarantineState.OPEN
    reason: str | None = None  # part of the reason (the hub's words: line, element, rule, never a value)
    bericht_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self):
        conditions = [quarantine.c.state == self.state]
        if self.ids:
            return and_(quarantine.c.id.in_(self.ids), *conditions)
        if self.partner:
            conditions.append(quarantine.c.partner == self.partner)
        if self.reason:
            conditions.append(quarantine.c.reason.contains(self.reason, autoescape=True))
        if self.bericht_id:
            conditions.append(quarantine.c.bericht_id == self.bericht_id)
        if self.since:
            conditions.append(quarantine.c.created_at >= self.since)
        if self.until:
            conditions.append(quarantine.c.created_at <= self.until)
        return and_(*conditions)


def list_quarantine(hub: Hub, partner: str | QuarantineFilter | None = None, state: str = QuarantineState.OPEN,
                    limit: int = 500, offset: int = 0, newest_first: bool = False) -> list[dict]:
    f = partner if isinstance(partner, QuarantineFilter) else QuarantineFilter(partner=partner, state=state)
    order = quarantine.c.id.desc() if newest_first else quarantine.c.id
    with hub.engine.connect() as conn:
        q = select(quarantine.c.id, quarantine.c.partner, quarantine.c.bericht_id, quarantine.c.line,
                   quarantine.c.reason, quarantine.c.created_at, quarantine.c.payload_id,
                   quarantine.c.state).where(f.where())
        return [dict(r) for r in conn.execute(q.order_by(order).offset(offset).limit(limit)).mappings()]


def count_quarantine(hub: Hub, f: QuarantineFilter) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(quarantine).where(f.where()))


def quarantine_ids(hub: Hub, f: QuarantineFilter) -> list[int]:
    """Every matching item's id, for an action on all of them."""
    with hub.engine.connect() as conn:
        return list(conn.scalars(select(quarantine.c.id).where(f.where()).order_by(quarantine.c.id)))


@dataclass
class ItemOutcome:
    id: int
    bericht_id: str | None
    accepted: bool
    reason: str = ""  # why it is still rejected: the new reason
    now_item: int | None = None  # a whole payload rejected for another reason is quarantined anew

    def text(self) -> str:
        who = f"item {self.id} ({self.bericht_id or 'whole payload'})"
        if self.accepted:
            return f"{who}: accepted, its event is stored and routed"
        moved = f" (now item {self.now_item})" if self.now_item else ""
        return f"{who}: still rejected{moved}: {self.reason}"


@dataclass
class ReprocessOutcome:
    selected: int
    items: list[ItemOutcome]
    dry_run: bool = False

    @property
    def accepted(self) -> int:
        return sum(i.accepted for i in self.items)

    @property
    def still_rejected(self) -> int:
        return len(self.items) - self.accepted

    def counts(self) -> dict[str, int]:
        return {"accepted": self.accepted, "still_rejected": self.still_rejected, "selected": self.selected}

    def __getitem__(self, key: str) -> int:  # outcome["accepted"]: the counts, as callers read them before
        return self.counts()[key]

    def __eq__(self, other) -> bool:
        return self.counts() == other if isinstance(other, dict) else NotImplemented

    def summary(self) -> str:
        if self.dry_run:
            return f"{self.selected} open items would be re-processed."
        if not self.selected:
            return "Nothing re-processed: none of the items asked is open (any more)."
        return (f"{self.selected} re-processed: {self.accepted} accepted, {self.still_rejected} still rejected"
                + (" (with the reason each now has)." if self.still_rejected else "."))

    def lines(self) -> list[str]:
        return [self.summary(), *(i.text() for i in self.items)]


def reprocess(hub: Hub, ids: list[int], actor: str, reason: str, dry_run: bool = False) -> ReprocessOutcome:
    """Run quarantined items through the pipeline again, after a mapping or schema fix: an
    event from its kept raw bytes (or from its kept payload, where only that has them), a whole
    payload from its kept file. An item still rejected keeps its new reason. Returns what became
    of each, in words."""
    from ketenhub.adapters import AdapterError
    from ketenhub.xml.problems import explain
    from ketenhub.pipeline import ingest, registered
    from ketenhub.processing import AcceptedEvent, EventProcessor
    from ketenhub.receive.base import Incoming
    from ketenhub.store import inbound, kept
    from ketenhub.store.tables import payload
    from ketenhub.validate.payload import event_in_payload

    if not reason.strip():
        raise ValueError("re-processing needs a reason, for the audit trail")
    with hub.engine.connect() as conn:
        items = conn.execute(select(quarantine, payload.c.sha256, payload.c.name).join(
            payload, payload.c.id == quarantine.c.payload_id).where(
            quarantine.c.id.in_(ids), quarantine.c.state == QuarantineState.OPEN)).mappings().all()
    outcome = ReprocessOutcome(len(items), [], dry_run)
    if dry_run:
        return outcome
    for q in items:
        item = ItemOutcome(q["id"], q["bericht_id"], False)
        try:
            partner = hub.registry.partner(q["partner"])
        except AdapterError:  # its adapter was removed or renamed: nothing to check it against
            item.reason = f"partner {q['partner']!r} is not configured (adapters/): nothing to check it against"
            outcome.items.append(item)
            continue
        new_reason, anew = None, False  # anew: refused again and quarantined under a row of its own
        try:
            with hub.engine.connect() as conn:
                found = kept.find(conn, hub.settings.payloads_dir, q["payload_id"], q["sha256"])
            whole = q["raw"] is None and q["line"] is None and q["bericht_id"] is None
            raw = q["raw"] if q["raw"] is not None or whole else event_in_payload(
                partner, hub.settings.schemas_dir / partner.schema, found, q["line"], q["bericht_id"])
            if whole:  # the whole payload was refused: read its kept bytes again
                with kept.as_file(found, hub.settings.payloads_dir) as path:
                    report = ingest(hub, partner, Incoming(q["name"], path))
                item.accepted = report.state != PayloadState.REJECTED
                if not item.accepted:
                    item.reason, anew = explain(report.problems), True
            elif raw is None:
                item.reason = "its event is not in its kept payload (any more): nothing to re-process"
            else:
                with registered(hub):
                    result = EventProcessor(hub, partner).process_kept(raw, found, q["line"])  # XML or JSON
                if isinstance(result, AcceptedEvent):
                    refused = []  # by the store: a delivery key another event has
                    with hub.engine.begin() as conn:
                        inbound.store_events(conn, partner.partner, q["payload_id"], [result], refused)
                    result, anew = (refused[0], True) if refused else (result, False)
                item.accepted = isinstance(result, AcceptedEvent)
                if not item.accepted:
                    item.reason = new_reason = result.reason
        except Exception as e:  # one item's trouble is reported with it; the others go on
            # the type only: an error from mapping a partner's event may quote its values
            log.warning("re-processing quarantine item %s failed: %s", q["id"], type(e).__name__)
            item.accepted, item.reason = False, f"could not be re-processed ({type(e).__name__}); see the log"
            outcome.items.append(item)
            continue
        with hub.engine.begin() as conn:
            if item.accepted:
                conn.execute(update(quarantine).where(quarantine.c.id == q["id"]).values(state=QuarantineState.REPROCESSED))
                if not whole:  # its payload's counts: this event is now one of its accepted, not rejected
                    conn.execute(update(payload).where(payload.c.id == q["payload_id"], payload.c.events_rejected > 0)
                                 .values(events_rejected=payload.c.events_rejected - 1))
            elif anew and (newer := _quarantined_anew(conn, q, item.reason)):
                # Refused for another reason and quarantined anew under it: this item is done.
                item.now_item = newer
                conn.execute(update(quarantine).where(quarantine.c.id == q["id"]).values(
                    state=QuarantineState.REPROCESSED))
            elif new_reason is not None and _unlined(new_reason) == _unlined(q["reason"]):
                item.reason = q["reason"]  # the same problems: keep the lines as counted in the whole file
            elif new_reason is not None:
                conn.execute(update(quarantine).where(quarantine.c.id == q["id"]).values(reason=new_reason))
            record(conn, [Entry("quarantine", q["id"], QuarantineState.REPROCESSED if item.accepted else "reprocess-failed",
                                q["bericht_id"], f"by {actor}: {reason}")], actor=actor)
        outcome.items.append(item)
    return outcome


def _quarantined_anew(conn, q, reason: str) -> int | None:
    """The open item, other than ``q``, that its event (the same BerichtId) or its whole payload
    (none) was just quarantined under with ``reason``; not another event's with the same reason."""
    same = quarantine.c.bericht_id.is_(None) if q["bericht_id"] is None else quarantine.c.bericht_id == q["bericht_id"]
    return conn.scalar(select(func.max(quarantine.c.id)).where(
        quarantine.c.payload_id == q["payload_id"], quarantine.c.id != q["id"], same,
        quarantine.c.state == QuarantineState.OPEN, quarantine.c.reason == reason))


def _unlined(reason: str) -> str:
    """A reason without its line numbers: an event read again alone counts its lines from 1."""
    return re.sub(r"\bline \d+", "line", reason)

