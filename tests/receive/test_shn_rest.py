"""SHN's REST feed against the simulator over two-way TLS: OAuth2 tokens reused and renewed,
the opaque cursor stored only after the page is committed, 429/503 waits, alerts on 400, 403
and 410, one bad event quarantined with its path and rule, a body that is not a page."""
import json
import logging

import pytest
from sqlalchemy import func, select

from ketenhub import wiring
from ketenhub.receive import rest
from ketenhub.simulators.shn import ShnSimulator, cursor
from ketenhub.store.cursor import ReceiveCursor
from ketenhub.cli import main
from ketenhub.store.tables import audit, event, payload, quarantine


@pytest.fixture
def shn(connection):
    sim = ShnSimulator().start()
    connection("shn", **sim.connection())
    yield sim
    sim.stop()


@pytest.fixture
def waits(monkeypatch):
    """The waits the hub asks for, in order; really waited, as the feed's pace is real."""
    asked = []

    def wait(seconds):
        asked.append(seconds)
        import time
        time.sleep(seconds)
    monkeypatch.setattr(rest, "_sleep", wait)
    return asked


def receive(hub):
    return wiring.receive(hub, hub.registry.partner("shn"))


def stored(hub):
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(event).where(event.c.partner == "shn"))


def position(hub):
    return ReceiveCursor(hub.engine, "shn").token()


def test_pages_while_more_is_ready_one_token_and_the_cursor_after_each_page(hub, shn, waits):
    shn.add(2300)
    reports = receive(hub)
    assert [r.accepted for r in reports] == [1000, 1000, 300]
    assert stored(hub) == 2300 and position(hub) == cursor(2300)
    state = shn.state()
    assert state["tokens_issued"] == 1  # reused for every page
    assert state["rate_limited"] == 0  # paced at one a second: never refused
    shn.add(5)
    assert [r.accepted for r in receive(hub)] == [5]  # from the cursor on: nothing asked for twice
    assert shn.state()["handed_out"] == 2305


def test_without_events_the_cursor_still_moves_and_nothing_is_stored(hub, shn):
    (report,) = receive(hub)
    assert report.accepted == 0 and position(hub) == cursor(0)


def test_a_token_about_to_expire_is_renewed_before_the_call(hub, connection):
    sim = ShnSimulator(token_lifetime=4).start()  # used for half its life (at most 2 s), then renewed
    try:
        connection("shn", **sim.connection())
        sim.add(2001)
        assert [r.accepted for r in receive(hub)] == [1000, 1000, 1]  # paced: at least 2 s
        assert sim.state()["tokens_issued"] >= 2 and sim.state()["refused_tokens"] == 0  # renewed before a 401
    finally:
        sim.stop()


def test_a_401_gets_a_new_token_and_one_more_try(hub, shn):
    shn.add(3)
    receive(hub)
    shn.add(2)
    shn.shn_misbehave(revoke_tokens=True)  # SHN forgot the token the run gets first
    before = shn.state()["tokens_issued"]
    (report,) = receive(hub)
    assert report.accepted == 2
    assert shn.state()["tokens_issued"] - before == 2 and shn.state()["refused_tokens"] == 1


def test_a_401_with_a_new_token_too_is_an_alert(hub, shn, waits):
    shn.add(3)
    shn.shn_misbehave(reject_tokens=True)
    with pytest.raises(rest.FeedAlert, match="HTTP 401 with a new token too"):
        receive(hub)
    assert shn.state()["tokens_issued"] == 2 and shn.state()["refused_tokens"] == 2  # renewed once, not more
    assert position(hub) is None and stored(hub) == 0


def test_a_wrong_client_secret_is_an_alert(hub, shn, connection):
    connection("shn", **{**shn.connection(), "password": "wrong"})
    with pytest.raises(rest.FeedAlert, match="invalid_client"):
        receive(hub)
    assert shn.state()["pages"] == 0


@pytest.mark.parametrize("status", ["429", "503"])
def test_429_and_503_are_waited_out_as_long_as_retry_after_says(hub, shn, waits, status):
    shn.add(4)
    shn.misbehave(fail_next=1, fail_with=status, retry_after=2)
    (report,) = receive(hub)
    assert report.accepted == 4
    assert 2 in waits  # at least what SHN asked for
    assert shn.state()["pages"] == 1


def test_a_retry_after_beyond_the_adapters_limit_ends_the_run_with_the_cursor_kept(hub, shn, waits):
    shn.add(4)
    receive(hub)
    shn.add(1)
    shn.misbehave(fail_next=1, fail_with="503", retry_after=3600)
    with pytest.raises(rest.FeedUnavailable, match="asked to wait 3600 s"):
        receive(hub)
    assert 3600 not in waits and position(hub) == cursor(4)
    assert [r.accepted for r in receive(hub)] == [1]  # the next run goes on


