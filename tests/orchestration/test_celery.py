"""The hub on Airflow's CeleryExecutor with two Celery workers (Redis as the broker, PostgreSQL
for Airflow and for the hub): a night of OM files received side by side, a task per file, on
both workers; then the portal's two senders on both workers at once, one worker killed with
SIGKILL while it holds a batch; then the loket, CJIB and CVOM's appeals on the worker left.
Everything is counted at the simulators: every item arrives, and takes effect once. (In
stages: with all DAGs at once, Celery could give one worker every file while the other sent.)

Takes two to five minutes here, with the machine's load (Airflow's database on PostgreSQL,
five Airflow processes and two workers on two cores): past the two minutes a test should take,
but it runs with the rest of the suite, in CI too."""
import json
import re
import time
from urllib.parse import quote

import pytest
from sqlalchemy import select

from ketenhub.simulators import cvom, om
from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.store.tables import delivery, outbound_batch
from tests.support import sftp_servers
from tests.support.celery_cluster import CeleryCluster

NIGHT, FILES, EVENTS = "20261120", 4, 1500
OPDRACHT_ID = re.compile(rb"<(?:\w+:)?OpdrachtId>([^<]+)</")


def until(condition, what: str, tries: int = 600, every: float = 1.0):
    """Polled: the pace of the scheduler and workers on a shared machine is not asserted."""
    for _ in range(tries):
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"never happened: {what}")


def sftp_connection(server) -> str:
    f = server.fields
    return json.dumps({"conn_type": "sftp", "host": f["host"], "port": f["port"], "login": f["login"],
                       "extra": json.dumps(f["extra"])})


