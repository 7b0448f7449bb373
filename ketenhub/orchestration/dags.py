"""One receiving DAG per partner and one delivering DAG per destination, built from adapters/,
and the hub's own: the OM's deadline, the nightly audit check and retention.

Building reads only the adapter YAML files: no database, no schema or mapping is compiled,
nothing is fetched. The tasks do the work in batches (a task handles every ready payload,
or every pending delivery), never one task per message. Airflow's task retries cover a
crashed task; individual messages are retried by the hub itself.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowFailException

from ketenhub import adapters, settings
from ketenhub.adapters import Destination, Partner
from ketenhub.states import PayloadState

TIMEZONE = "Europe/Amsterdam"
START = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)
TASK_DEFAULTS = dict(retries=3, retry_delay=timedelta(minutes=2), retry_exponential_backoff=True)
AUDIT_HEAD = "ketenhub_audit_head"  # the Airflow Variable with the audit chain's head as last verified
STORE_OWNER = "ketenhub_store_owner"  # the Connection of the tables' owner: retention's audit step needs it

log = logging.getLogger(__name__)


def dag_id(kind: str, name: str = "") -> str:
    """The DAG that receives a partner's payloads (receive), delivers to a destination (deliver)
    or watches a partner's deadline (deadline); the Deliveries page names them the same way."""
    return f"ketenhub_{kind}_{name}" if name else f"ketenhub_{kind}"


def _dag(dag_id: str, cron: str | None, tags: list[str], doc: str):
    return dag(dag_id=dag_id, schedule=CronTriggerTimetable(cron, timezone=TIMEZONE) if cron else None,
               start_date=START, catchup=False, max_active_runs=1, tags=["ketenhub", *tags],
               default_args=TASK_DEFAULTS, doc_md=doc)


def receive_dag(p: Partner):
    @_dag(dag_id("receive", p.partner), p.receive.schedule, ["receive", p.partner],
          f"Receives {p.name} payloads, validates, normalises, routes and stores their events.")
    def receive():
        @task
        def ingest() -> dict:
            from ketenhub import wiring
            from ketenhub.hub import Hub

            hub = Hub()
            reports = wiring.receive(hub, hub.registry.partner(p.partner), embedded=False)
            _log_rejections(reports)
            return {
                "payloads": len(reports),
                "payloads_rejected": sum(r.state == PayloadState.REJECTED for r in reports),
                "events_accepted": sum(r.accepted for r in reports),
                "events_duplicate": sum(r.duplicates for r in reports),
                "events_rejected": sum(len(r.rejected) for r in reports),
            }

        ingest()

    return receive()


def deliver_dag(d: Destination):
    @_dag(dag_id("deliver", d.destination), d.schedule, ["deliver", d.destination],
          f"Delivers pending {d.name} deliveries.")
    def deliver():
        @task
        def send() -> dict:
            from ketenhub import wiring
            from ketenhub.clock import now
            from ketenhub.hub import Hub
            from ketenhub.monitoring import run_errors

            hub = Hub()
            started = now()
            dest = hub.registry.destination(d.destination)
            report = wiring.deliver(hub, dest, embedded=False)
            log.info("%s: %d delivered, %d to retry, %d refused for good, in %d documents", d.destination,
                     report.delivered, report.retry, report.failed, len(report.batches))
            for line in run_errors(hub, dest, started) if report.retry or report.failed else ():
                log.warning("not delivered: %s", line)
            return {"delivered": report.delivered, "retry": report.retry, "failed": report.failed,
                    "documents": len(report.batches)}

        @task
        def check_backlog(sent: dict, dag_run=None) -> None:
            """The run's colour: red when nothing this run sent got through; for a scheduled run,
            also when the destination's backlog is above its alert threshold. A replay's run
            (conf replay) answers for what it sent only: deliveries still failed elsewhere do not
            make it red, the next scheduled run reports them."""
            from ketenhub.hub import Hub
            from ketenhub.monitoring import check_backlog as check, check_sent

            hub = Hub()
            dest = hub.registry.destination(d.destination)
            replay = bool(dag_run and (dag_run.conf or {}).get("replay"))
            problems = [check_sent(dest, sent["delivered"], sent["retry"], sent["failed"])]
            if not replay:
                problems.append(check(hub, dest))
            problem = "; ".join(filter(None, problems))
            if problem:
                raise AirflowFailException(problem)

        check_backlog(send())

    return deliver()


def _log_rejections(reports: list, first: int = 5) -> None:
    """The first rejections' reasons in the task log: the hub's words (line, element, rule), never a value."""
    from ketenhub.names import shown as escaped
    shown = 0
    for r in reports:
        for problem in getattr(r, "problems", None) or ():
            log.warning("payload %s rejected: %s", escaped(r.name), problem)
        for bericht_id, reason in r.rejected:
            if shown < first:
                log.warning("event %s of %s rejected: %s", bericht_id or "(no BerichtId)", escaped(r.name), reason)
            shown += 1
    if shown > first:
        log.warning("... and %d more rejected events: see Quarantine in the Airflow UI", shown - first)


