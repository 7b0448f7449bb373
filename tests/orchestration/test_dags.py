"""The Airflow side: DAGs generated from adapters/, importing cleanly and cheaply, and running."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketenhub import adapters, settings
from ketenhub.settings import PROJECT_DIR
from tests.support.airflow_db import migrated

REGISTRY = adapters.load(settings.load())


def airflow_env(tmp_path: Path, **extra) -> dict:
    """The project's airflow.cfg, with Airflow's own state in a scratch folder."""
    env = dict(os.environ, AIRFLOW_HOME=str(PROJECT_DIR), KETENHUB_HOME=str(tmp_path / "hub"),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}",
               AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(tmp_path / "logs"), **extra)
    env.pop("KETENHUB_DATABASE_URL", None)
    return env


def python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=300)


def test_every_adapter_gets_a_dag_and_none_fails_to_import(tmp_path):
    r = python("""
import json
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import AssetOrTimeSchedule
bag = DagBag(dag_folder="dags")

def timetable(t):
    if isinstance(t, AssetOrTimeSchedule):  # the time part, and the assets it also runs on
        return [*timetable(t.timetable)[:3], [t.asset_condition.uri]]
    return [type(t).__name__, str(getattr(t, "timezone", "")), getattr(t, "expression", None) or
            str(getattr(t, "delta", "")), []]

print(json.dumps({"errors": bag.import_errors, "dags": {
    d.dag_id: [*timetable(d.timetable)[:3], [t.task_id for t in d.tasks], timetable(d.timetable)[3],
               {t.task_id: [o.name for o in t.outlets] for t in d.tasks if t.outlets}]
    for d in bag.dags.values()}}))
""", airflow_env(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["errors"] == {}
    expected = ({f"ketenhub_receive_{p}" for p in REGISTRY.partners} | {f"ketenhub_deliver_{d}" for d in REGISTRY.destinations}
                | {f"ketenhub_deadline_{p.partner}" for p in REGISTRY.partners.values() if p.receive.deadline}
                | {"ketenhub_audit_verify", "ketenhub_retention", "ketenhub_health"})
    assert {"ketenhub_deadline_om", "ketenhub_deadline_schadefonds"} <= expected
    assert set(out["dags"]) == expected
    # The OM's night of files: listed, then a task each (mapped), then one announcing what they routed.
    assert out["dags"]["ketenhub_receive_om"] == ["CronTriggerTimetable", "Europe/Amsterdam", "30 2 * * *",
                                                  ["ready_files", "ingest", "announce"], [],
                                                  {"announce": ["ketenhub_routed_by_om"]}]
    assert out["dags"]["ketenhub_receive_schadefonds"] == ["CronTriggerTimetable", "Europe/Amsterdam", "0 3 * * *",
                                                           ["ready_files", "ingest", "announce"], [],
                                                           {"announce": ["ketenhub_routed_by_schadefonds"]}]
    assert out["dags"]["ketenhub_receive_politie"] == ["DeltaTriggerTimetable", "", "0:00:30", ["ingest"], [],
                                                       {"ingest": ["ketenhub_routed_by_politie"]}]
    assert out["dags"]["ketenhub_receive_cvom"][3:] == [["ingest"], [], {"ingest": ["ketenhub_routed_by_cvom"]}]
    # KbSP and DLV: on what receiving routed to them, or their safety cron; CJIB's nightly batch on its cron only.
    assert out["dags"]["ketenhub_deliver_kbsp"][:5] == ["CronTriggerTimetable", "Europe/Amsterdam", "*/10 * * * *",
                                                        ["send", "check_backlog"], ["ketenhub://routed/kbsp"]]
    assert out["dags"]["ketenhub_deliver_dlv"][:5] == ["CronTriggerTimetable", "Europe/Amsterdam", "*/10 * * * *",
                                                       ["send", "check_backlog"], ["ketenhub://routed/dlv"]]
    assert out["dags"]["ketenhub_deliver_cjib"][:5] == ["CronTriggerTimetable", "Europe/Amsterdam", "0 4 * * *",
                                                        ["send", "check_backlog"], []]
    assert out["dags"]["ketenhub_deadline_om"][1:4] == ["Europe/Amsterdam", "0 6 * * *", ["check_arrival"]]
    assert out["dags"]["ketenhub_audit_verify"][1:4] == ["Europe/Amsterdam", "30 5 * * *", ["verify_chain"]]
    assert out["dags"]["ketenhub_retention"][1:4] == ["Europe/Amsterdam", "45 4 * * *", ["purge"]]
    assert out["dags"]["ketenhub_health"][1:4] == ["Europe/Amsterdam", "*/5 * * * *", ["measure"]]


def test_a_partner_adapter_that_does_not_load_is_an_import_error_and_the_others_run_on(tmp_path):
    """A typo in one partner's adapter leaves out its DAGs and says why in Airflow's import
    errors; every other partner's and destination's DAG is there."""
    import shutil
    project = tmp_path / "project"
    for folder in ("adapters", "schemas", "mappings"):
        shutil.copytree(PROJECT_DIR / folder, project / folder)
    adapter = project / "adapters" / "cvom.yaml"
    adapter.write_text(adapter.read_text().replace("rules:", "rulse:", 1))
    r = python("""
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="dags")
print(json.dumps({"errors": {k.rsplit("/", 1)[-1]: v for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags)}))
""", airflow_env(tmp_path, KETENHUB_PROJECT=str(project)))
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(out["errors"]) == ["ketenhub_adapter_errors.py"] and "cvom.yaml: rulse: no such setting" in \
        out["errors"]["ketenhub_adapter_errors.py"]
    assert "ketenhub_receive_cvom" not in out["dags"]
    assert {"ketenhub_receive_om", "ketenhub_deliver_dlv"} <= set(out["dags"])


def test_dag_file_import_touches_no_database_schema_or_mapping(tmp_path):
    """Parsing the DAG file must stay cheap: no engine, no compiled XSD or XSLT, no files written."""
    r = python(f"""
