"""A destination's batches sent side by side (deliver.concurrency): each item once, and a
Retry-After makes the hub stop sending to that destination for the rest of the run."""
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from ketenhub.simulators import cvom
from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.store.audit_chain import verify
from ketenhub.store.tables import delivery
from ketenhub.wiring import deliver, receive

APPEALS = 40


@pytest.fixture
def dlv(connection, tmp_path):
    sim = DlvSimulator(store=tmp_path / "dlv-accepted").start()
    connection("dlv", **sim.connection())
    yield sim
    sim.stop()


@pytest.fixture
def appeals(hub):
    partner = hub.registry.partner("cvom")
    cvom.publish(hub.settings.path(partner.receive.folder), APPEALS)
    receive(hub, partner)
    with hub.engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(delivery).where(delivery.c.destination == "dlv"))
    assert n >= APPEALS  # a status per appeal at least
    return n


def destination(hub, concurrency: int):
    return replace(hub.registry.destination("dlv"), concurrency=concurrency)


def states(hub) -> dict[str, int]:
    with hub.engine.connect() as conn:
        return dict(conn.execute(select(delivery.c.state, func.count()).where(delivery.c.destination == "dlv")
                                 .group_by(delivery.c.state)).all())


def test_sent_side_by_side_each_item_arrives_once(hub, dlv, appeals):
    report = deliver(hub, destination(hub, 8))
    assert report.delivered == appeals and (report.retry, report.failed) == (0, 0)
    assert len(dlv.accepted) == appeals and dlv.replays == 0  # no key twice
    assert states(hub) == {"delivered": appeals}
    with hub.engine.connect() as conn:
        assert set(conn.scalars(select(delivery.c.attempts).where(delivery.c.destination == "dlv"))) == {1}
    assert len(report.batches) == len(set(report.batches)) == appeals  # a name each
    assert verify(hub.engine).intact


def test_retry_after_stops_sending_to_the_destination_for_the_run(hub, dlv, appeals):
    dlv.misbehave(fail_next=1, fail_with="429", retry_after=120)
    before = datetime.now(timezone.utc)
    report = deliver(hub, destination(hub, 8))
    # the round of 8 under way is answered and settled; then no further call this run
    assert (report.delivered, report.retry) == (7, 1) and len(dlv.accepted) == 7
    with hub.engine.connect() as conn:
        waiting = conn.execute(select(delivery.c.next_attempt_at).where(
            delivery.c.destination == "dlv", delivery.c.attempts == 1, delivery.c.state == "pending")).scalars().all()
    (due,) = waiting
    due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
    assert 119 <= (due - before).total_seconds() <= 125
    assert states(hub) == {"delivered": 7, "pending": appeals - 7}
    report = deliver(hub, destination(hub, 8))  # the next run: everything but the one told to wait
    assert report.delivered == appeals - 8 and states(hub) == {"delivered": appeals - 1, "pending": 1}
    assert len(dlv.accepted) == appeals - 1 and dlv.replays == 0
