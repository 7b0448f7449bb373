"""One receiving DAG per partner and one delivering DAG per destination, built from adapters/,
and the hub's own: the OM's deadline, the nightly audit check and retention.

Building reads only the adapter YAML files: no database, no schema or mapping is compiled,
nothing is fetched. The tasks do the work in batches (a task handles every ready payload,
or every pending delivery), never one task per message; a file partner's night of files is
mapped, a task per file, so that the files are received side by side on as many workers.
Airflow's task retries cover a crashed task; individual messages are retried by the hub itself.

Receiving announces what it routed: its task's asset alias gets an event on the asset of each
destination delivering on arrival it made deliveries for (``routed``), and nothing when it made
none, so an empty poll wakes no delivery DAG. Such a destination runs on its asset, or on its
own schedule (the safety net: retries that came due, a receiving run that failed midway). A
night of files is announced once, by a task after its files' tasks: Airflow links an alias to
an asset at the alias's first event on it, and two tasks doing so at once had one of them failed
(a unique key), its file stored all the same.
"""
from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from datetime import timedelta
from typing import NoReturn

import pendulum
from airflow.sdk import (Asset, AssetAlias, AssetOrTimeSchedule, CronTriggerTimetable, DeltaTriggerTimetable, dag,
                         task)
from airflow.sdk.exceptions import AirflowFailException

from ketenhub import adapters, settings
from ketenhub.adapters import Destination, Partner
from ketenhub.states import NO_BERICHT_ID, PayloadState

TIMEZONE = "Europe/Amsterdam"
START = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)
# KETENHUB_TASK_RETRY_DELAY_SECONDS: shorter for tests that kill a worker and wait for the retry.
RETRY_DELAY = timedelta(seconds=int(os.environ.get("KETENHUB_TASK_RETRY_DELAY_SECONDS") or 120))
TASK_DEFAULTS = dict(retries=3, retry_delay=RETRY_DELAY, retry_exponential_backoff=True)
AUDIT_HEAD = "ketenhub_audit_head"  # the Airflow Variable with the audit chain's head as last verified
STORE_OWNER = "ketenhub_store_owner"  # the Connection of the tables' owner: retention's audit step needs it

log = logging.getLogger(__name__)


def dag_id(kind: str, name: str = "") -> str:
    """The DAG that receives a partner's payloads (receive), delivers to a destination (deliver)
    or watches a partner's deadline (deadline); the Deliveries page names them the same way."""
    return f"ketenhub_{kind}_{name}" if name else f"ketenhub_{kind}"


def routed(destination: str) -> Asset:
    """What receiving updates when it routed something to ``destination``; its delivery DAG runs on it."""
    return Asset(name=f"ketenhub_routed_{destination}", uri=f"ketenhub://routed/{destination}")


def routed_by(partner: str) -> AssetAlias:
    """The receiving task's outlet: resolved, run by run, to the ``routed`` assets it updated."""
    return AssetAlias(f"ketenhub_routed_by_{partner}")


_EVERY = re.compile(r"(\d+)([sm])")


def timetable(schedule: str | None):
    """A cron in Amsterdam time, or a poll interval such as ``30s`` or ``2m`` (finer than a cron can say)."""
    if not schedule:
        return None
    every = _EVERY.fullmatch(schedule.strip())
    if every:
        return DeltaTriggerTimetable(timedelta(seconds=int(every[1]) * (60 if every[2] == "m" else 1)))
    return CronTriggerTimetable(schedule, timezone=TIMEZONE)


def _dag(dag_id: str, schedule, tags: list[str], doc: str):
    return dag(dag_id=dag_id, schedule=timetable(schedule) if isinstance(schedule, str) else schedule,
               start_date=START, catchup=False, max_active_runs=1, tags=["ketenhub", *tags],
               default_args=TASK_DEFAULTS, doc_md=doc)


def _fail(problem: str) -> NoReturn:
    """The task fails for good (no retry), its reason also a line of its own in the task's log:
    not only in the exception's detail."""
    log.error("%s", problem)
    raise AirflowFailException(problem) from None


@contextmanager
def _failing_at_once():
    """What an operator must set right fails the task at once: retrying would only hide it (a
    missing Connection; SHN's 410, 400 or 403; a refused certificate or plain-HTTP address)."""
    from ketenhub.protocols.soap import CallNotMade
    from ketenhub.receive.rest import FeedAlert
    from ketenhub.wiring import MissingConnection
    try:
        yield
    except (FeedAlert, MissingConnection, CallNotMade) as e:
        _fail(str(e))


