"""Alerts an operator must not have to look for: too many failed or dead deliveries, deliveries
parked further ahead than the adapter allows (a destination's Retry-After far in the future),
and a nightly exchange that did not arrive by its deadline. Each check returns a message when
something is wrong; the DAGs fail with it, so it shows in red in the Airflow UI."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from ketenhub.adapters import Destination, Partner
from ketenhub.clock import as_utc
from ketenhub.hub import Hub
from ketenhub.states import IN_TROUBLE, DeliveryState
from ketenhub.store.tables import delivery, payload


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
                f"{as_utc(latest):%Y-%m-%d %H:%M} UTC): see `ketenhub deliveries list --state pending`")
    return None


def troubles(hub: Hub) -> list[str]:
    """Everything the alerts would report now, for `ketenhub status`."""
    return [p for d in hub.registry.destinations.values() if (p := check_backlog(hub, d))]


def check_arrival(hub: Hub, partner: Partner, deadline: datetime) -> str | None:
    """Something from the partner must have arrived in the 24 hours before ``deadline``."""
    with hub.engine.connect() as conn:
        last = conn.scalar(select(func.max(payload.c.received_at)).where(payload.c.partner == partner.partner))
    if last is None or as_utc(last) < deadline - timedelta(hours=24):
        seen = f"the last one arrived at {as_utc(last):%Y-%m-%d %H:%M} UTC" if last else "nothing ever arrived"
        return f"no payload from {partner.name} arrived by its deadline {deadline:%Y-%m-%d %H:%M %Z}; {seen}"
    return None
