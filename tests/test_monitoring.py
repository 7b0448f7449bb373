"""Alerts: a delivery backlog above the threshold, and a nightly exchange that did not arrive."""
import dataclasses
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from ketenhub.wiring import deliver
from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.monitoring import check_arrival, check_backlog, check_sent
from ketenhub.store.tables import delivery
from tests.conftest import ingest
from tests.support.factories import Unreachable


def test_backlog_above_the_threshold_is_an_alert(hub, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    cjib = dataclasses.replace(hub.registry.destination("cjib"), max_attempts=1, alert_above=4)
    assert check_backlog(hub, cjib) is None
    report = deliver(hub, cjib, Unreachable())  # five opdrachten, dead at once
    assert (report.dead, report.failed, report.retry) == (5, 0, 0)
    assert check_sent(cjib, report.delivered, report.retry, report.failed, report.dead).startswith(
        "none of the 5 deliveries this run sent to Centraal Justitieel Incassobureau got through (0 to retry, "
        "0 failed, 5 dead, after the 1 attempt allowed)")
    message = check_backlog(hub, cjib)
    assert message.startswith("5 deliveries to Centraal Justitieel Incassobureau are failed or dead (alert above 4)")
    assert check_backlog(hub, dataclasses.replace(cjib, alert_above=5)) is None


def test_a_nightly_exchange_missing_at_its_deadline_is_an_alert(hub, sample):
    om = hub.registry.partner("om")
    deadline = datetime.now(timezone.utc)
    assert "nothing ever arrived" in check_arrival(hub, om, deadline)
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    assert check_arrival(hub, om, deadline + timedelta(minutes=1)) is None
    late = check_arrival(hub, om, deadline + timedelta(days=2))
    assert "no payload from Openbaar Ministerie arrived by its deadline" in late and "last one arrived" in late


class ComeBackLater(Transport):
    """A destination saying when to come back, as DLV's Retry-After does."""

    def __init__(self, seconds):
        self.seconds = seconds

    def send(self, name, document, keys):
        return {k: ItemResult("retry", "busy", self.seconds) for k in keys}


def test_deliveries_parked_beyond_the_threshold_are_an_alert_and_in_the_status(hub, sample, capsys):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    cjib = hub.registry.destination("cjib")
    deliver(hub, cjib, ComeBackLater(999999999))  # capped at the adapter's default hour: no alert
    assert check_backlog(hub, cjib) is None
    assert "in trouble" not in status(capsys)
    with hub.engine.begin() as conn:  # parked as the old code did, or with a cap set far too high
        conn.execute(update(delivery).where(delivery.c.destination == "cjib").values(
            next_attempt_at=datetime(2058, 1, 1, tzinfo=timezone.utc)))
    message = check_backlog(hub, cjib)
    assert message.startswith("5 pending deliveries to Centraal Justitieel Incassobureau wait longer than "
                              "7200 s for their next attempt (the latest until 2058-01-01 01:00 CET)")
    assert f"in trouble: {message}" in status(capsys)
    assert check_backlog(hub, dataclasses.replace(cjib, alert_waiting_above_seconds=10 ** 10)) is None


def test_a_cap_above_the_threshold_makes_every_long_wait_visible(hub, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    cjib = dataclasses.replace(hub.registry.destination("cjib"), retry_after_max_seconds=86400 * 30)
    deliver(hub, cjib, ComeBackLater(86400 * 10))
    assert "5 pending deliveries to Centraal Justitieel Incassobureau wait longer than 7200 s" in check_backlog(hub, cjib)


def status(capsys) -> str:
    from ketenhub.cli import main
    capsys.readouterr()
    assert main(["status"]) == 0
    return capsys.readouterr().out


def test_a_deadline_before_the_hub_was_running_is_not_judged(hub, sample):
    from ketenhub.monitoring import first_record
    om = hub.registry.partner("om")
    assert first_record(hub) is None
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))  # the hub's first record: now
    started = first_record(hub)
    assert started is not None
    # A deadline whose day began before the hub started: not judged; one a day later: judged, in Amsterdam time.
    assert check_arrival(hub, om, started + timedelta(hours=1), started) is None
    late = check_arrival(hub, om, started + timedelta(days=1, minutes=1), started)
    assert "nothing ever arrived" in late and ("CET" in late or "CEST" in late) and "UTC" not in late


def test_a_run_that_got_nothing_through_is_an_alert_and_its_log_names_the_error_without_the_peers_text(hub, sample):
    from ketenhub.clock import now
    from ketenhub.monitoring import check_sent, run_errors
    from ketenhub.protocols.soap import SoapFault

    class Busy(Transport):
        def send(self, name, document, keys):
            raise SoapFault("soap:Server", "the service is busy for Jansen")

    kbsp = hub.registry.destination("kbsp")
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    started = now()
    report = deliver(hub, kbsp, Busy())
    assert report.delivered == 0 and report.retry == 6
    assert "none of the 6 deliveries this run sent to" in check_sent(kbsp, report.delivered, report.retry, report.failed)
    assert check_sent(kbsp, 1, 5, 0) is None and check_sent(kbsp, 0, 0, 0) is None
    (line,) = run_errors(hub, kbsp, started)
    assert line.startswith("6 × SoapFault (fault code soap:Server; the fault's text, 30 characters")
    assert "Jansen" not in line and "busy" not in line
