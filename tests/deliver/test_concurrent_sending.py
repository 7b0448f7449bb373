"""A destination's batches sent side by side (deliver.concurrency): each item once, and a
Retry-After makes the hub stop sending to that destination for the rest of the run."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from ketenhub.simulators import cvom
from ketenhub.store.audit_chain import verify
from ketenhub.store.tables import delivery
from ketenhub.wiring import deliver, receive

APPEALS = 40


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
        assert set(conn.scalars(select(delivery.c.batch_id).where(delivery.c.destination == "dlv"))) != {None}
    assert verify(hub.engine).intact


def test_a_batch_taken_over_after_a_crash_is_sent_again_under_the_same_keys(hub, dlv, appeals):
    """A worker died with its batch half sent: the next run sends it all again, and DLV knows
    the keys it had (200), so nothing arrives twice."""
    from ketenhub.deliver.run import _claim
    from ketenhub.deliver.envelopes import envelope
    from tests.conftest import expire_leases
    dest = destination(hub, 8)
    with hub.engine.begin() as conn:
        batch_id = _claim(conn, dest, envelope(dest), datetime.now(timezone.utc), "worker-that-dies", 64)
    with hub.engine.connect() as conn:
        first = conn.execute(select(delivery.c.document, delivery.c.idempotency_key)
                             .where(delivery.c.batch_id == batch_id).order_by(delivery.c.id).limit(5)).all()
    from ketenhub.wiring import transport
    t = transport(hub, dest)
    for document, key in first:  # what it sent before it died
        t.send("half", document, [key])
    expire_leases(hub)
    report = deliver(hub, dest)
    assert report.delivered == appeals and states(hub) == {"delivered": appeals}
    assert len(dlv.accepted) == appeals and dlv.replays == 5


def test_retry_after_stops_sending_to_the_destination(hub, dlv, appeals):
    # Every answer takes a while, so that the hub hears the 429 long before the calls started
    # beside it (the first 8, and those started as the others of them were answered) end.
    dlv.misbehave(fail_next=1, fail_with="429", retry_after=120, delay=0.3)
    before = datetime.now(timezone.utc)
    report = deliver(hub, destination(hub, 8))
    # the calls under way when the 429 came are answered and settled; none is started after it
    assert report.retry == 1 and report.asked_to_wait and len(dlv.accepted) == report.delivered
    assert 7 <= report.delivered <= 7 + 7 and dlv.calls == report.delivered + 1
    with hub.engine.connect() as conn:
        waiting = conn.execute(select(delivery.c.next_attempt_at, delivery.c.attempts, delivery.c.error_summary)
                               .where(delivery.c.destination == "dlv", delivery.c.state == "pending")).all()
    assert len(waiting) == appeals - report.delivered
    # the one answered 429 counts an attempt; those not sent after it do not; all wait as DLV said,
    # and the Deliveries page says why those never tried are pending
    assert sorted((a, why) for _, a, why in waiting) == [(0, "DLV asked to wait")] * (len(waiting) - 1) + [
        (1, "DLV: HTTP 429")]
    for due, *_ in waiting:
        due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
        assert 119 <= (due - before).total_seconds() <= 125
    again = deliver(hub, destination(hub, 8))  # a run right after: DLV is not asked before its time
    assert again.delivered == 0 and len(dlv.accepted) == report.delivered
    assert verify(hub.engine).intact


def test_what_a_slow_destination_leaves_unsent_at_half_the_lease_goes_in_the_next_batch(hub, dlv, appeals,
                                                                                         monkeypatch):
    """No batch is still being sent when its lease runs out (another worker would take it over):
    the items not started by half of it go back, still due, and the run sends them in the next."""
    from ketenhub.deliver import run
    from ketenhub.store.tables import outbound_batch
    monkeypatch.setattr(run, "LEASE", timedelta(seconds=2))
    dlv.misbehave(delay=0.2)  # two at a time: about ten items a second
    report = deliver(hub, destination(hub, 2))
    assert report.delivered == appeals and not report.asked_to_wait
    assert len(dlv.accepted) == appeals and dlv.replays == 0
    with hub.engine.connect() as conn:
        batches = conn.execute(select(outbound_batch.c.created_at, outbound_batch.c.sent_at, outbound_batch.c.item_count)
                               .where(outbound_batch.c.destination == "dlv")).all()
        assert set(conn.scalars(select(delivery.c.attempts).where(delivery.c.destination == "dlv"))) == {1}
    assert len(batches) >= 3 and sum(n for _, _, n in batches) == appeals  # all 40 would fit in one batch of 64
    assert all((sent - created).total_seconds() < 2 for created, sent, _ in batches)
    assert verify(hub.engine).intact


def test_a_destination_of_several_versions_sends_side_by_side_only_if_each_version_can(hub, dlv, tmp_path):
    from ketenhub.deliver.transports import FolderTransport, VersionedTransport
    from ketenhub.wiring import transport
    http = transport(hub, destination(hub, 8))
    assert VersionedTransport({"v1": http, "v2": http}).concurrent
    assert not VersionedTransport({"v1": http, "v2": FolderTransport(tmp_path)}).concurrent  # names files by batch
