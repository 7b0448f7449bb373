"""Benchmark: a night's traffic through the whole hub, against the floor of what the XML
machinery itself allows (lxml streaming parse plus XSD validation of every event).

    .venv/bin/python bench/run.py                       # 1,000,000 OM events, SQLite
    .venv/bin/python bench/run.py --events 50000 --database-url postgresql+psycopg2://postgres@127.0.0.1/test

The OM's nightly file of N events, and beside it CVOM's appeal events (one file each in the
drop folder) and Politie's meldingen (paged over SOAP from the Politie simulator), by default
N/200 of each. Each phase runs in its own process, so its peak memory (max RSS) is its own;
the hub's worker processes are reported beside it. KbSP is delivered over SOAP and DLV over
HTTP to their simulators, each running in a process of its own on loopback; CJIB's
OpdrachtenBatch files go to a folder; each destination by as many sender processes side by side
as its adapter's ``senders`` (as its DAG maps them). Also reports how long Airflow takes to parse each DAG
file. Prints a table and writes the same figures as JSON (--json, default bench/result.json).
Not part of the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLITIE_SEED = 1  # the simulator's meldingen and the floor's page of them are the same
POLITIE_PAGE = 1000  # meldingen a HaalMeldingen page holds (receive.soap.MeldingenInbox)
FLOOR_SECONDS = 1.0  # a floor's input passed over again until this long has gone by (see phase_floor)


def phase_floor(path: Path, partner: str = "om") -> dict:
    """The partner's events in ``path`` (a file, or a folder of files) parsed and validated; a
    short input passed over again until ``FLOOR_SECONDS`` have gone by, and the median pass
    counts: one short pass is at the mercy of one busy moment of the host."""
    from lxml import etree

    from ketenhub import adapters, settings
    from ketenhub.xml.parsing import SAFE
    from ketenhub.xml.schema import compile_schema
    s = settings.load()
    p = adapters.load(s).partner(partner)
    schema = compile_schema(str(s.schemas_dir / p.schema))
    passes, began = [], time.perf_counter()
    while not passes or (time.perf_counter() - began < FLOOR_SECONDS and len(passes) < 15):
        start, n = time.perf_counter(), 0
        for f in sorted(path.glob("*.xml")) if path.is_dir() else [path]:
            for _, el in etree.iterparse(str(f), events=("end",), tag=p.event, **SAFE):
                schema.validate(el)
                n += 1
                parent = el.getparent()
                if parent is None:  # a file of one event
                    continue
                while el.getprevious() is not None:
                    del parent[0]
                parent.remove(el)
        passes.append(time.perf_counter() - start)
    return {"events": n, "seconds": statistics.median(passes), "passes": len(passes)}


class WorkerPeaks(threading.Thread):
    """The highest peak RSS (VmHWM) of this process's worker processes, read while they run:
    a child's own rusage would count the parent's pages it had between fork and exec. For the
    same reason a child counts only once it runs the worker (a run of 20,000 events reported
    126 MB, against 54 in the runs before and after it)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mb, self.running = 0.0, True

    def run(self) -> None:
        me = str(os.getpid())
        while self.running:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:  # the command line first: once it is the worker's, so is the status
                    if b"ketenhub.workers" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
                    self.peak_mb = max(self.peak_mb, int(fields["VmHWM"].split()[0]) / 1024)
            time.sleep(0.2)

    def start(self) -> "WorkerPeaks":
        super().start()
        return self

    def stop(self) -> None:
        self.running = False
        self.join()


