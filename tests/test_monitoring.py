"""Alerts: a delivery backlog above the threshold, and a nightly exchange that did not arrive."""
import dataclasses
from datetime import datetime, timedelta, timezone

from ketenhub.deliver.run import deliver
from ketenhub.monitoring import check_arrival, check_backlog
from tests.conftest import ingest
from tests.factories import Unreachable


def test_backlog_above_the_threshold_is_an_alert(hub, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    cjib = dataclasses.replace(hub.registry.destination("cjib"), max_attempts=1, alert_above=4)
    assert check_backlog(hub, cjib) is None
    deliver(hub, cjib, Unreachable())  # five opdrachten, dead at once
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