@pytest.mark.timeout(900)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_night_on_two_celery_workers_one_killed_mid_batch(hub, tmp_path):
    om_sftp, cjib_sftp = sftp_servers.simulator(tmp_path / "om"), sftp_servers.simulator(tmp_path / "cjib")
    for n in range(1, FILES + 1):  # one night, several files
        om.publish(om_sftp.folder / "outbox", NIGHT, n, EVENTS, start=n * 100_000, seed=n)
    (cjib_sftp.folder / "inbox").mkdir(parents=True)
    cvom.publish(tmp_path / "cvom", 30)
    portal, loket = KbspSimulator(store=tmp_path / "kbsp", keep_files=False).start(), DlvSimulator(
        store=tmp_path / "dlv").start()
    portal.misbehave(delay=1.0)  # a call takes a while: a batch is in flight long enough to be caught in it
    loket.misbehave(delay=0.3)
    cluster = CeleryCluster(tmp_path / "airflow", {
        "KETENHUB_HOME": str(hub.settings.home), "KETENHUB_DATABASE_URL": hub.settings.database_url,
        "KETENHUB_WORKERS": "1", "KETENHUB_LEASE_SECONDS": "20", "KETENHUB_TASK_RETRY_DELAY_SECONDS": "5",
        "AIRFLOW_CONN_KETENHUB_OM": sftp_connection(om_sftp), "AIRFLOW_CONN_KETENHUB_CJIB": sftp_connection(cjib_sftp),
        **{f"AIRFLOW_CONN_KETENHUB_{name.upper()}": json.dumps(c) for name, c in portal.connections().items()},
        "AIRFLOW_CONN_KETENHUB_DLV": json.dumps(loket.connection()),
        "AIRFLOW_CONN_KETENHUB_CVOM": json.dumps({"conn_type": "fs", "extra": json.dumps({"path": str(tmp_path / "cvom")})})})
    server = cluster.server
    api = server.session("admin")

    def dag_runs(dag_id: str) -> list[dict]:
        return api.get(f"{server.url}/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]

    def task_instances(dag_id: str) -> list[dict]:
        return api.get(f"{server.url}/api/v2/dags/{dag_id}/dagRuns/~/taskInstances", params={"limit": 1000}
                       ).json()["task_instances"]

    def sent(dag_id: str) -> list[tuple[str, int]]:
        return [(t["dag_run_id"], t["map_index"]) for t in task_instances(dag_id) if t["task_id"] == "send"]

    def tries(dag_id: str, run_id: str, map_index: int) -> list[dict]:
        return api.get(f"{server.url}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/send/{map_index}/tries"
                       ).json()["task_instances"]

    def trigger(dag_id: str) -> None:
        if not [r for r in dag_runs(dag_id) if r["state"] in ("queued", "running")]:
            api.post(f"{server.url}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})

    try:
        # The night's files first, with both workers free: a task per file, and Celery hands them
        # to whichever worker is free (with deliveries running beside them, one worker could be
        # busy sending while the other took every file).
        server.unpause("ketenhub_receive_om")  # it starts the run of its latest interval: the night

        def ingests() -> list[dict]:
            return [t for t in task_instances("ketenhub_receive_om") if t["task_id"] == "ingest"]
        until(lambda: len([t for t in ingests() if t["state"] == "success"]) == FILES, "the night's files received")
        # Then the portal's two senders, one on each worker, until one of them is killed.
        server.unpause("ketenhub_deliver_kbsp")
        trigger("ketenhub_deliver_kbsp")  # its asset was updated while it was paused
        # Kill the worker that holds a batch in flight, as soon as one does.
        def holder() -> tuple[str, int] | None:
            with hub.engine.connect() as conn:
                sending = conn.execute(select(outbound_batch.c.id, outbound_batch.c.worker).where(
                    outbound_batch.c.state == "sending", outbound_batch.c.destination == "kbsp")).all()
            for name in cluster.workers:
                pids = cluster.pids(name)
                for batch_id, worker in sending:
                    if int(worker.split(":")[1]) in pids:
                        return name, batch_id
        victim, held = until(holder, "a worker holding a KbSP batch in flight", tries=3000, every=0.1)
        cluster.kill(victim)
        for dag_id in ("ketenhub_deliver_dlv", "ketenhub_deliver_cjib", "ketenhub_receive_cvom"):
            server.unpause(dag_id)
        trigger("ketenhub_deliver_cjib")

        def settled() -> bool:
            with hub.engine.connect() as conn:
                states = conn.execute(select(delivery.c.destination, delivery.c.state)).all()
            open_ = {d for d, s in states if s != "delivered"}
            for destination in open_:  # the safety cron's work, sooner: a run once the lease is over
                trigger(f"ketenhub_deliver_{destination}")
            return (bool(states) and not open_ and not list((om_sftp.folder / "outbox").glob("*.xml"))
                    and not list((tmp_path / "cvom").glob("*.xml")))  # CVOM's appeals received too
        until(settled, "every delivery delivered", every=5)

        # A night of files, a task each, on both workers; every file archived once.
        received = ingests()
        assert sorted(t["rendered_map_index"] for t in received if t["state"] == "success") == [
            f"OM_ZAAKGEBEURTENISSEN_{NIGHT}_{n:03d}.xml" for n in range(1, FILES + 1)]
        assert {t["hostname"] for t in received} == {"w1", "w2"}
        assert len(list((om_sftp.folder / "archive").glob("*.xml"))) == FILES
        # Every destination's senders ran as mapped tasks, the sending spread over both workers,
        # side by side at the portal (its two senders) and the loket (a sender's calls).
        sends = {dag_id: [t["hostname"] for t in task_instances(dag_id) if t["task_id"] == "send"]
                 for dag_id in ("ketenhub_deliver_kbsp", "ketenhub_deliver_dlv", "ketenhub_deliver_cjib")}
        assert all(len(hosts) >= 2 for hosts in sends.values()), sends
        # Each try counts: a send killed with its worker is retried on the other, which its latest
        # try then names (a try that never started names no host).
        portal_hosts = [t["hostname"] for run_id, task in sent("ketenhub_deliver_kbsp") for t in tries(
            "ketenhub_deliver_kbsp", run_id, task)]
        assert set(portal_hosts) - {""} == {"w1", "w2"}, portal_hosts
        assert portal.most_in_flight >= 2 and loket.most_in_flight >= 2

        # Counted at the simulators: each item arrived, once in effect (a resend is a duplicate).
        with hub.engine.connect() as conn:
            keys = {d: set(conn.scalars(select(delivery.c.idempotency_key).where(delivery.c.destination == d)))
                    for d in ("kbsp", "dlv", "cjib")}
        assert len(keys["kbsp"]) > 2000 and len(keys["dlv"]) > 0 and len(keys["cjib"]) > 0
        assert set(portal.accepted) == keys["kbsp"]
        assert set(loket.accepted) == keys["dlv"]
        files = {p.name: OPDRACHT_ID.findall(p.read_bytes()) for p in (cjib_sftp.folder / "inbox").glob("*.xml")}
        opdrachten = [o.decode() for ids in files.values() for o in ids]
        assert sorted(opdrachten) == sorted(keys["cjib"])  # each OpdrachtId in one file, once
        with hub.engine.connect() as conn:
            assert conn.scalar(select(outbound_batch.c.state).where(outbound_batch.c.id == held)) == "sent"
    finally:
        cluster.stop()
        portal.stop()
        loket.stop()
        for s in (om_sftp, cjib_sftp):
            s.simulator.stop()
