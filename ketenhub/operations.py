"""What operators do with failed deliveries and quarantined events: find them, look at one
(personal data masked unless they may see it), and replay or re-process them, with who, when,
which and why written to the audit trail. Used by the CLI and the Deliveries page in Airflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree
from sqlalchemy import and_, func, select, update

from ketenhub.audit.trail import Entry, now, record, trace
from ketenhub.hub import Hub
from ketenhub.store.tables import delivery, event, quarantine
from ketenhub.validate.parsing import parser

REPLAYABLE = ("failed", "dead")
PERSONAL = {"Bsn", "Voornamen", "Voorvoegsel", "Geslachtsnaam", "Naam", "Geboortedatum", "Straat", "Huisnummer",
            "Postcode", "Woonplaats", "Emailadres", "Skn"}
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

    def where(self):
        conditions = [delivery.c.state.in_(self.states)]
        if self.ids:
            return and_(delivery.c.id.in_(self.ids), *conditions)
        if self.destination:
            conditions.append(delivery.c.destination == self.destination)
        if self.partner:
            conditions.append(event.c.partner == self.partner)
        if self.error:
            conditions.append(delivery.c.last_error.contains(self.error))
        if self.since:
            conditions.append(delivery.c.updated_at >= self.since)
        if self.until:
            conditions.append(delivery.c.updated_at <= self.until)
        return and_(*conditions)


def _joined(*columns):
    return select(*columns).select_from(delivery.join(event, delivery.c.event_id == event.c.id))


def list_deliveries(hub: Hub, f: Filter, limit: int = 500) -> list[dict]:
    with hub.engine.connect() as conn:
        rows = conn.execute(_joined(delivery.c.id, delivery.c.destination, delivery.c.recipient, delivery.c.state,
                                    delivery.c.attempts, delivery.c.last_error, delivery.c.created_at,
                                    delivery.c.updated_at, event.c.partner, event.c.bericht_id)
                            .where(f.where()).order_by(delivery.c.id).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def count_deliveries(hub: Hub, f: Filter) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(_joined(func.count()).where(f.where()))


def mask(document: bytes) -> bytes:
    """The document with every personal value replaced: for eyes that may not see them."""
    root = etree.fromstring(document, parser())
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname in PERSONAL and el.text:
            el.text = MASK
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
    d["trace"] = history
    return d


def replay(hub: Hub, f: Filter, actor: str, reason: str, dry_run: bool = False) -> int:
    """Make failed or dead deliveries pending again (attempts start over). Returns how many."""
    if not reason.strip():
        raise ValueError("a replay needs a reason, for the audit trail")
    with hub.engine.begin() as conn:
        ids = conn.scalars(_joined(delivery.c.id).where(f.where())).all()
        if dry_run or not ids:
            return len(ids)
        at = now()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            conn.execute(update(delivery).where(delivery.c.id.in_(chunk), delivery.c.state.in_(REPLAYABLE)).values(
                state="pending", attempts=0, next_attempt_at=at, batch_id=None, updated_at=at))
        record(conn, [Entry("delivery", i, "replayed", detail=f"by {actor}: {reason}") for i in ids], actor=actor)
    return len(ids)


def destinations_of(hub: Hub, ids: list[int]) -> list[str]:
    with hub.engine.connect() as conn:
        return sorted(set(conn.scalars(select(delivery.c.destination).where(delivery.c.id.in_(ids)))))


def list_quarantine(hub: Hub, partner: str | None = None, state: str = "open", limit: int = 500) -> list[dict]:
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
    from ketenhub.validate.payload import kept_event

    if not reason.strip():
        raise ValueError("re-processing needs a reason, for the audit trail")
    with hub.engine.connect() as conn:
        items = conn.execute(select(quarantine, payload.c.sha256, payload.c.name).join(
            payload, payload.c.id == quarantine.c.payload_id).where(
            quarantine.c.id.in_(ids), quarantine.c.state == "open")).mappings().all()
    outcome = {"accepted": 0, "still_rejected": 0, "selected": len(items)}
    if dry_run:
        return outcome
    for q in items:
        partner = hub.registry.partner(q["partner"])
        if q["raw"] is None:  # the whole payload was refused: read its kept file again
            path = hub.settings.payloads_dir / f"{q['sha256']}.xml"
            report = ingest(hub, partner, Incoming(q["name"], path))
            ok = report.state != "rejected"
        else:
            event = kept_event(q["raw"], hub.settings.payloads_dir / f"{q['sha256']}.xml")
            result = EventProcessor(hub, partner).process(event)
            ok = isinstance(result, AcceptedEvent)
            if ok:
                with hub.engine.begin() as conn:
                    inbound.store_events(conn, partner.partner, q["payload_id"], [result], [])
        outcome["accepted" if ok else "still_rejected"] += 1
        with hub.engine.begin() as conn:
            if ok:
                conn.execute(update(quarantine).where(quarantine.c.id == q["id"]).values(state="reprocessed"))
            record(conn, [Entry("quarantine", q["id"], "reprocessed" if ok else "reprocess-failed", q["bericht_id"],
                                f"by {actor}: {reason}")], actor=actor)
    return outcome


def age(created: datetime) -> timedelta:
    from ketenhub.deliver.run import as_utc
    return now() - as_utc(created)