def deadline_dag(p: Partner):
    hour, minute = (int(x) for x in p.receive.deadline.split(":"))

    @_dag(dag_id("deadline", p.partner), f"{minute} {hour} * * *", ["deadline", p.partner],
          f"Fails when nothing from {p.name} arrived in the 24 hours before {p.receive.deadline} Amsterdam time.")
    def deadline():
        @task
        def check_arrival(data_interval_end=None) -> None:
            from ketenhub.hub import Hub
            from ketenhub.monitoring import check_arrival as check, first_record

            hub = Hub()
            deadline = data_interval_end or pendulum.now(TIMEZONE)
            since = first_record(hub)
            if since is None or since > deadline - timedelta(hours=24):
                log.info("deadline %s not judged: the hub was not running for the whole day before it "
                         "(its first record: %s)", deadline, since or "none yet")
                return
            problem = check(hub, hub.registry.partner(p.partner), deadline, since)
            if problem:
                raise AirflowFailException(problem)

        check_arrival()

    return deadline()


def audit_verify_dag():
    @_dag("ketenhub_audit_verify", "30 5 * * *", ["audit"],
          "Verifies the audit trail's hash chain, logs its head and compares it with the head of the night "
          "before (Variable ketenhub_audit_head); fails when the trail was changed.")
    def audit_verify():
        @task  # a broken chain fails at once (AirflowFailException); retries are for an unreachable database
        def verify_chain(logical_date=None) -> dict:
            from airflow.sdk import Variable

            from ketenhub.store.audit_chain import Head, verify
            from ketenhub.hub import Hub

            # Kept in Airflow's metadata database: another database, which the hub's role cannot write.
            before = Variable.get(AUDIT_HEAD, default=None, deserialize_json=True)
            logged = before and Head(before["last_id"], bytes.fromhex(before["hash"]),
                                     f"by ketenhub_audit_verify for {before['night']}")
            verdict = verify(Hub().engine, logged)
            if not verdict.intact:
                raise AirflowFailException(verdict.text())
            log.info("%s", verdict.text())  # the task log: the copy of the head no database user can change
            if logged:
                log.info("the head logged for %s (row %d) is unchanged in it", before["night"], logged.last_id)
            night = str(logical_date or pendulum.now(TIMEZONE))
            head = {"last_id": verdict.head.last_id, "hash": verdict.head.hash.hex(), "rows": verdict.rows,
                    "night": night}
            Variable.set(AUDIT_HEAD, head, description="the audit chain's head as last verified by "
                                                       "ketenhub_audit_verify", serialize_json=True)
            return head

        verify_chain()

    return audit_verify()


def retention_dag():
    @_dag(dag_id("retention"), "45 4 * * *", ["retention"],
          "Purges personal data past each adapter's retention period and pseudonymises the audit rows about it "
          "(docs/security-retention.md); logs counts only.")
    def retention():
        @task
        def purge() -> dict:
            from dataclasses import replace

            from airflow.sdk import BaseHook
            from airflow.sdk.exceptions import AirflowNotFoundException

            from ketenhub.hub import Hub
            from ketenhub.store.retention import run

            hub = Hub()
            try:  # the owner may lift the audit table's append-only trigger; the hub's own role may not
                owner = BaseHook.get_connection(STORE_OWNER).get_uri()
            except AirflowNotFoundException:  # not configured: purge as the hub, audit rows are left and logged
                owner = None
            if owner:
                hub.settings = replace(hub.settings, database_url=owner.replace("postgres://", "postgresql://", 1))
            report = run(hub, actor="ketenhub_retention")
            for line in report.lines():
                log.info("%s", line)
            return {"counts": {f"{who} {kind}": n for (who, kind), n in sorted(report.counts.items())},
                    "audit_rows": report.audit_rows, "audit_skipped": report.audit_skipped}

        purge()

    return retention()


def health_dag():
    @_dag(dag_id("health"), "*/5 * * * *", ["health"],
          "Indexes new events for Find an event, samples each destination's backlog and exports the chain's "
          "figures through Airflow's metrics (docs/metrics.md).")
    def health():
        @task(retries=0)  # the next run, five minutes on, measures again
        def measure() -> dict:
            from ketenhub.orchestration.metrics import measure as run

            return run()

        measure()

    return health()


def build() -> dict:
    registry = adapters.load(settings.load())
    dags = [receive_dag(p) for p in registry.partners.values()]
    dags += [deadline_dag(p) for p in registry.partners.values() if p.receive.deadline]
    dags += [deliver_dag(d) for d in registry.destinations.values()]
    dags.append(audit_verify_dag())
    dags.append(retention_dag())
    dags.append(health_dag())
    return {d.dag_id: d for d in dags}
