"""The chain's figures per partner and destination, compared with what the store holds; and the
queries behind them read ranges of indexes, so they stay cheap among millions of rows."""
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from ketenhub import health
from ketenhub.clock import now
from ketenhub.store.tables import delivery, event, health_sample
from ketenhub.wiring import deliver
from tests.conftest import all_samples, ingest
from tests.support.factories import Unreachable, om_batch, om_event, write_with_marker


@pytest.fixture
def traffic(hub, tmp_path):
    """Every sample event received; the OM batch with one refused event; KbSP delivered to its
    folder, DLV unreachable (dead after one attempt), CJIB left pending."""
    for partner, paths in all_samples().items():
        ingest(hub, partner, *paths)
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                                        om_batch([om_event(7), om_event(8, bsn="123456789")])))
    deliver(hub, hub.registry.destination("kbsp"))
    deliver(hub, replace(hub.registry.destination("dlv"), max_attempts=1), Unreachable())
    return hub


def count(hub, *where):
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(delivery.join(event)).where(*where))


def test_the_last_hour_is_what_the_store_holds(traffic):
    h = health.last_hour(traffic)
    with traffic.engine.connect() as conn:
        events = dict(conn.execute(select(event.c.partner, func.count()).group_by(event.c.partner)).all())
    assert h["partners"]["om"]["rejected"] == 1
    for p in ("politie", "om", "cvom"):
        assert h["partners"][p]["received"] == events[p] + h["partners"][p]["rejected"]
    kbsp, dlv = h["destinations"]["kbsp"], h["destinations"]["dlv"]
    assert kbsp["delivered"] == count(traffic, delivery.c.destination == "kbsp", delivery.c.state == "delivered") > 0
    assert (kbsp["failed"], kbsp["failure_rate"]) == (0, 0.0) and kbsp["seconds_to_deliver"] >= 0
    assert dlv["failed"] == count(traffic, delivery.c.destination == "dlv", delivery.c.state == "dead") > 0
    assert (dlv["delivered"], dlv["failure_rate"], dlv["seconds_to_deliver"]) == (0, 1.0, None)
    # an hour later, none of it is in the last hour
    later = health.last_hour(traffic, now() + timedelta(hours=2))
    assert later["destinations"]["kbsp"]["delivered"] == 0 and later["partners"]["om"]["received"] == 0


def test_the_backlog_and_its_oldest_age(traffic):
    b = health.backlog(traffic, now() + timedelta(minutes=10))
    assert b["cjib"].pending == count(traffic, delivery.c.destination == "cjib", delivery.c.state == "pending") > 0
    assert b["cjib"].oldest_seconds >= 600 and b["cjib"].waiting == 0
    assert b["dlv"].in_trouble == count(traffic, delivery.c.destination == "dlv") and b["dlv"].pending == 0
    assert b["kbsp"] == health.Backlog("kbsp", 0, 0, 0, None)
    # a delivery waiting for its next attempt after a failed one
    with traffic.engine.begin() as conn:
        conn.execute(update(delivery).where(delivery.c.destination == "cjib")
                     .values(next_attempt_at=now() + timedelta(hours=1), attempts=1))
    assert health.backlog(traffic)["cjib"].waiting == b["cjib"].pending


def test_the_charts_figures_per_hour_and_per_day(traffic):
    health.sample(traffic)
    for span, n in (("day", 24), ("weeks", 28)):
        f = health.figures(traffic, span)
        assert len(f.buckets) == n and f.buckets == sorted(f.buckets)
        assert sum(f.partners["om"]["rejected"]) == 1
        assert f.partners["om"]["received"][-1] == sum(f.partners["om"]["received"])  # all of it just now
        kbsp, dlv = f.destinations["kbsp"], f.destinations["dlv"]
        assert kbsp["delivered"][-1] == count(traffic, delivery.c.destination == "kbsp") and sum(kbsp["failed"]) == 0
        assert dlv["failure_rate"][-1] == 1.0 and dlv["seconds_to_deliver"][-1] is None
        assert f.destinations["cjib"]["backlog"][-1] == count(traffic, delivery.c.destination == "cjib")
        assert f.destinations["cjib"]["backlog"][:-1] == [None] * (n - 1)  # nothing sampled before


def test_samples_are_kept_five_weeks(traffic):
    health.sample(traffic, now() - timedelta(days=40))
    health.sample(traffic)
    with traffic.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(health_sample)) == len(traffic.registry.destinations)


def test_the_queries_read_ranges_of_indexes(traffic):
    """Recorded statements of the figures, each explained: no full read of delivery or payload."""
    statements = []
    engine = traffic.engine
    from sqlalchemy import event as sa_event

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))
    sa_event.listen(engine, "before_cursor_execute", keep)
    try:
        health.figures(traffic, "weeks")
        health.last_hour(traffic)
    finally:
        sa_event.remove(engine, "before_cursor_execute", keep)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection.cursor()
        if conn.dialect.name == "postgresql":
            raw.execute("SET enable_seqscan = off")  # small tables: a full read must still show
        plans = []
        for statement, parameters in statements:
            raw.execute(("EXPLAIN " if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN ") + statement,
                        parameters)
            plans.append("\n".join(str(r[-1] if conn.dialect.name == "sqlite" else r[0]) for r in raw.fetchall()))
    touching = [p for p in plans if "delivery" in p or "payload" in p]
    assert touching
    for plan in touching:
        assert "Seq Scan on delivery" not in plan and "Seq Scan on payload" not in plan, plan
        assert not any(line.strip().startswith(("SCAN delivery", "SCAN payload")) and "INDEX" not in line
                       for line in plan.splitlines()), plan
    assert any("ix_delivery_settled" in p for p in plans) and any("ix_payload_received" in p for p in plans)
    assert any("ix_delivery_due" in p for p in plans)