def test_other_5xx_are_retried_with_backoff(hub, shn, monkeypatch):
    asked = []
    monkeypatch.setattr(rest, "_sleep", asked.append)
    shn = shn
    shn.rate_limit_seconds = 0  # the waits are not really waited here
    shn.add(2)
    shn.misbehave(fail_next=2, fail_with="500")
    (report,) = receive(hub)
    assert report.accepted == 2 and [s for s in asked if s >= 2] == [2.0, 4.0]  # beside the feed's pace


def test_5xx_through_every_try_fails_the_run_and_keeps_the_cursor(hub, shn, monkeypatch):
    monkeypatch.setattr(rest, "_sleep", lambda s: None)
    shn.rate_limit_seconds = 0
    shn.add(2)
    shn.misbehave(fail_next=10, fail_with="500")
    with pytest.raises(rest.FeedUnavailable, match="HTTP 500, 5 times"):
        receive(hub)
    assert position(hub) is None and stored(hub) == 0


@pytest.mark.parametrize("status", ["400", "403"])
def test_400_and_403_are_alerts_and_not_retried(hub, shn, status):
    shn.add(2)
    shn.misbehave(fail_next=5, fail_with=status)
    with pytest.raises(rest.FeedAlert, match=f"HTTP {status}.*configuration error"):
        receive(hub)
    assert shn.misbehaviour.fail_next == 4  # asked once
    assert position(hub) is None and stored(hub) == 0


def test_410_is_raised_to_an_operator_and_the_feed_is_not_restarted(hub, shn, waits):
    shn.add(10)
    receive(hub)
    shn.add(10)
    shn.forget(15)  # the hub's cursor (after event 10) now points before the oldest event held
    with pytest.raises(rest.CursorGone, match="events may have been missed. An operator decides"):
        receive(hub)
    assert position(hub) == cursor(10) and stored(hub) == 10
    assert shn.state()["pages"] == 1  # no page without vanaf was asked for behind the operator's back
    assert main(["cursor", "clear", "--partner", "shn"]) == 2  # not without a reason
    assert main(["cursor", "clear", "--partner", "shn", "--reason", "SHN resent events 11-15 by hand"]) == 0
    assert position(hub) is None
    assert [r.accepted for r in receive(hub)] == [5]  # from the oldest event held
    with hub.engine.connect() as conn:
        assert conn.scalar(select(audit.c.detail).where(audit.c.subject == "cursor")).endswith(
            "SHN resent events 11-15 by hand")


def test_an_invalid_event_is_quarantined_with_its_path_and_rule_and_the_others_are_stored(hub, shn):
    shn.add(2)
    bad = dict(shn.add(1)[0])
    shn.events.pop()
    bad["medewerker"] = "Petra Jansen"
    bad["tijdstip"] = "2027-01-12T10:15:00"
    shn.add_raw(bad)
    shn.add(1)
    (report,) = receive(hub)
    assert (report.accepted, len(report.rejected)) == (3, 1)
    bericht_id, reason = report.rejected[0]
    assert bericht_id == bad["berichtId"]
    assert "$.gebeurtenissen[2]: 1 member not in the contract (no other members" in reason  # its name not shown
    assert "$.gebeurtenissen[2].tijdstip: does not have the form the contract requires" in reason
    assert "Petra" not in reason and "10:15" not in reason  # the rule and where, never the value
    with hub.engine.connect() as conn:
        raw, = conn.execute(select(quarantine.c.raw).where(quarantine.c.partner == "shn")).one()
    assert json.loads(raw) == bad  # kept
    assert position(hub) == cursor(4)  # the page was stored: the cursor moves on


def test_a_berichtid_the_contract_refuses_names_the_event_nowhere(hub, shn, caplog):
    """What the contract refused may be anything, a name or a BSN put in the wrong place: the
    event is rejected without a BerichtId (its reason says where), kept with its bytes as sent."""
    bad = dict(shn.add(1)[0], berichtId="Jansen TESTNAAM 739137001")
    shn.events.pop()
    shn.add_raw(bad)
    (report,) = receive(hub)
    ((bericht_id, reason),) = report.rejected
    assert bericht_id is None and "$.gebeurtenissen[0].berichtId: does not have the form" in reason
    assert "Jansen" not in report.text() and "Jansen" not in caplog.text
    with hub.engine.connect() as conn:
        (named, raw), = conn.execute(select(quarantine.c.bericht_id, quarantine.c.raw)
                                     .where(quarantine.c.partner == "shn")).all()
    assert named is None and json.loads(raw) == bad


def test_a_page_of_only_invalid_events_is_still_stored_and_moves_the_cursor(hub, shn):
    shn.add_raw({"berichtId": "shn-kapot-1", "soort": "HULP_GESTART"})
    (report,) = receive(hub)
    assert len(report.rejected) == 1 and "slachtoffer" in report.rejected[0][1]
    assert position(hub) == cursor(1)
    assert receive(hub)[0].rejected == []  # not handed out again