import runpy
runpy.run_path({str(PROJECT_DIR / 'dags/ketenhub_dags.py')!r})
from ketenhub.store import db
from ketenhub.xml.schema import compile_schema
from ketenhub.xml.xslt import stylesheet
print(db.engine.cache_info().currsize, compile_schema.cache_info().currsize, stylesheet.cache_info().currsize)
""", airflow_env(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split()[-3:] == ["0", "0", "0"]
    assert not (tmp_path / "hub").exists()


@pytest.mark.timeout(300)
def test_receive_and_deliver_dags_run_with_folders_from_airflow_connections(tmp_path):
    """A real DAG run (dag.test) of the CVOM receiving DAG and the DLV delivering DAG, their
    folders set through AIRFLOW_CONN_* Connections, as an operator would configure them."""
    drop, outbox = tmp_path / "cvom-drop", tmp_path / "dlv-out"
    drop.mkdir()
    for f in (PROJECT_DIR / "tests/data/cvom").glob("*.xml"):
        (drop / f.name).write_bytes(f.read_bytes())
    env = airflow_env(
        tmp_path,
        AIRFLOW_CONN_KETENHUB_CVOM=json.dumps({"conn_type": "fs", "extra": {"path": str(drop)}}),
        AIRFLOW_CONN_KETENHUB_DLV=json.dumps({"conn_type": "fs", "extra": {"path": str(outbox)}}))
    migrated(env)
    r = python("""
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="dags")
for dag_id in ("ketenhub_receive_cvom", "ketenhub_deliver_dlv"):
    print("RESULT", dag_id, bag.dags[dag_id].test().state)
""", env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [line.split()[1:] for line in r.stdout.splitlines() if line.startswith("RESULT")] == [
        ["ketenhub_receive_cvom", "success"], ["ketenhub_deliver_dlv", "success"]]
    assert "XCom not found" not in r.stdout + r.stderr  # the senders' reports read without asking past the last
    assert len(list((drop / "processed").glob("*.xml"))) == 6
    assert len(list(outbox.glob("KETENHUB_DLV_*.xml"))) == 6
    assert not (tmp_path / "hub" / "inbox").exists()  # the Connection's folders were used, not the defaults


@pytest.mark.timeout(300)
def test_audit_verify_dag_logs_the_head_and_fails_when_the_trail_lost_its_tail(tmp_path):
    """Two nights of ketenhub_audit_verify (dag.test): the first logs the head and keeps it in
    the Variable ketenhub_audit_head; then the trail's tail is cut off and audit_head moved back
    to match, which the database alone cannot show, and the second night fails on the head kept."""
    import sqlite3

    env = airflow_env(tmp_path)
    migrated(env)
    night = """
from airflow.dag_processing.dagbag import DagBag
from airflow.models import Variable  # read from Airflow's metadata database, as the UI shows it
bag = DagBag(dag_folder="dags")
print("RESULT", bag.dags["ketenhub_audit_verify"].test().state)
"""
    sample = PROJECT_DIR / "tests/data/om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"
    first = python(f"""
