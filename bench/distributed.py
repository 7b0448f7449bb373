"""The hub on Airflow's CeleryExecutor with two Celery workers on this machine (Redis as the
broker, PostgreSQL for Airflow's metadata and the hub's store): a night of OM files over SFTP,
a task per file; KbSP, DLV and CJIB delivered by two senders each; one worker killed with
SIGKILL while it holds a KbSP batch. Counted at the simulators.

    .venv/bin/python bench/distributed.py --files 4 --events 25000     # writes bench/distributed.json

Reports how long the night's files took from the receiving run's start to the last file stored,
each file's own task time, the deliveries' pace, and after the kill: what every destination
accepted against what the hub routed (each item once; a batch sent again is answered as a
duplicate), and how long until the killed worker's batch was delivered by the other. The two
workers share this machine's two cores with Airflow itself, so the figures say what holds on
several workers, not how fast more machines would be (docs/production.md).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
OPDRACHT_ID = re.compile(rb"<(?:\w+:)?OpdrachtId>([^<]+)</")


def measure(work: Path, files: int, events: int, cvom_events: int, database_url: str, kbsp_delay: float) -> dict:
    from sqlalchemy import select

    from ketenhub.simulators import cvom, om
    from ketenhub.simulators.dlv import DlvSimulator
    from ketenhub.simulators.kbsp import KbspSimulator
    from ketenhub.store import db
    from ketenhub.store.tables import delivery, outbound_batch
    from tests.support import sftp_servers
    from tests.support.celery_cluster import CeleryCluster

    engine = db.engine(database_url)  # the hub's tables, made now
    om_sftp, cjib_sftp = sftp_servers.simulator(work / "om"), sftp_servers.simulator(work / "cjib")
    for n in range(1, files + 1):
        om.publish(om_sftp.folder / "outbox", "20261120", n, events, start=n * 10_000_000, seed=n)
    (cjib_sftp.folder / "inbox").mkdir(parents=True)
    cvom.publish(work / "cvom", cvom_events)
    portal = KbspSimulator(store=work / "kbsp", keep_files=False).start()
    loket = DlvSimulator(store=work / "dlv").start()
    portal.misbehave(delay=kbsp_delay)

    def sftp(server) -> str:
        f = server.fields
        return json.dumps({"conn_type": "sftp", "host": f["host"], "port": f["port"], "login": f["login"],
                           "extra": json.dumps(f["extra"])})

    cluster = CeleryCluster(work / "airflow", {
        "KETENHUB_HOME": str(work / "hub"), "KETENHUB_DATABASE_URL": database_url, "KETENHUB_WORKERS": "1",
        "KETENHUB_LEASE_SECONDS": "30", "KETENHUB_TASK_RETRY_DELAY_SECONDS": "5",
        "AIRFLOW_CONN_KETENHUB_OM": sftp(om_sftp), "AIRFLOW_CONN_KETENHUB_CJIB": sftp(cjib_sftp),
        "AIRFLOW_CONN_KETENHUB_KBSP": json.dumps(portal.connection()),
        "AIRFLOW_CONN_KETENHUB_DLV": json.dumps(loket.connection()),
        "AIRFLOW_CONN_KETENHUB_CVOM": json.dumps({"conn_type": "fs", "extra": json.dumps({"path": str(work / "cvom")})})})
    server = cluster.server
    api = server.session("admin")

    def runs(dag_id):
        return api.get(f"{server.url}/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]

    def tis(dag_id):
        return api.get(f"{server.url}/api/v2/dags/{dag_id}/dagRuns/~/taskInstances", params={"limit": 1000}
                       ).json()["task_instances"]

    try:
        for dag_id in ("ketenhub_deliver_kbsp", "ketenhub_deliver_dlv", "ketenhub_deliver_cjib",
                       "ketenhub_receive_om", "ketenhub_receive_cvom"):
            server.unpause(dag_id)
        victim = held = None
        for _ in range(36000):
            with engine.connect() as conn:
                sending = conn.execute(select(outbound_batch.c.id, outbound_batch.c.worker).where(
                    outbound_batch.c.state == "sending", outbound_batch.c.destination == "kbsp")).all()
            for name in cluster.workers:
                pids = cluster.pids(name)
                hit = [b for b, w in sending if int(w.split(":")[1]) in pids]
                if hit:
                    victim, held = name, hit[0]
                    break
            if victim:
                break
            time.sleep(0.1)
        killed_at = time.time()
        cluster.kill(victim)
        recovered_at = None
        for _ in range(3600):
            with engine.connect() as conn:
                states = conn.execute(select(delivery.c.destination, delivery.c.state)).all()
                if recovered_at is None and conn.scalar(select(outbound_batch.c.state).where(
                        outbound_batch.c.id == held)) == "sent":
                    recovered_at = time.time()
            open_ = {d for d, s in states if s != "delivered"}
            for d in open_:  # what the safety cron does, sooner
                if not [r for r in runs(f"ketenhub_deliver_{d}") if r["state"] in ("queued", "running")]:
                    api.post(f"{server.url}/api/v2/dags/ketenhub_deliver_{d}/dagRuns", json={"logical_date": None})
            if states and not open_ and not list((om_sftp.folder / "outbox").glob("*.xml")):
                break
            time.sleep(5)
        ingest = [t for t in tis("ketenhub_receive_om") if t["task_id"] == "ingest" and t["state"] == "success"]
        (night,) = [r for r in runs("ketenhub_receive_om") if r["state"] == "success"][:1]
        sends = {d: [t for t in tis(f"ketenhub_deliver_{d}") if t["task_id"] == "send"] for d in ("kbsp", "dlv", "cjib")}
        with engine.connect() as conn:
            keys = {d: set(conn.scalars(select(delivery.c.idempotency_key).where(delivery.c.destination == d)))
                    for d in ("kbsp", "dlv", "cjib")}
    finally:
        cluster.stop()
        portal.stop()
        loket.stop()
        om_sftp.simulator.stop()
        cjib_sftp.simulator.stop()
    t = datetime.fromisoformat
    opdrachten = [o.decode() for p in (cjib_sftp.folder / "inbox").glob("*.xml") for o in OPDRACHT_ID.findall(p.read_bytes())]
    last_stored = max(t(x["end_date"]) for x in ingest)
    return {
        "executor": "CeleryExecutor", "workers": 2, "worker_concurrency": 1, "broker": "redis",
        "files": files, "events_per_file": events,
        "night": {"files_stored": len(ingest), "workers": sorted({x["hostname"] for x in ingest}),
                  "seconds_from_run_start_to_last_file": round((last_stored - t(night["start_date"])).total_seconds(), 1),
                  "task_seconds": sorted(round(x["duration"], 1) for x in ingest),
                  "events_per_second": round(files * events / (last_stored - t(night["start_date"])).total_seconds())},
        "deliveries": {d: {"routed": len(keys[d]), "senders_on": sorted({x["hostname"] for x in sends[d]})}
                       for d in keys},
        "accepted": {"kbsp": len(portal.accepted), "kbsp_duplicates": portal.duplicates, "dlv": len(loket.accepted),
                     "dlv_replays": loket.replays, "cjib_opdrachten": len(opdrachten),
                     "cjib_distinct": len(set(opdrachten))},
        "exactly_once": (set(portal.accepted) == keys["kbsp"] and set(loket.accepted) == keys["dlv"]
                         and sorted(opdrachten) == sorted(keys["cjib"])),
        "most_in_flight": {"kbsp": portal.most_in_flight, "dlv": loket.most_in_flight},
        "killed": victim, "kbsp_delay_seconds": kbsp_delay,
        "killed_batch_delivered_after_seconds": recovered_at and round(recovered_at - killed_at, 1),
    }


def main() -> None:
    os.environ.setdefault("AIRFLOW_VAR_KETENHUB_KETENREFERENTIE_KEY", secrets.token_urlsafe(32))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=4, help="OM files in the night")
    ap.add_argument("--events", type=int, default=25_000, help="events in each")
    ap.add_argument("--cvom-events", type=int, default=200)
    ap.add_argument("--kbsp-delay", type=float, default=0.5, help="seconds the portal takes per call")
    ap.add_argument("--database-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    ap.add_argument("--json", default=str(HERE / "distributed.json"))
    args = ap.parse_args()
    from run import store  # a schema of the run's own on PostgreSQL
    with tempfile.TemporaryDirectory(prefix="ketenhub-celery-") as tmp, store(args.database_url) as url:
        result = measure(Path(tmp), args.files, args.events, args.cvom_events, url, args.kbsp_delay)
    n = result["night"]
    print(f"CeleryExecutor, 2 workers: {args.files} OM files x {args.events:,} events stored in "
          f"{n['seconds_from_run_start_to_last_file']} s from the run's start ({n['events_per_second']:,} events/s; "
          f"per file {n['task_seconds']} s, on {', '.join(n['workers'])}); worker {result['killed']} killed holding a "
          f"KbSP batch, delivered by the other after {result['killed_batch_delivered_after_seconds']} s; exactly once: "
          f"{result['exactly_once']} ({result['accepted']})")
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
