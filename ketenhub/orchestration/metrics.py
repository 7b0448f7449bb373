"""What the ketenhub_health DAG does every few minutes: index the events stored since its last
run for "Find an event", sample each destination's backlog, and export the chain's figures
through Airflow's metrics (with ``[metrics] otel_on``: OpenTelemetry, see docs/metrics.md)."""
from __future__ import annotations

from ketenhub import health
from ketenhub.hub import Hub
from ketenhub.store import search

INDEX_BATCH = 50_000


def measure(hub: Hub | None = None, stats=None) -> dict:
    """``stats``: Airflow's Stats, as the task runner set it up from [metrics]."""
    if stats is None:
        from airflow.sdk.observability.stats import Stats as stats
    hub = hub or Hub()
    indexed = 0
    for _ in range(40):  # a run indexes at most two million events; the next one goes on
        n = search.catch_up(hub.engine, INDEX_BATCH)
        indexed += n
        if n < INDEX_BATCH:
            break
    figures = health.export(hub, stats)
    _flush()
    return {"indexed": indexed, **figures}


def _flush() -> None:
    """A task's process ends soon after: what it set is exported now, not at the next interval."""
    from opentelemetry import metrics
    provider = metrics.get_meter_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