from pathlib import Path
from ketenhub.hub import Hub
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import Files
hub = Hub()
om = hub.registry.partner("om")
ingest_source(hub, om, Files([Path({str(sample)!r})], om.receive))
{night}
import json
print("HEAD", json.dumps(Variable.get("ketenhub_audit_head", deserialize_json=True)))
""", env)
    assert "RESULT success" in first.stdout, first.stdout[-3000:] + first.stderr[-3000:]
    head = json.loads(next(line for line in first.stdout.splitlines() if line.startswith("HEAD"))[5:])
    # the payload received, its 5 events (each naming the deliveries it made), the payload accepted
    assert (head["last_id"], head["rows"]) == (7, 7)
    logged = f"audit trail intact: 7 rows; its head (last row:sha256) is 7:{head['hash']}"
    assert logged in first.stdout + first.stderr  # the task's log

    db = sqlite3.connect(tmp_path / "hub" / "ketenhub.db")
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("DELETE FROM audit WHERE id > 4")
    db.execute("UPDATE audit_head SET last_id = 4, hash = (SELECT hash FROM audit WHERE id = 4)")
    db.commit()
    db.close()
    second = python(night, env)
    assert "RESULT failed" in second.stdout, second.stdout[-3000:] + second.stderr[-3000:]
    assert ("audit trail BROKEN at row 5: the chain was truncated: the head logged by ketenhub_audit_verify for "
            f"{head['night']} is row 7, but the trail ends at row 4") in second.stdout + second.stderr


def test_retention_dag_purges_and_pseudonymises_with_the_chain_intact(tmp_path):
    """A night of ketenhub_retention (dag.test) on a hub whose deliveries were settled 200 days
    ago: the events are purged, the audit rows about them pseudonymised, the chain still intact;
    the task log holds counts only."""
    env = airflow_env(tmp_path)
    migrated(env)
    sample = PROJECT_DIR / "tests/data/om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"
    r = python(f"""
from pathlib import Path
from sqlalchemy import text
from ketenhub.hub import Hub
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import Files
from ketenhub.store.audit_chain import verify
hub = Hub()
om = hub.registry.partner("om")
ingest_source(hub, om, Files([Path({str(sample)!r})], om.receive))
with hub.engine.begin() as conn:
    conn.execute(text("UPDATE delivery SET state = 'delivered', updated_at = '2020-01-01 00:00:00'"))
    conn.execute(text("UPDATE event SET received_at = '2020-01-01 00:00:00'"))
    conn.execute(text("UPDATE payload SET received_at = '2020-01-01 00:00:00'"))
from airflow.dag_processing.dagbag import DagBag
print("RESULT", DagBag(dag_folder="dags").dags["ketenhub_retention"].test().state)
with hub.engine.connect() as conn:
    print("LEFT", conn.scalar(text("SELECT count(*) FROM event WHERE length(canonical) > 0")),
          conn.scalar(text("SELECT count(*) FROM audit WHERE bericht_digest IS NOT NULL")))
print("VERIFY", verify(hub.engine).text())
""", env)
    out = r.stdout + r.stderr
    assert "RESULT success" in r.stdout, out[-3000:]
    assert "om: events 5" in out and "om: payloads 1" in out and "kbsp: deliveries" in out
    left, pseudonymised = next(line for line in r.stdout.splitlines() if line.startswith("LEFT")).split()[1:]
    assert left == "0" and int(pseudonymised) >= 5
    assert "VERIFY audit trail intact" in r.stdout
    assert "123456782" not in out and "OM-1001" not in out


def test_a_receiving_task_logs_the_first_rejections_reasons_in_the_hubs_words(monkeypatch):
    from ketenhub.orchestration import dags
    from ketenhub.pipeline import Report
    from ketenhub.xml.problems import Problem

    many = Report("om", "OM_1.xml", "accepted", rejected=[(f"OM-{n}", f"line {n}, element /Bsn: elfproef")
                                                          for n in range(8)])
    refused = Report("om", "OM_2\x1b.xml", "rejected", problems=[Problem("marker", "the marker does not match")])
    lines = []

    class Log:  # Airflow's logging takes over the root logger: the lines as the task would log them
        def warning(self, message, *args):
            lines.append(message % args)
    monkeypatch.setattr(dags, "log", Log())
    dags._log_rejections([refused, many])
    assert lines[0].startswith("payload OM_2") and "\x1b" not in lines[0] and "the marker does not match" in lines[0]
    assert lines[1:6] == [f"event OM-{n} of OM_1.xml rejected: line {n}, element /Bsn: elfproef" for n in range(5)]
    assert lines[6] == "... and 3 more rejected events: see Quarantine in the Airflow UI"


@pytest.mark.timeout(600)
def test_a_replays_run_answers_for_what_it_sent_a_scheduled_run_for_the_backlog(tmp_path):
    """Five CJIB opdrachten dead (alert above 0); one replayed: the run the replay starts (conf
    replay) delivers it and is green though four are still dead; a scheduled run is red for them."""
    outbox = tmp_path / "cjib-out"
    env = airflow_env(tmp_path, AIRFLOW_CONN_KETENHUB_CJIB=json.dumps({"conn_type": "fs",
                                                                       "extra": {"path": str(outbox)}}))
    migrated(env)
    sample = PROJECT_DIR / "tests/data/om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"
    r = python(f"""