def phase_hub(path: Path, politie_rounds: int = 1, politie_meldingen: int = 0) -> dict:
    """The OM's nightly file, then CVOM's drop folder and Politie's pages (``phase_receive``, a
    process each), then the deliveries."""
    from ketenhub.connections import endpoint
    from ketenhub.hub import Hub
    from ketenhub.pipeline import ingest_source
    from ketenhub.receive.folder import Files
    hub = Hub()
    hub.engine  # per-process costs are not part of the work: migrations, and importing Airflow's
    endpoint("kbsp")  # Connection lookup (an Airflow task has it imported already)
    om = hub.registry.partner("om")
    workers = WorkerPeaks().start()
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    (report,) = ingest_source(hub, om, Files([path], om.receive))
    t1 = time.perf_counter()
    cpu1 = _cpu_seconds()  # the workers have ended and been waited for: their time is counted
    ingest_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers.stop()
    others = {name: run_phase("receive", path, dict(os.environ), "--partner", name,
                              "--politie-rounds", str(politie_rounds if name == "politie" else 1),
                              "--politie-meldingen", str(politie_meldingen))
              for name in ("cvom", "politie")}  # as their DAGs take them in: drop folder, SOAP pages
    sent = {}
    for name in ("kbsp", "cjib", "dlv"):  # SOAP to the simulator, OpdrachtenBatch files, HTTP to the simulator
        sent.update(send_side_by_side(name, hub.registry.destination(name).senders))
    return {"events": report.accepted + len(report.rejected), "accepted": report.accepted,
            "rejected": len(report.rejected), "ingest_seconds": t1 - t0, "seconds": time.perf_counter() - t0,
            **others, **sent,
            "workers": hub.settings.workers, "worker_peak_rss_mb": workers.peak_mb, "ingest_peak_rss_mb": ingest_peak,
            "ingest_cpu_seconds": {"hub": cpu1[0] - cpu0[0], "workers": cpu1[1] - cpu0[1]}}


def phase_receive(name: str, rounds: int, pages: int) -> dict:
    """A partner's receiving as its DAG runs it: in a task process of its own, ``rounds`` runs
    (Politie's each of at most ``pages`` pages). A Politie run is short enough for one busy
    moment of the host to move it, so the median run is its figure (docs/performance.md). The
    process's own costs are not part of the work: imports, the store's engine, the partner's
    mappings compiled."""
    import dataclasses

    from ketenhub.connections import endpoint
    from ketenhub.hub import Hub
    from ketenhub.processing import EventProcessor
    from ketenhub.wiring import receive
    hub = Hub()
    hub.engine  # as in phase_hub: migrations and Airflow's Connection lookup before the clock
    endpoint("kbsp")
    partner, runs = hub.registry.partner(name), []
    EventProcessor(hub, partner)
    if name == "politie":
        partner = dataclasses.replace(partner, receive=dataclasses.replace(partner.receive, max_pages=pages))
    for _ in range(rounds):
        start, cpu = time.perf_counter(), _cpu_seconds()
        reports = receive(hub, partner)
        runs.append({"events": sum(r.accepted + r.duplicates + len(r.rejected) for r in reports),
                     "accepted": sum(r.accepted for r in reports), "payloads": len(reports),
                     "seconds": time.perf_counter() - start, "cpu_seconds": _cpu_seconds()[0] - cpu[0]})
    middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # the median run (the later of two)
    return {**middle, "runs_seconds": [r["seconds"] for r in runs], "runs_events": sum(r["events"] for r in runs)}


def send_side_by_side(name: str, senders: int) -> dict:
    """A destination's delivery as its DAG runs it: the adapter's ``senders`` processes side by
    side, each ready (hub, Connection, transport) before the clock starts."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Barrier(senders + 1), spawn.Queue()
    processes = [spawn.Process(target=_sender, args=(name, ready, results)) for _ in range(senders)]
    for p in processes:
        p.start()
    ready.wait()
    start = time.perf_counter()
    done = [results.get() for _ in processes]
    seconds = time.perf_counter() - start
    for p in processes:
        p.join()
    return {f"{name}_delivered": sum(d for d, _ in done), f"{name}_seconds": seconds,
            f"{name}_cpu_seconds": sum(c for _, c in done), f"{name}_senders": senders}


def _sender(name: str, ready, results) -> None:
    from ketenhub.hub import Hub
    from ketenhub.wiring import deliver, transport

    hub = Hub()
    dest = hub.registry.destination(name)
    via = transport(hub, dest)
    hub.engine
    ready.wait()
    cpu = time.process_time()
    delivered = deliver(hub, dest, via).delivered
    results.put((delivered, time.process_time() - cpu))  # the sender's process, all its threads


def _cpu_seconds() -> tuple[float, float]:
    """CPU time (user and system) of this process, and of its children that have ended."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def phase_simulator(store: Path, name: str, meldingen: int = 0) -> None:
    """A destination's or partner's simulator in a process of its own, so that it does not
    share the hub's; until the benchmark closes its stdin."""
    from ketenhub.simulators.dlv import DlvSimulator
    from ketenhub.simulators.kbsp import KbspSimulator
    from ketenhub.simulators.politie import PolitieSimulator
    if name == "politie":
        sim = PolitieSimulator(seed=POLITIE_SEED)
        sim.add(meldingen)  # the same meldingen as politie_page's
    else:
        kind = KbspSimulator if name == "kbsp" else DlvSimulator
        sim = kind(store=store, keep_files=False)
    sim.start()
    connections = sim.connections() if name == "kbsp" else {name: sim.connection()}  # KbSP: v1 and v2
    cpu = time.process_time()  # from here: serving, not starting
    print(json.dumps({"connections": connections}), flush=True)  # over TLS, as the hub meets them
    sys.stdin.read()
    state = {**sim.state(), "cpu_seconds": time.process_time() - cpu, "connections": sim.server.connections}
    state.pop("items_per_call", None)
    print(json.dumps(state), flush=True)


