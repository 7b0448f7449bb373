"""DLV over HTTP against the simulator: Idempotency-Key, the contract's status codes, Retry-After."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from ketenhub.wiring import deliver
from ketenhub.store.tables import delivery
from tests.conftest import DATA, ingest


@pytest.fixture
def appeals(hub, sample):
    for f in sorted((DATA / "cvom").glob("*.xml")):
        ingest(hub, "cvom", sample(f"cvom/{f.name}"))


def send(hub):
    return deliver(hub, hub.registry.destination("dlv"))


def rows(hub):
    with hub.engine.connect() as conn:
        return {r.idempotency_key: r for r in conn.execute(select(delivery).where(delivery.c.destination == "dlv"))}


def test_each_status_is_posted_once_with_its_idempotency_key(hub, dlv, appeals):
    assert send(hub).delivered == 6
    assert sorted(dlv.accepted) == [f"CVOM-200{i}" for i in range(1, 7)]
    assert (dlv.store / "CVOM-2003.xml").read_bytes().count(b"<TeBetalen>119.50</TeBetalen>") == 1


def test_200_for_a_key_dlv_already_has_counts_as_delivered(hub, dlv, appeals):
    send(hub)
    from ketenhub.deliver import http
    dest = hub.registry.destination("dlv")
    doc = rows(hub)["CVOM-2001"].document
    again = http.HttpDestination(dlv.url, http.HttpRequests(**dest.options), dest.label, dest.namespace,
                                 tls=dlv.client_tls())
    assert again.send("again", doc, ["CVOM-2001"])["CVOM-2001"].outcome == "delivered"
    assert dlv.replays == 1 and len(dlv.accepted) == 6


def test_a_refusal_is_permanent_with_dlvs_reason(hub, dlv, appeals):
    dlv.misbehave(refuse=["CVOM-2002"])
    report = send(hub)
    assert (report.delivered, report.failed) == (5, 1)
    refused = rows(hub)["CVOM-2002"]
    assert refused.state == "failed" and refused.last_error == "DLV: HTTP 422: beroep is closed"


@pytest.mark.parametrize("code", ["429", "503"])
def test_retry_after_is_honoured(hub, dlv, appeals, code):
    dlv.misbehave(fail_next=6, fail_with=code, retry_after=120)
    before = datetime.now(timezone.utc)
    report = send(hub)
    assert report.asked_to_wait and report.delivered == 0 and report.retry >= 1
    told = [r for r in rows(hub).values() if r.last_error == f"DLV: HTTP {code}: busy"]
    assert len(told) == report.retry
    for r in rows(hub).values():
        due = r.next_attempt_at if r.next_attempt_at.tzinfo else r.next_attempt_at.replace(tzinfo=timezone.utc)
        assert 119 <= (due - before).total_seconds() <= 125
        assert r.state == "pending"
        # an item not yet sent when the first answer said wait is held back, no attempt counted, saying why
        assert r in told or (r.attempts == 0 and r.last_error == r.error_summary == "DLV asked to wait")
    assert send(hub).delivered == 0  # not before Retry-After


def test_other_5xx_and_a_dropped_connection_are_retried(hub, dlv, appeals, no_wait):
    dlv.misbehave(fail_next=2, fail_with="500")
    dlv.misbehave(drop_next=1)
    report = send(hub)
    assert report.retry == 3 and report.delivered == 3
    assert send(hub).delivered == 3
    assert len(dlv.accepted) == 6
