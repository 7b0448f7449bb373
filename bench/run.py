"""Benchmark: the OM's nightly file through the whole hub, against the floor of what the XML
machinery itself allows (lxml streaming parse plus XSD validation of every event).

    .venv/bin/python bench/run.py                       # 1,000,000 events, SQLite
    .venv/bin/python bench/run.py --events 50000 --database-url postgresql+psycopg2://postgres@127.0.0.1/test

Each phase runs in its own process, so its peak memory (max RSS) is its own. Prints a table
and writes the same figures as JSON (--json, default bench/result.json). Not part of the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def phase_floor(path: Path) -> dict:
    from lxml import etree

    from ketenhub import adapters, settings
    from ketenhub.validate.parsing import SAFE
    from ketenhub.validate.schema import compile_schema
    s = settings.load()
    om = adapters.load(s).partner("om")
    schema = compile_schema(str(s.schemas_dir / om.schema))
    start, n = time.perf_counter(), 0
    for _, el in etree.iterparse(str(path), events=("end",), tag=om.event, **SAFE):
        schema.validate(el)
        n += 1
        parent = el.getparent()
        while el.getprevious() is not None:
            del parent[0]
        parent.remove(el)
    return {"events": n, "seconds": time.perf_counter() - start}


def phase_hub(path: Path) -> dict:
    from ketenhub.deliver.run import deliver
    from ketenhub.hub import Hub
    from ketenhub.pipeline import ingest_source
    from ketenhub.receive.folder import Files
    from ketenhub.connections import endpoint
    hub = Hub()
    hub.engine  # per-process costs are not part of the work: migrations, and importing Airflow's
    endpoint("kbsp")  # Connection lookup (an Airflow task has it imported already)
    om = hub.registry.partner("om")
    t0 = time.perf_counter()
    (report,) = ingest_source(hub, om, Files([path], om.receive))
    t1 = time.perf_counter()
    delivered = {d: deliver(hub, hub.registry.destination(d)).delivered for d in ("kbsp", "cjib")}
    t2 = time.perf_counter()
    return {"events": report.accepted + len(report.rejected), "accepted": report.accepted,
            "rejected": len(report.rejected), "ingest_seconds": t1 - t0, "deliver_seconds": t2 - t1,
            "seconds": t2 - t0, "delivered": delivered}


def run_phase(name: str, path: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--file", str(path)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--invalid-share", type=float, default=0.005)
    ap.add_argument("--database-url", help="default: a fresh SQLite file")
    ap.add_argument("--json", default=str(HERE / "result.json"))
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        result = {"floor": phase_floor, "hub": phase_hub}[args.phase](Path(args.file))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    from ketenhub.simulators.om import publish
    with tempfile.TemporaryDirectory(prefix="ketenhub-bench-") as tmp:
        work = Path(tmp)
        path = publish(work / "om", "20261120", 1, args.events, invalid_share=args.invalid_share)
        env = dict(os.environ, KETENHUB_HOME=str(work / "hub"))
        env.pop("KETENHUB_DATABASE_URL", None)
        if args.database_url:
            env["KETENHUB_DATABASE_URL"] = args.database_url
        size_mb = round(path.stat().st_size / 2**20, 1)
        floor = run_phase("floor", path, env)
        hub = run_phase("hub", path, env)
    rate = lambda r: r["events"] / r["seconds"]  # noqa: E731
    result = {
        "events": args.events, "file_mb": size_mb,
        "store": "postgresql" if args.database_url else "sqlite",
        "floor": {**floor, "events_per_second": round(rate(floor))},
        "hub": {**hub, "events_per_second": round(rate(hub))},
        "ratio_to_floor": round(rate(hub) / rate(floor), 3),
    }
    rows = [("", "events/s", "seconds", "peak MB"),
            ("floor: lxml parse + XSD", f"{rate(floor):,.0f}", f"{floor['seconds']:.1f}", f"{floor['peak_rss_mb']:.0f}"),
            ("hub: ingest + deliver", f"{rate(hub):,.0f}", f"{hub['seconds']:.1f}", f"{hub['peak_rss_mb']:.0f}"),
            ("  of which ingest", "", f"{hub['ingest_seconds']:.1f}", ""),
            ("  of which deliver (KbSP, CJIB)", "", f"{hub['deliver_seconds']:.1f}", "")]
    print(f"{args.events:,} OM events, {size_mb} MB ({result['store']}); hub at {result['ratio_to_floor']:.0%} of the floor")
    for row in rows:
        print(f"{row[0]:32}{row[1]:>12}{row[2]:>10}{row[3]:>10}")
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