def test_a_bsn_failing_the_elfproef_is_rejected(hub, shn):
    shn.add(1, slachtoffer={"bsn": "123456789", "naam": "X", "informatiewens": True})
    (report,) = receive(hub)
    assert "$.gebeurtenissen[0].slachtoffer.bsn: the BSN fails the elfproef" in report.rejected[0][1]


@pytest.mark.parametrize("mode,why", [("not_json_next", "the body is not JSON"),
                                      ("no_cursor_next", "the member volgende is required and missing")])
def test_a_body_that_is_not_a_page_is_a_failed_poll_kept_with_its_reason(hub, shn, waits, mode, why):
    shn.add(3)
    shn.shn_misbehave(**{mode: 1})
    with pytest.raises(rest.PageRejected):
        receive(hub)
    assert position(hub) is None and stored(hub) == 0
    with hub.engine.connect() as conn:
        reason = conn.scalar(select(quarantine.c.reason).where(quarantine.c.partner == "shn"))
        assert conn.scalar(select(payload.c.state).where(payload.c.partner == "shn")) == "rejected"
    assert why in reason
    assert [r.accepted for r in receive(hub)] == [3]  # the next poll, from the same cursor


def test_a_crash_between_storing_and_the_cursor_gives_duplicates_not_second_events(hub, shn, waits, monkeypatch):
    shn.add(30)
    real = ReceiveCursor.advance_token

    def crash(self, token):
        raise SystemExit("killed")
    monkeypatch.setattr(ReceiveCursor, "advance_token", crash)
    with pytest.raises(SystemExit):
        receive(hub)
    assert stored(hub) == 30 and position(hub) is None
    monkeypatch.setattr(ReceiveCursor, "advance_token", real)
    shn.add(5)
    (report,) = receive(hub)
    assert (report.accepted, report.duplicates) == (5, 30)  # handed out again, recognised by berichtId
    assert stored(hub) == 35 and position(hub) == cursor(35)


def test_a_page_that_fails_to_store_stops_the_run_so_the_cursor_cannot_pass_it(hub, shn, waits, monkeypatch):
    from ketenhub import pipeline
    shn.add(2300)
    real, calls = pipeline.ingest, []

    def store_fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the store went away")
        return real(*args, **kwargs)
    monkeypatch.setattr(pipeline, "ingest", store_fails_once)
    with pytest.raises(OSError):
        receive(hub)
    assert len(calls) == 1  # no later page read: storing it would move the cursor past the failed one
    assert stored(hub) == 0 and position(hub) is None
    assert sum(r.accepted for r in receive(hub)) == 2300 and position(hub) == cursor(2300)


def test_the_victims_name_and_bsn_stay_out_of_the_log_and_the_canonical_event(hub, shn, caplog):
    caplog.set_level(logging.DEBUG)
    made = shn.add(2)
    bad = dict(made[0], berichtId="shn-slecht-1", medewerker="Petra Jansen")
    shn.add_raw(bad)
    receive(hub)
    text = caplog.text
    for e in made:
        assert e["slachtoffer"]["bsn"] not in text and e["slachtoffer"]["naam"] not in text
    with hub.engine.connect() as conn:
        canonicals = conn.scalars(select(event.c.canonical).where(event.c.partner == "shn")).all()
    assert all(made[0]["slachtoffer"]["naam"].encode() not in c for c in canonicals)


def test_the_command_line_says_an_alert_in_one_line(hub, shn, capsys):
    shn.shn_misbehave(gone=True)
    assert main(["receive", "--partner", "shn"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ketenhub: SHN feed: HTTP 410") and "Traceback" not in err


def test_a_redirect_from_the_token_endpoint_is_not_followed(hub, shn):
    shn.misbehave(redirect_next=1, redirect_to="https://elders.example/oauth2/token")
    with pytest.raises(rest.FeedAlert, match="redirect; the hub follows no redirects"):
        receive(hub)
    assert shn.state()["tokens_issued"] == 0


def test_plain_http_is_refused_unless_the_connection_allows_it(hub, connection):
    sim = ShnSimulator(plain=True).start()
    try:
        c = sim.connection()
        connection("shn", **{**c, "extra": "{}"})
        with pytest.raises(Exception, match="plain HTTP .* refused"):
            receive(hub)
        assert sim.state()["tokens_issued"] == 0
    finally:
        sim.stop()


def test_a_server_certificate_with_another_oin_is_an_alert(hub, connection):
    class Impostor(ShnSimulator):
        oin = "00000099000000010000"  # Politie's certificate on SHN's address

    sim = Impostor().start()
    try:
        connection("shn", **sim.connection())
        with pytest.raises(rest.FeedAlert, match="names OIN 00000099000000010000, not the expected 00000099000000060000"):
            receive(hub)
        assert sim.state()["tokens_issued"] == 0  # the secret was never sent
    finally:
        sim.stop()
