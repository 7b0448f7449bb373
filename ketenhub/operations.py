"""What operators do with failed deliveries and quarantined events: find them, look at one
(personal data masked unless they may see it), and replay or re-process them, with who, when,
which and why written to the audit trail. Used by the CLI and the Deliveries page in Airflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree
from sqlalchemy import and_, func, select, update

from ketenhub import peertext
from ketenhub.clock import as_utc, now
from ketenhub.hub import Hub
from ketenhub.states import IN_TROUBLE, DeliveryState, PayloadState, QuarantineState
from ketenhub.store.audit import Entry, record, trace
from ketenhub.store.retention import EMPTY as PURGED
from ketenhub.store.tables import delivery, event, quarantine
from ketenhub.xml.parsing import parser

REPLAYABLE = IN_TROUBLE
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
    states: tuple[str, ...] = REPLAYABLE
    destination: str | None = None
    partner: str | None = None
    error: str | None = None  # part of the last error
    since: datetime | None = None
    until: datetime | None = None
    destinations: tuple[str, ...] | None = None  # only these (the ones a user may replay), also with ids
    # Whether ``error`` may match what a destination wrote back (personal data), or only the hub's
    # own words: else a search would tell a viewer, letter by letter, what a hidden text says.
    personal_data: bool = False

    def where(self):
        conditions = [delivery.c.state.in_(self.states)]
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


def list_deliveries(hub: Hub, f: Filter, limit: int = 500, personal_data: bool = False) -> list[dict]:
    """``last_error`` as the reader may see it: the hub's own words, and what the destination
    wrote back only for who may see personal data."""
    with hub.engine.connect() as conn:
        rows = conn.execute(_joined(delivery.c.id, delivery.c.destination, delivery.c.recipient, delivery.c.state,
                                    delivery.c.attempts, delivery.c.last_error, delivery.c.error_summary,
                                    delivery.c.created_at, delivery.c.updated_at, event.c.partner, event.c.bericht_id)
                            .where(f.where()).order_by(delivery.c.id).limit(limit)).mappings().all()
    return [dict(r, last_error=_error(hub, r, personal_data)) for r in rows]


def count_deliveries(hub: Hub, f: Filter) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(_joined(func.count()).where(f.where()))


def destinations_matching(hub: Hub, f: Filter) -> list[str]:
    """Every destination the filter's deliveries go to, however many deliveries match: what a
    replay would touch, for the permission check."""
    with hub.engine.connect() as conn:
        return sorted(conn.scalars(_joined(delivery.c.destination).where(f.where()).distinct()))


def mask(document: bytes) -> bytes:
    """The document with every value not known to be harmless replaced (texts, tails and
    attributes): for eyes that may not see personal data."""
    root = etree.fromstring(document, parser())
    for el in root.iter():
        if not isinstance(el.tag, str):  # a comment or processing instruction: none is ours
            if el.text:
                el.text = MASK
        elif el.text and el.text.strip() and etree.QName(el).localname not in VISIBLE:
            el.text = MASK
        if el.tail and el.tail.strip():
            el.tail = MASK
        for name in list(el.attrib) if isinstance(el.tag, str) else ():
            el.attrib[name] = MASK
    return etree.tostring(root, encoding="UTF-8")


def show_delivery(hub: Hub, delivery_id: int, personal_data: bool = False) -> dict | None:
    with hub.engine.connect() as conn:
        row = conn.execute(_joined(delivery, event.c.partner, event.c.bericht_id)
                           .where(delivery.c.id == delivery_id)).mappings().first()
        if row is None:
            return None
        history = trace(conn, row["bericht_id"])
    d = dict(row)
    d["document"] = (d["document"] if personal_data else mask(d["document"])).decode()
    d["last_error"] = _error(hub, row, personal_data)
    d["trace"] = shown_trace(history, personal_data)
    return d


def replay(hub: Hub, f: Filter, actor: str, reason: str, dry_run: bool = False) -> int:
    """Make failed or dead deliveries pending again (attempts start over). Returns how many.
    One whose document retention purged is left: there is nothing left to send."""
    if not reason.strip():
        raise ValueError("a replay needs a reason, for the audit trail")
    with hub.engine.begin() as conn:
        ids = conn.scalars(_joined(delivery.c.id).where(f.where(), delivery.c.document != PURGED)).all()
        if dry_run or not ids:
            return len(ids)
        at = now()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            conn.execute(update(delivery).where(delivery.c.id.in_(chunk), delivery.c.state.in_(REPLAYABLE)).values(
                state=DeliveryState.PENDING, attempts=0, next_attempt_at=at, batch_id=None, updated_at=at))
        record(conn, [Entry("delivery", i, "replayed", detail=f"by {actor}: {reason}") for i in ids], actor=actor)
    return len(ids)


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


def list_quarantine(hub: Hub, partner: str | None = None, state: str = QuarantineState.OPEN, limit: int = 500) -> list[dict]:
    with hub.engine.connect() as conn:
        q = select(quarantine.c.id, quarantine.c.partner, quarantine.c.bericht_id, quarantine.c.line,
                   quarantine.c.reason, quarantine.c.created_at, quarantine.c.payload_id).where(quarantine.c.state == state)
        if partner:
            q = q.where(quarantine.c.partner == partner)
        return [dict(r) for r in conn.execute(q.order_by(quarantine.c.id).limit(limit)).mappings()]


def reprocess(hub: Hub, ids: list[int], actor: str, reason: str, dry_run: bool = False) -> dict:
    """Run quarantined items through the pipeline again, after a mapping or schema fix: an
    event from its kept raw bytes, a whole payload from its kept file. Returns counts."""
    from ketenhub.pipeline import ingest
    from ketenhub.processing import AcceptedEvent, EventProcessor
    from ketenhub.receive.base import Incoming
    from ketenhub.store import inbound
    from ketenhub.store.tables import payload

    if not reason.strip():
        raise ValueError("re-processing needs a reason, for the audit trail")
    with hub.engine.connect() as conn:
        items = conn.execute(select(quarantine, payload.c.sha256, payload.c.name).join(
            payload, payload.c.id == quarantine.c.payload_id).where(
            quarantine.c.id.in_(ids), quarantine.c.state == QuarantineState.OPEN)).mappings().all()
    outcome = {"accepted": 0, "still_rejected": 0, "selected": len(items)}
    if dry_run:
        return outcome
    for q in items:
        partner = hub.registry.partner(q["partner"])
        if q["raw"] is None:  # the whole payload was refused: read its kept file again
            path = hub.settings.payloads_dir / f"{q['sha256']}.xml"
            report = ingest(hub, partner, Incoming(q["name"], path))
            ok = report.state != PayloadState.REJECTED
        else:
            kept = hub.settings.payloads_dir / f"{q['sha256']}.xml"
            result = EventProcessor(hub, partner).process_kept(q["raw"], kept)
            ok = isinstance(result, AcceptedEvent)
            if ok:
                with hub.engine.begin() as conn:
                    inbound.store_events(conn, partner.partner, q["payload_id"], [result], [])
        outcome["accepted" if ok else "still_rejected"] += 1
        with hub.engine.begin() as conn:
            if ok:
                conn.execute(update(quarantine).where(quarantine.c.id == q["id"]).values(state=QuarantineState.REPROCESSED))
            record(conn, [Entry("quarantine", q["id"], QuarantineState.REPROCESSED if ok else "reprocess-failed", q["bericht_id"],
                                f"by {actor}: {reason}")], actor=actor)
    return outcome


def age(created: datetime) -> timedelta:
    return now() - as_utc(created)