def _received(p: Partner, names: list[str] | None, outlet_events=None, routed_after: int | None = None) -> dict:
    """Receive (the files ``names``, or all that is ready) and announce the destinations it routed
    to, unless ``outlet_events`` is None (a night's file: see ``_announce``). ``routed_after``: a
    run triggered by the service a partner calls (ketenhub serve) also announces what that service
    routed after this delivery id, before the run started."""
    from ketenhub import wiring
    from ketenhub.hub import Hub
    from ketenhub.store.routed import routed_since, watermark

    hub = Hub()
    with hub.engine.connect() as conn:
        mark = watermark(conn)
    if routed_after is not None:
        mark = min(mark, routed_after)
    with _failing_at_once():
        reports = wiring.receive(hub, hub.registry.partner(p.partner), embedded=False, names=names)
    _log_rejections(reports)
    with hub.engine.connect() as conn:
        new = routed_since(conn, mark)
    if outlet_events is not None:
        _announce(hub, p, new, outlet_events)
    return {
        "routed_after": mark,
        "payloads": len(reports),
        "payloads_rejected": sum(r.state == PayloadState.REJECTED for r in reports),
        "events_accepted": sum(r.accepted for r in reports),
        "events_duplicate": sum(r.duplicates for r in reports),
        "events_rejected": sum(len(r.rejected) for r in reports),
        "routed": new,
    }


def _announce(hub, p: Partner, new: dict[str, int], outlet_events) -> None:
    """An event on the asset of each destination ``new`` holds deliveries for (by destination),
    on ``p``'s alias. Only the assets a delivery DAG runs on: an event on another (a nightly
    batch's) would have Airflow create that asset, and two tasks doing so at once failed one of
    them (a unique key)."""
    on_arrival = {d.destination for d in hub.registry.destinations.values() if d.on_arrival}
    for destination, count in sorted(new.items()):
        if destination in on_arrival:
            outlet_events[routed_by(p.partner)].add(routed(destination), extra={"deliveries": count})


def _night_announced(p: Partner, received: list[dict], outlet_events) -> dict[str, int]:
    """What the night's files routed, from the first file's start on, announced once."""
    from ketenhub.hub import Hub
    from ketenhub.store.routed import routed_since

    hub = Hub()
    with hub.engine.connect() as conn:
        new = routed_since(conn, min(r["routed_after"] for r in received))
    _announce(hub, p, new, outlet_events)
    return new


def receive_dag(p: Partner):
    @_dag(dag_id("receive", p.partner), p.receive.schedule, ["receive", p.partner],
          f"Receives {p.name} payloads, validates, normalises, routes and stores their events.")
    def receive():
        if p.receive.transport == "sftp":  # a night of files: one task each, side by side
            @task
            def ready_files() -> list[str]:
                from ketenhub import wiring
                from ketenhub.hub import Hub

                hub = Hub()
                with _failing_at_once():
                    return wiring.ready_files(hub, hub.registry.partner(p.partner), embedded=False)

            @task(map_index_template="{{ task.op_kwargs['name'] }}")
            def ingest(name: str) -> dict:
                return _received(p, [name])

            @task(outlets=[routed_by(p.partner)])  # after every file stored; none when no file was ready
            def announce(received: list[dict], outlet_events=None) -> dict:
                return _night_announced(p, received[:], outlet_events)

            announce(ingest.expand(name=ready_files()))
            return

        @task(outlets=[routed_by(p.partner)])
        def ingest(outlet_events=None, dag_run=None) -> dict:
            routed_after = ((dag_run.conf or {}) if dag_run is not None else {}).get("routed_after")
            return _received(p, None, outlet_events, int(routed_after) if routed_after is not None else None)

        ingest()

    return receive()


