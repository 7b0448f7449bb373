"""Alerts an operator must not have to look for: too many failed or dead deliveries, deliveries
parked further ahead than the adapter allows (a destination's Retry-After far in the future),
a run that got nothing through, and a nightly exchange that did not arrive by its deadline.
Each check returns a message when something is wrong; the DAGs fail with it, so it shows in red
in the Airflow UI. Times in messages are Amsterdam time, as the schedules are."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from ketenhub.adapters import Destination, Partner
from ketenhub.clock import as_utc, local_time
from ketenhub.hub import Hub
from ketenhub.states import IN_TROUBLE, DeliveryState
from ketenhub.store.tables import audit, delivery, payload

# The SOAP fault codes of the protocol (soap:Server, soap:Client.Auth): the hub's vocabulary, never a
# peer's free text, so a log may show them.
_FAULT = re.compile(r"SoapFault: SOAP Fault ((?:soap|soapenv|SOAP-ENV|env|s|S):(?:Server|Client|VersionMismatch|MustUnderstand)"
                    r"(?:\.[A-Za-z]{1,20}){0,3}): (.*)", re.S)


def amsterdam(at: datetime) -> str:
    return local_time(at)


def check_backlog(hub: Hub, dest: Destination) -> str | None:
    """What is in trouble at this destination, in one message; None when nothing is."""
    problems = [p for p in (check_failed(hub, dest), check_waiting(hub, dest)) if p]
    return "; ".join(problems) or None


def check_failed(hub: Hub, dest: Destination) -> str | None:
    with hub.engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(delivery).where(
            delivery.c.destination == dest.destination, delivery.c.state.in_(IN_TROUBLE)))
    if n > dest.alert_above:
        return (f"{n} deliveries to {dest.name} are failed or dead (alert above {dest.alert_above}): "
                "see Deliveries in the Airflow UI, or `ketenhub deliveries list`")
    return None


def check_waiting(hub: Hub, dest: Destination) -> str | None:
    """Pending deliveries whose next attempt lies further ahead than alert_waiting_above_seconds."""
    limit = datetime.now(timezone.utc) + timedelta(seconds=dest.alert_waiting_above_seconds)
    with hub.engine.connect() as conn:
        n, latest = conn.execute(select(func.count(), func.max(delivery.c.next_attempt_at)).where(
            delivery.c.destination == dest.destination, delivery.c.state == DeliveryState.PENDING,
            delivery.c.next_attempt_at > limit)).one()
    if n:
        return (f"{n} pending deliveries to {dest.name} wait longer than "
                f"{dest.alert_waiting_above_seconds:g} s for their next attempt (the latest until "
                f"{amsterdam(latest)}): see `ketenhub deliveries list --state retrying,pending`")
    return None


def troubles(hub: Hub) -> list[str]:
    """Everything the alerts would report now, for `ketenhub status`."""
    return [p for d in hub.registry.destinations.values() if (p := check_backlog(hub, d))]


def check_arrival(hub: Hub, partner: Partner, deadline: datetime, watching_since: datetime | None = None) \
        -> str | None:
    """Something from the partner must have arrived in the 24 hours before ``deadline``. A
    deadline whose 24 hours began before ``watching_since`` (the hub's first record) is not judged:
    the hub was not there to receive anything."""
    window = deadline - timedelta(hours=24)
    if watching_since is not None and as_utc(watching_since) > window:
        return None
    with hub.engine.connect() as conn:
        last = conn.scalar(select(func.max(payload.c.received_at)).where(payload.c.partner == partner.partner))
    if last is None or as_utc(last) < window:
        seen = f"the last one arrived at {amsterdam(last)}" if last else "nothing ever arrived"
        return f"no payload from {partner.name} arrived by its deadline {amsterdam(deadline)}; {seen}"
    return None


def first_record(hub: Hub) -> datetime | None:
    """When the hub recorded anything first (its audit trail's first row): since when it watches."""
    with hub.engine.connect() as conn:
        first = conn.scalar(select(audit.c.at).order_by(audit.c.id).limit(1))
    return as_utc(first) if first else None


def attempts(n: int) -> str:
    return f"{n} attempt" + ("" if n == 1 else "s")


def check_sent(dest: Destination, delivered: int, retry: int, failed: int, dead: int = 0) -> str | None:
    """A run that sent something and got none of it through: the destination refuses or is down."""
    if (retry or failed or dead) and not delivered:
        return (f"none of the {retry + failed + dead} deliveries this run sent to {dest.name} got through "
                f"({retry} to retry, {failed} failed, {dead} dead"
                + (f", after the {attempts(dest.max_attempts)} allowed" if dead else "") + "): "
                "see the send task's log for why")
    return None


def run_errors(hub: Hub, dest: Destination, since: datetime, limit: int = 5) -> list[str]:
    """Why this run's deliveries did not get through, in the hub's own words: the kinds of error
    with their counts, and a SOAP fault's code. What the destination wrote back is personal data
    (ketenhub.peertext): never in a log, only its length; the Deliveries page shows it to who may see it."""
    with hub.engine.connect() as conn:
        rows = conn.execute(select(delivery.c.error_summary, func.count(), func.min(delivery.c.last_error)).where(
            delivery.c.destination == dest.destination, delivery.c.updated_at >= since,
            delivery.c.state != DeliveryState.DELIVERED, delivery.c.last_error.is_not(None))
            .group_by(delivery.c.error_summary).order_by(func.count().desc()).limit(limit)).all()
    lines = []
    for summary, n, example in rows:
        words = summary or "an error"
        fault = _FAULT.match(example or "")
        if fault:
            words += (f" (fault code {fault.group(1)}; the fault's text, {len(fault.group(2))} characters, is on "
                      "the Deliveries page for who may see personal data)")
        lines.append(f"{n} × {words}")
    return lines