from dataclasses import replace
from pathlib import Path
from sqlalchemy import select
from airflow.dag_processing.dagbag import DagBag
from ketenhub import operations as ops
from ketenhub.hub import Hub
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import Files
from ketenhub.store.tables import delivery
from ketenhub.wiring import deliver
from tests.support.factories import Unreachable
hub = Hub()
om = hub.registry.partner("om")
ingest_source(hub, om, Files([Path({str(sample)!r})], om.receive))
deliver(hub, replace(hub.registry.destination("cjib"), max_attempts=1), Unreachable())
with hub.engine.connect() as conn:
    first = conn.scalar(select(delivery.c.id).where(delivery.c.state == "dead").order_by(delivery.c.id))
ops.replay(hub, ops.Filter(ids=(first,)), "tester", "one back")
dag = DagBag(dag_folder="dags").dags["ketenhub_deliver_cjib"]
print("RESULT", dag.test(run_conf={{"replay": True}}).state)
print("RESULT", dag.test().state)
""", env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("RESULT")] == ["success", "failed"]
    assert len(list(outbox.glob("*.xml"))) == 1


@pytest.mark.timeout(300)
def test_shns_feed_runs_in_its_dag_and_a_410_fails_the_task_without_retries(tmp_path):
    """ketenhub_receive_shn (dag.test) against the SHN simulator over two-way TLS, its Connection
    as an operator sets it: a run that stores the events, then a run that SHN answers 410, which
    fails for an operator at once rather than waiting for retries."""
    from ketenhub.simulators.shn import ShnSimulator

    sim = ShnSimulator().start()
    try:
        sim.add(7)
        env = airflow_env(tmp_path, AIRFLOW_CONN_KETENHUB_SHN=json.dumps(sim.connection()))
        migrated(env)
        code = """
from airflow.dag_processing.dagbag import DagBag
run = DagBag(dag_folder="dags").dags["ketenhub_receive_shn"].test()
print("RESULT", run.state, [ti.state for ti in run.get_task_instances()])
"""
        first = python(code, env)
        assert first.returncode == 0, first.stderr[-3000:]
        assert first.stdout.split("RESULT")[-1].split() == ["success", "['success']"]
        assert sim.state()["handed_out"] == 7
        sim.shn_misbehave(gone=True)
        second = python(code, env)
        assert second.stdout.split("RESULT")[-1].split() == ["failed", "['failed']"]  # not up_for_retry
        assert "HTTP 410" in second.stdout + second.stderr
    finally:
        sim.stop()


@pytest.mark.timeout(300)
def test_a_dag_without_its_connection_fails_at_once_and_says_which(tmp_path):
    """A DAG task never falls back to a folder under KETENHUB_HOME (the command line does): a
    missing Connection fails the receiving and the delivering task at once, naming it, rather
    than after retries that cannot help."""
    env = airflow_env(tmp_path)
    migrated(env)
    r = python("""
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="dags")
for dag_id in ("ketenhub_receive_cvom", "ketenhub_deliver_dlv"):
    run = bag.dags[dag_id].test()
    print("RESULT", dag_id, run.state, sorted(str(ti.state) for ti in run.get_task_instances()))
""", env)
    assert r.returncode == 0, r.stderr[-3000:]
    results = [line.split(None, 3)[1:] for line in r.stdout.splitlines() if line.startswith("RESULT")]
    assert [(dag_id, state) for dag_id, state, _ in results] == [("ketenhub_receive_cvom", "failed"),
                                                                  ("ketenhub_deliver_dlv", "failed")]
    assert all("up_for_retry" not in states for _, _, states in results)
    for name in ("KETENHUB_CVOM", "KETENHUB_DLV"):
        assert f"no Airflow Connection {name.lower()}: add it" in r.stdout + r.stderr


@pytest.mark.parametrize("refusal", ["FeedAlert", "MissingConnection", "CallNotMade"])
def test_what_an_operator_must_set_right_fails_the_task_without_retries(refusal):
    """A refused certificate or a plain-HTTP address is mended by no retry, as a missing Connection is not."""
    from airflow.exceptions import AirflowFailException

    from ketenhub.orchestration.dags import _failing_at_once
    from ketenhub.protocols.soap import CallNotMade
    from ketenhub.receive.rest import FeedAlert
    from ketenhub.wiring import MissingConnection
    error = {"FeedAlert": FeedAlert("SHN: 410"), "MissingConnection": MissingConnection("no Connection"),
             "CallNotMade": CallNotMade("HaalMeldingen: the server's certificate was refused", "TlsRefused")}[refusal]
    with pytest.raises(AirflowFailException, match=str(error)):
        with _failing_at_once():
            raise error
    with pytest.raises(ValueError):  # anything else: the task's retries
        with _failing_at_once():
            raise ValueError("transient")
