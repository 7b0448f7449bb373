"""Freshness under Airflow's own scheduler: per source, the time from the partner making an
event available to its destination accepting it, as the simulators saw it.

    .venv/bin/python bench/freshness.py --minutes 6          # writes bench/freshness.json

Airflow runs as ``./hub start`` runs it (scheduler, dag processor and API server, LocalExecutor),
with the hub's DAGs as they are: Politie polled every 30 s, CVOM's drop folder every minute, the
delivery DAGs of KbSP and DLV on the assets receiving updates (and their safety crons). Traffic
comes at the demo's rates (``ketenhub simulate``: 1–5 meldingen and a CVOM appeal about every
30 s), at random moments so that they fall anywhere in a poll's interval. Once, the OM's nightly
file (500 events) is published and its receiving DAG started at that moment, as at 02:30: the
figure for OM is the night's own latency, without the wait for the night.

Times: Politie's from the moment the simulator queued a melding; CVOM's from the moment its file
was complete in the drop folder; the OM's from the moment its file and marker were written. To
the moment KbSP or DLV accepted the item (GEACCEPTEERD, 201), per item. Also run by bench/run.py.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
BERICHT_ID = re.compile(rb"<(?:\w+:)?BerichtId>([^<]+)</")


def percentiles(seconds: list[float]) -> dict:
    """Nearest-rank p50 and p95, and the max, in seconds."""
    if not seconds:
        return {"items": 0}
    s = sorted(seconds)
    rank = lambda p: s[max(0, math.ceil(p * len(s)) - 1)]  # noqa: E731
    return {"items": len(s), "p50": round(rank(0.5), 1), "p95": round(rank(0.95), 1), "max": round(s[-1], 1)}


def measure(minutes: float, work: Path, database_url: str | None = None, om_events: int = 500,
            seed: int | None = None) -> dict:
    from sqlalchemy import create_engine, text

    from ketenhub.simulators import om
    from ketenhub.simulators.cvom import drop
    from ketenhub.simulators.dlv import DlvSimulator
    from ketenhub.simulators.generate import Generator
    from ketenhub.simulators.kbsp import KbspSimulator
    from ketenhub.simulators.politie import PolitieSimulator
    from tests.support.airflow_server import AirflowServer

    seed = int(time.time()) if seed is None else seed
    rnd, generator = random.Random(seed), Generator(seed)
    politie = PolitieSimulator(seed=seed).start()
    kbsp = KbspSimulator(store=work / "kbsp", keep_files=False).start()
    dlv = DlvSimulator(store=work / "dlv").start()
    cvom_folder, om_folder, home = work / "cvom", work / "om", work / "hub"
    for folder in (cvom_folder, om_folder, home):
        folder.mkdir(parents=True, exist_ok=True)
    fs = lambda path: json.dumps({"conn_type": "fs", "extra": json.dumps({"path": str(path)})})  # noqa: E731
    env = {"KETENHUB_HOME": str(home), "AIRFLOW_CONN_KETENHUB_POLITIE": json.dumps(politie.connection()),
           "AIRFLOW_CONN_KETENHUB_KBSP": json.dumps(kbsp.connection()),
           "AIRFLOW_CONN_KETENHUB_DLV": json.dumps(dlv.connection()),
           "AIRFLOW_CONN_KETENHUB_CVOM": fs(cvom_folder), "AIRFLOW_CONN_KETENHUB_OM": fs(om_folder)}
    url = database_url or f"sqlite:///{home / 'ketenhub.db'}"
    env["KETENHUB_DATABASE_URL"] = url
    server = AirflowServer(work / "airflow", env, components=("api-server", "scheduler", "dag-processor"))
    cvom_at: dict[str, float] = {}
    om_at: dict[str, float] = {}
    try:
        for dag_id in ("ketenhub_deliver_kbsp", "ketenhub_deliver_dlv", "ketenhub_receive_om",
                       "ketenhub_receive_politie", "ketenhub_receive_cvom"):
            server.unpause(dag_id)
        api = server.session("admin")
        start = time.time()
        end, om_due, n = start + minutes * 60, start + minutes * 30, 0
        while time.time() < end:
            time.sleep(rnd.uniform(0, 60))  # the demo's every 30 s, at random moments
            politie.add(rnd.randint(1, 5))
            n += 1
            path = drop(cvom_folder, generator, 10_000 + n)
            cvom_at[BERICHT_ID.search(path.read_bytes())[1].decode()] = time.time()
            if om_at == {} and time.time() >= om_due:
                path = om.publish(om_folder, time.strftime("%Y%m%d"), 1, om_events, start=900_000, seed=seed)
                at = time.time()
                om_at.update((b.decode(), at) for b in BERICHT_ID.findall(path.read_bytes()))
                r = api.post(f"{server.url}/api/v2/dags/ketenhub_receive_om/dagRuns", json={"logical_date": None})
                assert r.status_code == 200, r.text
        engine = create_engine(url)
        settled = 0
        for _ in range(600):  # until every delivery is settled and nothing waits at a source, twice in a row
            with engine.connect() as conn:
                open_ = conn.scalar(text("SELECT count(*) FROM delivery WHERE destination IN ('kbsp', 'dlv') "
                                         "AND state IN ('pending', 'sending')"))
            waiting = politie.state()["waiting"] + len(list(cvom_folder.glob("*.xml"))) + len(list(om_folder.glob("*.xml")))
            settled = settled + 1 if not open_ and not waiting else 0
            if settled >= 2:
                break
            time.sleep(2)
        engine.dispose()
        runs = {dag_id: _run_types(api, server, dag_id) for dag_id in ("ketenhub_deliver_kbsp", "ketenhub_deliver_dlv")}
    finally:
        server.stop()
        for sim in (politie, kbsp, dlv):
            sim.stop()

    def latencies(available: dict[str, float], accepted: dict[str, float]) -> list[float]:
        return [at - available[key.partition(".")[0]] for key, at in accepted.items()
                if key.partition(".")[0] in available]

    return {
        "minutes": minutes, "store": "postgresql" if database_url else "sqlite", "seed": seed,
        "executor": "LocalExecutor",
        "sources": {
            "politie_to_kbsp": {**percentiles(latencies(politie.available_at, kbsp.accepted_at)),
                                "events": len(politie.available_at)},
            "cvom_to_dlv": {**percentiles(latencies(cvom_at, dlv.accepted_at)), "events": len(cvom_at)},
            "om_to_kbsp": {**percentiles(latencies(om_at, kbsp.accepted_at)), "events": len(om_at),
                           "from": "the nightly run's start"},
        },
        "delivery_runs": runs,
        "settled": settled >= 2,
    }


def _run_types(api, server, dag_id: str) -> dict:
    counts: dict[str, int] = {}
    for run in api.get(f"{server.url}/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1000}).json()["dag_runs"]:
        counts[run["run_type"]] = counts.get(run["run_type"], 0) + 1
    return counts


def row(result: dict) -> str:
    s = result["sources"]
    cell = lambda f: f"{f['p50']:.0f} / {f['p95']:.0f} / {f['max']:.0f} s ({f['items']} items)" if f["items"] else "—"  # noqa: E731
    return (f"freshness, p50 / p95 / max: Politie → KbSP {cell(s['politie_to_kbsp'])}; CVOM → DLV "
            f"{cell(s['cvom_to_dlv'])}; OM → KbSP from the nightly run's start {cell(s['om_to_kbsp'])}")


def main() -> None:
    import os
    import secrets
    os.environ.setdefault("AIRFLOW_VAR_KETENHUB_KETENREFERENTIE_KEY", secrets.token_urlsafe(32))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=6, help="of traffic, before the last is awaited")
    ap.add_argument("--database-url", help="the hub's store (default: SQLite)")
    ap.add_argument("--json", default=str(HERE / "freshness.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ketenhub-freshness-") as tmp:
        result = measure(args.minutes, Path(tmp), args.database_url)
    print(row(result))
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
