"""The chain's health in figures, per partner and destination: events received and rejected,
deliveries delivered and failed, the failure rate, the time from receipt to delivery, and the
backlog with the age of its oldest delivery. The Health page charts them over the last day
(per hour) and the last weeks (per day); the ketenhub_health DAG samples the backlog and
exports the figures through Airflow's metrics (OpenTelemetry).

Every query reads a range of an index (docs/metrics.md): payloads by time of receipt (few rows:
one a file or message, with its counts), settled deliveries through a partial index that pending
ones are not in, the backlog through the index the deliveries are claimed by."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, case, delete, func, insert, select, text

from ketenhub.clock import AMSTERDAM, as_utc, now
from ketenhub.hub import Hub
from ketenhub.states import DeliveryState
from ketenhub.store.tables import delivery, health_sample, payload

UTC = ZoneInfo("UTC")
SPANS = {"day": (timedelta(hours=1), 24), "weeks": (timedelta(days=1), 28)}
# As ix_delivery_settled's predicate on SQLite, literally; PostgreSQL sees it implies its IN list.
_SETTLED = text("(state = 'delivered' OR state = 'failed' OR state = 'dead')")
KEEP_SAMPLES = timedelta(days=35)


@dataclass
class Figures:
    """Series over ``buckets`` (their starts, in the reader's zone), one value per bucket."""
    span: str
    buckets: list[datetime]
    partners: dict[str, dict[str, list]] = field(default_factory=dict)
    destinations: dict[str, dict[str, list]] = field(default_factory=dict)


@dataclass(frozen=True)
class Backlog:
    destination: str
    pending: int  # pending or being sent
    waiting: int  # pending, waiting for the next attempt after a failed one
    in_trouble: int  # failed or dead
    oldest_seconds: float | None  # the oldest pending delivery's age


def _starts(span: str, at: datetime, zone: ZoneInfo) -> list[datetime]:
    """Hours (whole hours of UTC, which are every zone's but a few), or the reader's days."""
    step, n = SPANS[span]
    if span == "day":
        last = at.replace(minute=0, second=0, microsecond=0)
        return [(last - step * i).astimezone(zone) for i in reversed(range(n))]
    today = at.astimezone(zone).date()
    return [datetime.combine(today - timedelta(days=i), datetime.min.time(), zone) for i in reversed(range(n))]


def _bucket(starts: list[datetime], at: datetime) -> int | None:
    """The index of the bucket ``at`` falls in (starts are ascending), None before the first."""
    at = as_utc(at)
    for i in range(len(starts) - 1, -1, -1):
        if at >= starts[i]:
            return i
    return None


def _hour(conn: Connection, column):
    """The hour a timestamp falls in, as the database can group by it cheaply."""
    if conn.dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.substr(column, 1, 13)  # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC


def _hour_start(conn: Connection, v) -> datetime:
    if conn.dialect.name == "postgresql":
        return as_utc(v)
    return datetime.fromisoformat(v + ":00:00").replace(tzinfo=UTC)


def _seconds_between(conn: Connection, later, earlier):
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def figures(hub: Hub, span: str = "day", at: datetime | None = None, zone: ZoneInfo = AMSTERDAM) -> Figures:
    """Buckets in ``zone`` (the reader's): days start at its midnight."""
    at = (at or now()).astimezone(UTC)
    starts = _starts(span, at, zone)
    since = starts[0].astimezone(UTC)  # SQLite keeps a timestamp's UTC wall time, whatever zone it is given in
    n = len(starts)
    f = Figures(span, starts)
    partners = sorted(hub.registry.partners)
    destinations = sorted(hub.registry.destinations)
    for p in partners:
        f.partners[p] = {"received": [0] * n, "rejected": [0] * n}
    for d in destinations:
        f.destinations[d] = {"delivered": [0] * n, "failed": [0] * n, "failure_rate": [None] * n,
                             "seconds_to_deliver": [None] * n, "backlog": [None] * n, "oldest_seconds": [None] * n}
    with hub.engine.connect() as conn:
        for p, received_at, accepted, rejected, duplicate in conn.execute(
                select(payload.c.partner, payload.c.received_at, payload.c.events_accepted, payload.c.events_rejected,
                       payload.c.events_duplicate).where(payload.c.received_at >= since)):
            i = _bucket(starts, received_at)
            series = f.partners.setdefault(p, {"received": [0] * n, "rejected": [0] * n})
            if i is not None:
                series["received"][i] += accepted + rejected + duplicate
                series["rejected"][i] += rejected
        hour = _hour(conn, delivery.c.updated_at).label("hour")
        seconds = _seconds_between(conn, delivery.c.updated_at, delivery.c.created_at)
        totals: dict[tuple[str, int], list] = {}
        for d, state, h, count, took in conn.execute(
                select(delivery.c.destination, delivery.c.state, hour, func.count(), func.sum(seconds))
                .where(_SETTLED, delivery.c.updated_at >= since).group_by(delivery.c.destination,
                                                                              delivery.c.state, hour)):
            i = _bucket(starts, _hour_start(conn, h))
            if i is None or d not in f.destinations:
                continue
            t = totals.setdefault((d, i), [0, 0, 0.0])
            if state == DeliveryState.DELIVERED:
                t[0] += count
                t[2] += float(took or 0)
            else:
                t[1] += count
        for (d, i), (delivered, failed, took) in totals.items():
            s = f.destinations[d]
            s["delivered"][i], s["failed"][i] = delivered, failed
            if delivered + failed:
                s["failure_rate"][i] = failed / (delivered + failed)
            if delivered:
                s["seconds_to_deliver"][i] = took / delivered
        for sample in conn.execute(select(health_sample).where(health_sample.c.at >= since)
                                   .order_by(health_sample.c.at)).mappings():
            i = _bucket(starts, sample["at"])
            s = f.destinations.get(sample["destination"])
            if i is None or s is None:
                continue
            s["backlog"][i] = max(s["backlog"][i] or 0, sample["pending"])
            if sample["oldest_seconds"] is not None:
                s["oldest_seconds"][i] = max(s["oldest_seconds"][i] or 0, sample["oldest_seconds"])
    for d, b in backlog(hub, at).items():  # the current bucket shows now, whether sampled or not
        s = f.destinations[d]
        s["backlog"][-1] = max(s["backlog"][-1] or 0, b.pending)
        if b.oldest_seconds is not None:
            s["oldest_seconds"][-1] = max(s["oldest_seconds"][-1] or 0, b.oldest_seconds)
    return f


def backlog(hub: Hub, at: datetime | None = None) -> dict[str, Backlog]:
    """Each destination's backlog now: ranges of the index deliveries are claimed by
    (destination, state, next attempt, id), so it reads no delivery row but the oldest."""
    at = (at or now()).astimezone(UTC)
    found = {}
    with hub.engine.connect() as conn:
        for d in sorted(hub.registry.destinations):
            counts, oldest_id = {}, None
            for state in (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.FAILED, DeliveryState.DEAD):
                n, first, waiting = conn.execute(
                    select(func.count(), func.min(delivery.c.id),
                           func.sum(case((delivery.c.next_attempt_at > at, 1), else_=0)))
                    .where(delivery.c.destination == d, delivery.c.state == state)).one()
                counts[state] = (n, waiting or 0)
                if state in (DeliveryState.PENDING, DeliveryState.SENDING) and first is not None:
                    oldest_id = first if oldest_id is None else min(oldest_id, first)
            oldest = None
            if oldest_id is not None:
                created = conn.scalar(select(delivery.c.created_at).where(delivery.c.id == oldest_id))
                oldest = max(0.0, (at - as_utc(created)).total_seconds())
            found[d] = Backlog(d, counts[DeliveryState.PENDING][0] + counts[DeliveryState.SENDING][0],
                               counts[DeliveryState.PENDING][1],
                               counts[DeliveryState.FAILED][0] + counts[DeliveryState.DEAD][0], oldest)
    return found


def last_hour(hub: Hub, at: datetime | None = None) -> dict:
    """The figures of the hour before ``at``, per partner and destination: what is exported."""
    at = (at or now()).astimezone(UTC)
    start = at - timedelta(hours=1)
    out = {"partners": {}, "destinations": {}}
    with hub.engine.connect() as conn:
        for p in sorted(hub.registry.partners):
            received, rejected = conn.execute(
                select(func.coalesce(func.sum(payload.c.events_accepted + payload.c.events_rejected
                                              + payload.c.events_duplicate), 0),
                       func.coalesce(func.sum(payload.c.events_rejected), 0))
                .where(payload.c.received_at >= start, payload.c.received_at < at, payload.c.partner == p)).one()
            out["partners"][p] = {"received": int(received), "rejected": int(rejected)}
        seconds = _seconds_between(conn, delivery.c.updated_at, delivery.c.created_at)
        for d in sorted(hub.registry.destinations):
            delivered, failed, took = 0, 0, 0.0
            for state, count, total in conn.execute(
                    select(delivery.c.state, func.count(), func.sum(seconds))
                    .where(_SETTLED, delivery.c.destination == d, delivery.c.updated_at >= start,
                           delivery.c.updated_at < at).group_by(delivery.c.state)):
                if state == DeliveryState.DELIVERED:
                    delivered, took = count, float(total or 0)
                else:
                    failed += count
            out["destinations"][d] = {
                "delivered": delivered, "failed": failed,
                "failure_rate": failed / (delivered + failed) if delivered + failed else 0.0,
                "seconds_to_deliver": took / delivered if delivered else None}
    return out


def sample(hub: Hub, at: datetime | None = None) -> dict[str, Backlog]:
    """Keeps each destination's backlog now, for the backlog over time; drops old samples."""
    at = (at or now()).astimezone(UTC)
    found = backlog(hub, at)
    with hub.engine.begin() as conn:
        conn.execute(delete(health_sample).where(health_sample.c.at < at - KEEP_SAMPLES))
        conn.execute(insert(health_sample), [dict(at=at, destination=b.destination, pending=b.pending,
                                                  retrying=b.waiting, in_trouble=b.in_trouble,
                                                  oldest_seconds=b.oldest_seconds) for b in found.values()])
    return found


def export(hub: Hub, stats, at: datetime | None = None) -> dict:
    """Sets the gauges through ``stats`` (Airflow's Stats: OpenTelemetry when [metrics] otel_on),
    names as in docs/metrics.md. Returns what it set, for the task's log and XCom."""
    at = (at or now()).astimezone(UTC)
    current = sample(hub, at)
    hour = last_hour(hub, at)
    for d, b in current.items():
        tags = {"destination": d}
        stats.gauge("ketenhub.backlog", b.pending, tags=tags)
        stats.gauge("ketenhub.backlog.waiting", b.waiting, tags=tags)
        stats.gauge("ketenhub.backlog.in_trouble", b.in_trouble, tags=tags)
        stats.gauge("ketenhub.backlog.oldest_seconds", b.oldest_seconds or 0.0, tags=tags)
        h = hour["destinations"][d]
        stats.gauge("ketenhub.deliveries.delivered_last_hour", h["delivered"], tags=tags)
        stats.gauge("ketenhub.deliveries.failed_last_hour", h["failed"], tags=tags)
        stats.gauge("ketenhub.deliveries.failure_rate_last_hour", h["failure_rate"], tags=tags)
        if h["seconds_to_deliver"] is not None:
            stats.gauge("ketenhub.deliveries.seconds_to_deliver_last_hour", h["seconds_to_deliver"], tags=tags)
    for p, h in hour["partners"].items():
        tags = {"partner": p}
        stats.gauge("ketenhub.events.received_last_hour", h["received"], tags=tags)
        stats.gauge("ketenhub.events.rejected_last_hour", h["rejected"], tags=tags)
    return {"backlog": {d: b.__dict__ for d, b in current.items()}, **hour}