def politie_page(path: Path, meldingen: int) -> Path:
    """For the floor: the meldingen that the Politie simulator hands out, as one answer."""
    from ketenhub.simulators.generate import Generator
    from ketenhub.simulators.politie import NS
    generator = Generator(POLITIE_SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'<HaalMeldingenAntwoord xmlns="{NS}">')
        f.writelines(generator.melding(n) for n in range(1, meldingen + 1))
        f.write("<MeerBeschikbaar>false</MeerBeschikbaar></HaalMeldingenAntwoord>")
    return path


def phase_zeep(path: Path) -> dict:
    """What zeep would cost, in-process (no network): a client built from the KbSP WSDL (the
    hub reads only the SOAPActions from it, without zeep), and a PubliceerZaakstatus of 500
    items built as zeep objects, per item, beside the hub's own way: the items' XML in the
    envelope as it is."""
    from lxml import etree

    from ketenhub.clock import now
    from ketenhub.deliver.envelopes import as_bytes, envelope as envelope_of
    from ketenhub.hub import Hub
    from ketenhub.processing import EventProcessor, RejectedEvent
    from ketenhub.protocols.soap import SoapClient
    from ketenhub.xml.parsing import parser
    from ketenhub.validate.payload import regions, scan
    hub = Hub()
    om = hub.registry.partner("om")
    # The version of KbSP that takes the OM's events now (v1 until the switch).
    kbsp = next(d for d, kinds in hub.registry.destination("kbsp").taking(now()) if "Zaakgebeurtenis" in kinds)
    processor, docs = EventProcessor(hub, om), []
    with open(path, "rb") as f:
        scanned = scan(om, hub.settings.schemas_dir / om.schema, f)
    for region in regions(path, scanned):
        for result in processor.process_region(region):
            if not isinstance(result, RejectedEvent):
                docs += [o.document for o in result.outbound if o.destination == "kbsp"]
        if len(docs) >= 500:
            break
    docs = docs[:500]
    wsdl = str(hub.settings.schemas_dir / kbsp.wsdl)
    start = time.perf_counter()
    ours = SoapClient(wsdl, "http://127.0.0.1/kbsp", kbsp.oin)  # the first in this process
    hub_build = time.perf_counter() - start
    start = time.perf_counter()
    from zeep import Client, Settings
    client = Client(wsdl, settings=Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True))
    build = time.perf_counter() - start
    zaakstatus = client.get_element(etree.QName(kbsp.item).text)

    def timed(work, rounds: int = 5) -> float:  # the best of a few rounds, per item
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - start)
        return best / len(docs)

    objects = [zaakstatus.parse(etree.fromstring(d, parser()), client.wsdl.types) for d in docs]
    to_objects = timed(lambda: [zaakstatus.parse(etree.fromstring(d, parser()), client.wsdl.types) for d in docs])
    via_zeep = timed(lambda: etree.tostring(client.create_message(client.service, "PubliceerZaakstatus",
                                                                 Zaakstatus=objects)))
    envelope = envelope_of(kbsp)
    direct = timed(lambda: ours.envelope("PubliceerZaakstatus", etree.fromstring(as_bytes(
        envelope.build(docs, "KETENHUB_KBSP_20261120_001.xml", datetime.now(timezone.utc))), parser()), "urn:uuid:x"))
    return {"items": len(docs), "client_build_seconds": build, "hub_client_build_seconds": hub_build,
            "zeep_objects_us_per_item": to_objects * 1e6,
            "zeep_message_us_per_item": via_zeep * 1e6, "hub_message_us_per_item": direct * 1e6}