def deliver_dag(d: Destination):
    schedule = timetable(d.schedule)
    if d.on_arrival:  # without a schedule of its own, on its asset alone
        schedule = AssetOrTimeSchedule(timetable=schedule, assets=routed(d.destination)) if schedule \
            else routed(d.destination)

    @_dag(dag_id("deliver", d.destination), schedule, ["deliver", d.destination],
          f"Delivers pending {d.name} deliveries, {d.senders} sender(s) side by side"
          + (" as soon as receiving routed some, and on its schedule." if d.on_arrival else " on its schedule."))
    def deliver():
        @task
        def send(sender: int) -> dict:
            from ketenhub import wiring
            from ketenhub.clock import now
            from ketenhub.hub import Hub
            from ketenhub.monitoring import run_errors

            hub = Hub()
            started = now()
            dest = hub.registry.destination(d.destination)
            with _failing_at_once():
                report = wiring.deliver(hub, dest, embedded=False)
            for line in run_errors(hub, dest, started) if report.retry or report.failed or report.dead else ():
                log.warning("not delivered: %s", line)
            return {"delivered": report.delivered, "retry": report.retry, "failed": report.failed,
                    "dead": report.dead, "documents": len(report.batches)}

        @task
        def check_backlog(sent: list[dict], dag_run=None) -> None:
            """The run's colour: red when nothing this run sent got through; for a scheduled run,
            also when the destination's backlog is above its alert threshold. A replay's run
            (conf replay) answers for what it sent only: deliveries still failed elsewhere do not
            make it red, the next scheduled run reports them."""
            from ketenhub.hub import Hub
            from ketenhub.monitoring import check_backlog as check, check_sent

            hub = Hub()
            dest = hub.registry.destination(d.destination)
            replay = bool(dag_run and (dag_run.conf or {}).get("replay"))
            # Every sender's report in one request: iterating Airflow's lazy sequence asks for one
            # item past the last, which its client logs as an error, at each of the three sums.
            sent = sent[:]
            totals = [sum(s.get(k, 0) for s in sent) for k in ("delivered", "retry", "failed", "dead")]  # every sender's
            problems = [check_sent(dest, *totals)]
            if not replay:
                problems.append(check(hub, dest))
            problem = "; ".join(filter(None, problems))
            if problem:
                _fail(problem)

        # Claims skip what another sender holds (SKIP LOCKED), so senders share a destination's work.
        check_backlog(send.expand(sender=list(range(d.senders))))

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
                log.warning("event %s of %s rejected: %s", bericht_id or NO_BERICHT_ID, escaped(r.name), reason)
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
            from ketenhub.monitoring import amsterdam, check_arrival as check, first_record

            hub = Hub()
            deadline = data_interval_end or pendulum.now(TIMEZONE)
            since = first_record(hub)
            if since is None or since > deadline - timedelta(hours=24):
                log.info("deadline %s not judged: the hub was not running for the whole day before it "
                         "(its first record: %s)", amsterdam(deadline), amsterdam(since) if since else "none yet")
                return
            problem = check(hub, hub.registry.partner(p.partner), deadline, since)
            if problem:
                _fail(problem)

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
                _fail(verdict.text())
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

            from ketenhub import wiring
            from ketenhub.hub import Hub
            from ketenhub.store.retention import run

            hub = Hub()
            try:  # the owner may lift the audit table's append-only trigger; the hub's own role may not
                owner = BaseHook.get_connection(STORE_OWNER).get_uri()
            except AirflowNotFoundException:  # not configured: purge as the hub, audit rows are left and logged
                owner = None
            if owner:
                hub.settings = replace(hub.settings, database_url=owner.replace("postgres://", "postgresql://", 1))
            report = run(hub, actor="ketenhub_retention", archives=wiring.archives(hub, embedded=False))
            for line in report.lines():
                log.info("%s", line)
            _not_purged(hub.registry.broken)
            return {"counts": {f"{who} {kind}": n for (who, kind), n in sorted(report.counts.items())},
                    "audit_rows": report.audit_rows, "audit_skipped": report.audit_skipped}

        purge()

    return retention()


def _not_purged(broken: dict[str, str]) -> None:
    """Retention reads each partner's periods from its adapter: a partner whose adapter does not
    load keeps its personal data past them until it loads, and the run says so, red."""
    if broken:
        _fail(f"the rest purged, but not the data of {', '.join(sorted(broken))}: its adapter "
              f"does not load ({'; '.join(broken[p] for p in sorted(broken))})")


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


def broken_adapters() -> None:
    """Raises, naming each partner adapter that does not load (dags/ketenhub_adapter_errors.py):
    an import error of that file in Airflow's UI, while the other partners' DAGs go on."""
    broken = adapters.load(settings.load()).broken
    if broken:
        raise adapters.AdapterError("; ".join(broken[p] for p in sorted(broken)) + " (its DAGs are left out until "
                                    "the adapter loads: `ketenhub adapter check PARTNER`)")


def build() -> dict:
    """The DAGs of every adapter that loads (``adapters.load`` sets a broken partner's aside)."""
    registry = adapters.load(settings.load())
    dags = [receive_dag(p) for p in registry.partners.values()]
    dags += [deadline_dag(p) for p in registry.partners.values() if p.receive.deadline]
    dags += [deliver_dag(d) for d in registry.destinations.values()]
    dags.append(audit_verify_dag())
    dags.append(retention_dag())
    dags.append(health_dag())
    return {d.dag_id: d for d in dags}
