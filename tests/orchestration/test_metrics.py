"""The chain's figures reach an OpenTelemetry receiver through Airflow's own metrics path: the
ketenhub_health task's code in a process set up as Airflow's task runner sets one up
([metrics] otel_on, the standard OTEL_EXPORTER_OTLP_* variables), exporting over OTLP/HTTP to a
receiver on loopback; the values received are those of the store."""
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from ketenhub.settings import PROJECT_DIR
from ketenhub.store.tables import delivery, health_sample, search_key
from ketenhub.wiring import deliver
from tests.conftest import all_samples, ingest
from tests.support.factories import Unreachable
from tests.support.otlp import OtlpReceiver

TASK = """
from airflow.sdk.configuration import conf
from airflow.sdk.observability import stats
from airflow.sdk.observability.metrics import stats_utils
# as airflow.sdk.execution_time.task_runner.main does before it runs a task
stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=conf.getboolean("metrics", "legacy_names_on"))
from ketenhub.orchestration.metrics import measure
print(measure()["indexed"])
"""


@pytest.fixture
def receiver():
    r = OtlpReceiver()
    yield r
    r.stop()


def test_the_figures_are_exported_through_airflows_opentelemetry_metrics(hub, receiver):
    for partner, paths in all_samples().items():
        ingest(hub, partner, *paths)
    deliver(hub, hub.registry.destination("kbsp"))
    deliver(hub, replace(hub.registry.destination("dlv"), max_attempts=1), Unreachable())
    env = dict(os.environ, AIRFLOW_HOME=str(PROJECT_DIR), KETENHUB_HOME=str(hub.settings.home),
               KETENHUB_DATABASE_URL=hub.settings.database_url, AIRFLOW__METRICS__OTEL_ON="True",
               OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
               OTEL_SERVICE_NAME="ketenhub-test")
    r = subprocess.run([sys.executable, "-c", TASK], env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    gauges = receiver.gauges()

    def value(name, **attributes):
        return gauges[(f"airflow.ketenhub.{name}", frozenset(attributes.items()))]

    with hub.engine.connect() as conn:
        def n(destination, *states):
            return conn.scalar(select(func.count()).select_from(delivery).where(
                delivery.c.destination == destination, delivery.c.state.in_(states)))
        assert value("backlog", destination="cjib") == n("cjib", "pending", "sending") > 0
        assert value("backlog.in_trouble", destination="dlv") == n("dlv", "failed", "dead") > 0
        assert value("backlog.oldest_seconds", destination="cjib") > 0
        assert value("deliveries.delivered_last_hour", destination="kbsp") == n("kbsp", "delivered") > 0
        assert value("deliveries.failure_rate_last_hour", destination="dlv") == 1.0
        assert value("deliveries.failure_rate_last_hour", destination="kbsp") == 0.0
        assert value("deliveries.seconds_to_deliver_last_hour", destination="kbsp") >= 0
        assert value("events.received_last_hour", partner="om") > 0
        assert value("events.rejected_last_hour", partner="om") == 0
        # the same run sampled the backlog and indexed the events for "Find an event"
        assert conn.scalar(select(func.count()).select_from(health_sample)) == len(hub.registry.destinations)
        assert int(r.stdout.split()[-1]) == conn.scalar(select(func.count(search_key.c.event_id.distinct())))
    # the Grafana dashboard in docs/ charts exactly these, by their names in Prometheus
    dashboard = (PROJECT_DIR / "docs/grafana/ketenhub.json").read_text()
    assert set(re.findall(r"airflow_ketenhub_\w+", dashboard)) == {name.replace(".", "_") for name, _ in gauges}
    service = {a.value.string_value for req in receiver.requests for rm in req.resource_metrics
               for a in rm.resource.attributes if a.key == "service.name"}
    assert service == {"ketenhub-test"}