def phase_dags(_: Path) -> dict:
    """Airflow's own parse of each DAG file (the figure the dag processor reports)."""
    from airflow.dag_processing.dagbag import DagBag
    dags = Path(__file__).resolve().parent.parent / "dags"
    seconds = {}
    for f in sorted(dags.glob("*.py")):
        bag = DagBag(dag_folder=str(f))
        assert not bag.import_errors, bag.import_errors
        (stat,) = bag.dagbag_stats
        seconds[f.name] = stat.duration.total_seconds()
    return {"parse_seconds": seconds}


def phase_airflow(path: Path) -> dict:
    """A nightly OM run under Airflow's own scheduler and LocalExecutor: the run's duration
    beside its task's, the difference being what Airflow itself costs."""
    sys.path.insert(0, str(HERE.parent))
    from tests.support.airflow_server import AirflowServer
    from ketenhub import settings
    home = settings.load().home
    inbox = home / "inbox" / "om"
    inbox.mkdir(parents=True, exist_ok=True)
    for f in (path, path.with_name(path.name + ".sha256")):
        shutil.copy(f, inbox / f.name)
    (home.parent / "airflow").mkdir(parents=True, exist_ok=True)
    om = json.dumps({"conn_type": "fs", "extra": json.dumps({"path": str(inbox)})})
    server = AirflowServer(home.parent / "airflow", {"KETENHUB_HOME": str(home), "AIRFLOW_CONN_KETENHUB_OM": om},
                           components=("api-server", "scheduler", "dag-processor"))
    try:
        server.unpause("ketenhub_receive_om")  # the run of the latest nightly interval: time that one
        api, dag = server.session("admin"), f"{server.url}/api/v2/dags/ketenhub_receive_om"
        while not (runs := api.get(f"{dag}/dagRuns").json()["dag_runs"]) or runs[0]["state"] in ("queued", "running"):
            time.sleep(1)
        run = runs[0]
        tis = api.get(f"{dag}/dagRuns/{run['dag_run_id']}/taskInstances").json()["task_instances"]
        (ti,) = [t for t in tis if t["task_id"] == "ingest"]  # the night's one file (a task per file)
        work = api.get(f"{dag}/dagRuns/{run['dag_run_id']}/taskInstances/ingest/xcomEntries/return_value",
                       params={"map_index": ti["map_index"]}).json()
    finally:
        server.stop()
    t = lambda v: datetime.fromisoformat(v)  # noqa: E731
    run_seconds = (t(run["end_date"]) - t(run["queued_at"])).total_seconds()
    return {"state": run["state"], "task_result": work.get("value"), "run_seconds": run_seconds,
            "task_seconds": ti["duration"], "overhead_seconds": run_seconds - ti["duration"]}


@contextmanager
def store(url: str | None):
    """On PostgreSQL, a schema of the run's own, dropped afterwards: each run starts empty."""
    if not url:
        yield None
        return
    from sqlalchemy import create_engine, text
    schema, admin = f"ketenhub_bench_{os.getpid()}", create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_phase(name: str, path: Path, env: dict, *options: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--file", str(path), *options], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_simulator(name: str, store: Path, *options: str) -> tuple[subprocess.Popen, dict]:
    """The simulator's process and the Connections that reach it, by name."""
    sim = subprocess.Popen([sys.executable, __file__, "--phase", "simulator", "--partner", name, "--file", str(store),
                            *options], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return sim, json.loads(sim.stdout.readline())["connections"]


def stop_simulator(sim: subprocess.Popen) -> dict:
    return json.loads(sim.communicate("")[0].strip().splitlines()[-1])


def main() -> None:
    # A key of the bench's own for the Ketenreferentie (see ketenhub.keys), unless one is set;
    # every phase's process inherits it.
    os.environ.setdefault("AIRFLOW_VAR_KETENHUB_KETENREFERENTIE_KEY", secrets.token_urlsafe(32))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the OM's nightly file")
    ap.add_argument("--cvom-events", type=int, help="CVOM appeal events, a file each (default: N/200)")
    ap.add_argument("--politie-meldingen", type=int, help="meldingen at the Politie simulator (default: N/200)")
    ap.add_argument("--politie-rounds", type=int, default=5,
                    help="Politie's meldingen taken in this many times over, the median run counting "
                         "(once where they are no whole number of pages of 1,000)")
    ap.add_argument("--invalid-share", type=float, default=0.005, help="of the OM's and CVOM's events")
    ap.add_argument("--database-url", help="default: a fresh SQLite file")
    ap.add_argument("--airflow-events", type=int, default=100_000,
                    help="events in the OM file of the run under Airflow's scheduler (0: no such run)")
    ap.add_argument("--freshness-minutes", type=float, default=6,
                    help="minutes of demo traffic under Airflow's scheduler for freshness (0: none; bench/freshness.py)")
    ap.add_argument("--json", default=str(HERE / "result.json"))
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--partner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        if args.phase == "simulator":
            return phase_simulator(Path(args.file), args.partner, args.politie_meldingen or 0)
        if args.phase == "hub":
            result = phase_hub(Path(args.file), args.politie_rounds, args.politie_meldingen or 0)
        elif args.phase == "receive":
            pages = -(-(args.politie_meldingen or 0) // POLITIE_PAGE) or 1
            result = phase_receive(args.partner, args.politie_rounds, pages)
        elif args.phase == "floor":
            result = phase_floor(Path(args.file), args.partner)
        elif args.phase == "freshness":
            from freshness import measure
            result = measure(args.freshness_minutes, Path(args.file), args.database_url)
        else:
            result = {"hub": phase_hub, "dags": phase_dags, "zeep": phase_zeep,
                      "airflow": phase_airflow}[args.phase](Path(args.file))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    from ketenhub.simulators import cvom, om
    n_cvom = args.events // 200 if args.cvom_events is None else args.cvom_events
    n_politie = args.events // 200 if args.politie_meldingen is None else args.politie_meldingen
    # A round is so many whole pages: the rounds are told apart by the pages a run takes.
    rounds = max(1, args.politie_rounds) if n_politie % POLITIE_PAGE == 0 else 1
    with tempfile.TemporaryDirectory(prefix="ketenhub-bench-") as tmp, store(args.database_url) as url:
        work = Path(tmp)
        path = om.publish(work / "om", "20261120", 1, args.events, invalid_share=args.invalid_share)
        cvom.publish(work / "cvom", n_cvom, invalid_share=args.invalid_share)
        inputs = {"om": path, "cvom": work / "cvom", "politie": politie_page(work / "politie.xml", n_politie)}
        env = dict(os.environ, KETENHUB_HOME=str(work / "hub"), AIRFLOW_HOME=str(HERE.parent))
        env.pop("KETENHUB_DATABASE_URL", None)
        if url:
            env["KETENHUB_DATABASE_URL"] = url
        size_mb = round(path.stat().st_size / 2**20, 1)
        # Floors are measured before and after the hub, and their mean is the floor: a host
        # whose speed drifts (seen here: the same floor a third apart, minutes apart) then
        # moves both sides of the ratio alike.
        floors = {name: [run_phase("floor", f, env, "--partner", name)] for name, f in inputs.items()}
        shutil.copytree(work / "cvom", work / "hub" / "inbox" / "cvom")  # CVOM's drop folder
        sims = {"kbsp": start_simulator("kbsp", work / "kbsp"), "dlv": start_simulator("dlv", work / "dlv"),
                "politie": start_simulator("politie", work / "politie", "--politie-meldingen",
                                           str(n_politie * rounds))}  # a round's worth each
        env |= {f"AIRFLOW_CONN_KETENHUB_{name.upper()}": json.dumps(connection)
                for _, connections in sims.values() for name, connection in connections.items()}
        hub = run_phase("hub", path, env, "--politie-meldingen", str(n_politie),
                        "--politie-rounds", str(rounds))
        received = {name: stop_simulator(sim) for name, (sim, _) in sims.items()}
        dags = run_phase("dags", path, env)
        zeep = run_phase("zeep", path, env)
        for name, f in inputs.items():
            floors[name].append(run_phase("floor", f, env, "--partner", name))
        airflow = None
        if args.airflow_events:
            small = om.publish(work / "om-airflow", "20261121", 1, args.airflow_events,
                               invalid_share=args.invalid_share)
            airflow = run_phase("airflow", small, dict(env, KETENHUB_HOME=str(work / "airflow-hub" / "hub")))
        freshness = None
        if args.freshness_minutes:
            (work / "freshness").mkdir()
            with store(args.database_url) as fresh:  # a store of its own: a day's traffic from the start
                freshness = run_phase("freshness", work / "freshness", env, "--freshness-minutes",
                                      str(args.freshness_minutes), *(["--database-url", fresh] if fresh else []))
    for name in ("kbsp", "dlv"):  # each item once
        assert received[name]["accepted"] == hub[f"{name}_delivered"], (name, received[name], hub)
    assert received["politie"]["waiting"] == 0, received["politie"]  # every melding taken in and confirmed

    def floor_of(runs: list[dict]) -> dict:
        seconds = sum(f["seconds"] for f in runs) / len(runs)
        return {"events": runs[0]["events"], "seconds": seconds, "runs_seconds": [f["seconds"] for f in runs],
                "events_per_second": round(runs[0]["events"] / seconds), "peak_rss_mb": max(f["peak_rss_mb"] for f in runs)}

    floor = {name: floor_of(runs) for name, runs in floors.items()}
    events = hub["events"] + hub["cvom"]["runs_events"] + hub["politie"]["runs_events"]
    for name in ("cvom", "politie"):
        h = hub[name]
        h["events_per_second"] = round(h["events"] / h["seconds"]) if h["seconds"] else 0
        h["ratio_to_floor"] = round(h["events_per_second"] / (floor[name]["events_per_second"] or 1), 3)
    per_second = {k: round(hub[f"{k}_delivered"] / hub[f"{k}_seconds"]) if hub[f"{k}_seconds"] else 0
                  for k in ("kbsp", "cjib", "dlv")}
    result = {
        "events": args.events, "file_mb": size_mb,
        "store": "postgresql" if args.database_url else "sqlite",
        "floor": floor["om"], "floor_cvom": floor["cvom"], "floor_politie": floor["politie"],
        "simulators": received,
        "hub": {**hub, "all_events": events, "events_per_second": round(events / hub["seconds"]),
                "ingest_events_per_second": round(hub["events"] / hub["ingest_seconds"]),
                **{f"{k}_per_second": v for k, v in per_second.items()}},
        "ingest_ratio_to_floor": round(hub["events"] / hub["ingest_seconds"] / floor["om"]["events_per_second"], 3),
        "dag_parse_seconds": dags["parse_seconds"], "zeep": zeep,
        "airflow_run": airflow and {**airflow, "events": args.airflow_events},
        "freshness": freshness,
    }
    h = result["hub"]
    ev = lambda f: f"{f['events_per_second']:,} ev"  # noqa: E731
    rows = [("", "per second", "seconds", "peak MB"),
            ("hub: all ingest and delivery", f"{h['events_per_second']:,} ev", f"{hub['seconds']:.1f}",
             f"{hub['peak_rss_mb']:.0f}"),
            (f"  OM ingest, {hub['events']:,} events", f"{h['ingest_events_per_second']:,} ev",
             f"{hub['ingest_seconds']:.1f}",
             f"{hub['ingest_peak_rss_mb']:.0f}" + (f" + {hub['workers']} x {hub['worker_peak_rss_mb']:.0f}"
                                                   if hub["worker_peak_rss_mb"] else "")),  # none below PARALLEL_FROM
            ("    floor: lxml parse + XSD", ev(floor["om"]), f"{floor['om']['seconds']:.1f}",
             f"{floor['om']['peak_rss_mb']:.0f}"),
            (f"  CVOM ingest, {hub['cvom']['payloads']:,} files", ev(hub["cvom"]), f"{hub['cvom']['seconds']:.1f}", ""),
            ("    floor: lxml parse + XSD", ev(floor["cvom"]), f"{floor['cvom']['seconds']:.1f}", ""),
            (f"  Politie ingest, {hub['politie']['payloads']} SOAP page(s), median of {len(hub['politie']['runs_seconds'])}",
             ev(hub["politie"]),
             f"{hub['politie']['seconds']:.1f}", ""),
            ("    floor: lxml parse + XSD", ev(floor["politie"]), f"{floor['politie']['seconds']:.1f}", ""),
            (f"  KbSP over SOAP (simulator), {hub['kbsp_senders']} senders", f"{per_second['kbsp']:,} items",
             f"{hub['kbsp_seconds']:.1f}", ""),
            (f"  CJIB OpdrachtenBatch files, {hub['cjib_senders']} senders", f"{per_second['cjib']:,} items",
             f"{hub['cjib_seconds']:.1f}", ""),
            (f"  DLV over HTTP (simulator), {hub['dlv_senders']} senders", f"{per_second['dlv']:,} items",
             f"{hub['dlv_seconds']:.1f}", "")]
    print(f"{args.events:,} OM events, {size_mb} MB ({result['store']}, {hub['workers']} workers); OM ingest at "
          f"{result['ingest_ratio_to_floor']:.1%} of its floor; CVOM at {hub['cvom']['ratio_to_floor']:.1%} and Politie "
          f"at {hub['politie']['ratio_to_floor']:.1%} of theirs; {events:,} events in {hub['seconds']:.0f} s "
          f"in all, delivery included")
    for row in rows:
        print(f"{row[0]:44}{row[1]:>14}{row[2]:>10}{row[3]:>14}")
    print("OM floor before and after the hub: "
          + ", ".join(f"{floor['om']['events'] / t:,.0f}" for t in floor["om"]["runs_seconds"]) + " events per second")
    cpu = hub["ingest_cpu_seconds"]
    print(f"OM ingest CPU per event: hub process {cpu['hub'] / hub['events'] * 1e6:.0f} µs (first pass, storing), "
          f"workers {cpu['workers'] / hub['events'] * 1e6:.0f} µs (validating, mapping, routing); "
          f"{(cpu['hub'] + cpu['workers']) / hub['ingest_seconds']:.2f} of {os.cpu_count()} cores busy")
    per_event = [f"{label} {hub[k]['cpu_seconds'] / hub[k]['events'] * 1e6:.0f} µs"
                 for k, label in (("cvom", "CVOM"), ("politie", "Politie")) if hub[k]["events"]]
    if per_event:
        print("CPU per event of the hub process: " + ", ".join(per_event))
    print(f"zeep: imported and a client built from the KbSP WSDL in {zeep['client_build_seconds'] * 1000:.0f} ms "
          f"(the hub's SoapClient, without zeep: {zeep['hub_client_build_seconds'] * 1000:.1f} ms); "
          f"a call of {zeep['items']} Zaakstatus as zeep objects {zeep['zeep_message_us_per_item']:.0f} µs an item to "
          f"write (and {zeep['zeep_objects_us_per_item']:.0f} to make the objects), the hub's own body "
          f"{zeep['hub_message_us_per_item']:.0f} µs an item")
    for name, label in (("kbsp", "KbSP"), ("dlv", "DLV")):
        n, sim = hub[f"{name}_delivered"], received[name]
        if not n:
            continue
        print(f"{label} CPU per item delivered: hub's senders {hub[f'{name}_cpu_seconds'] / n * 1e6:.0f} µs, simulator "
              f"{sim['cpu_seconds'] / n * 1e6:.0f} µs; {sim['connections']} connection(s) to the simulator")
    print("DAG file parse: " + ", ".join(f"{k} {v:.2f} s" for k, v in dags["parse_seconds"].items()))
    if airflow:
        print(f"Airflow run of ketenhub_receive_om, {args.airflow_events:,} events ({airflow['state']}): "
              f"{airflow['run_seconds']:.1f} s from queued to done, of which the task {airflow['task_seconds']:.1f} s; "
              f"scheduling overhead {airflow['overhead_seconds']:.1f} s")
    if freshness:
        from freshness import row
        print(row(freshness))
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
