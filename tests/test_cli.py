"""The ketenhub command as an operator uses it: a real process, state under KETENHUB_HOME."""
import os
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from ketenhub.settings import PROJECT_DIR
from tests.conftest import DATA
from tests.support.airflow_db import migrated
from tests.support.factories import om_batch, om_event, write_with_marker

pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # KbSP v1 until 2027-03-01


@pytest.fixture
def run(tmp_path, database_url):
    def ketenhub(*args, home=tmp_path / "home", db=database_url, **extra_env):
        env = dict(os.environ, KETENHUB_HOME=str(home), **extra_env)
        env = {k: v for k, v in env.items() if v is not None}
        env.pop("KETENHUB_DATABASE_URL", None)
        if db:  # else the default: a SQLite file under KETENHUB_HOME
            env["KETENHUB_DATABASE_URL"] = db
        return subprocess.run([sys.executable, "-m", "ketenhub.cli", *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=120)
    return ketenhub


def test_a_schema_that_is_not_there_is_named_in_a_line(run, tmp_path):
    """A setup error, as the README says: its line and exit 2, no traceback, and no line of the
    store's migrations that a first command runs."""
    project = tmp_path / "project"
    for folder in ("adapters", "schemas", "mappings"):
        shutil.copytree(PROJECT_DIR / folder, project / folder)
    adapter = project / "adapters" / "cvom.yaml"
    adapter.write_text(adapter.read_text().replace("schema: cvom/wahv-beroep-v1.xsd", "schema: cvom/v9.xsd"))
    r = run("validate", "--partner", "cvom", DATA / "cvom/beslissing-gedeeltelijk-gegrond.xml",
            KETENHUB_PROJECT=str(project))
    assert r.returncode == 2 and r.stderr.strip().endswith("cvom/v9.xsd does not exist"), r.stderr
    assert "Traceback" not in r.stderr and "alembic" not in r.stderr, r.stderr


def test_status_names_a_partner_whose_adapter_does_not_load_and_the_others_work(run, tmp_path):
    project = tmp_path / "project"
    for folder in ("adapters", "schemas", "mappings"):
        shutil.copytree(PROJECT_DIR / folder, project / folder)
    adapter = project / "adapters" / "cvom.yaml"
    adapter.write_text(adapter.read_text().replace("rules:", "rulse:", 1))
    status = run("status", KETENHUB_PROJECT=str(project))
    assert status.returncode == 0 and "in trouble: cvom receives nothing: its adapter does not load: cvom.yaml: " \
        "rulse: no such setting" in status.stdout, status.stdout + status.stderr
    assert run("validate", "--partner", "om", DATA / "om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
               KETENHUB_PROJECT=str(project)).returncode == 0
    refused = run("validate", "--partner", "cvom", DATA / "cvom/beslissing-gedeeltelijk-gegrond.xml",
                  KETENHUB_PROJECT=str(project))
    assert refused.returncode == 2 and "cvom.yaml: rulse" in refused.stderr
    every = run("receive", KETENHUB_PROJECT=str(project))  # from every partner: the others are received
    assert every.returncode == 1 and "not received, its adapter does not load: cvom.yaml: rulse" in every.stderr


def test_validate_prints_plain_errors_and_exits_1(run, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text((DATA / "cvom/beslissing-gedeeltelijk-gegrond.xml").read_text()
                   .replace("<NieuwSanctiebedrag>119.5</NieuwSanctiebedrag>", "")
                   .replace("<Bsn>100000046</Bsn>", "<Bsn>100000047</Bsn>"))
    r = run("validate", "--partner", "cvom", bad)
    assert r.returncode == 1
    assert "line 7, element /BeroepGebeurtenis/Indiener/Bsn: the BSN fails the elfproef" in r.stdout
    good = run("validate", "--partner", "cvom", DATA / "cvom/beslissing-gegrond.xml")
    assert good.returncode == 0 and "valid" in good.stdout
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("*.db-wal"))


def test_ingest_deliver_status_and_trace(run, tmp_path):
    events = [om_event(1), om_event(2, victim_bsn="111222334", bsn="123456789")]  # two BSNs fail the elfproef
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    r = run("ingest", "--partner", "om", path)
    assert r.returncode == 1  # something was rejected
    assert "1 accepted" in r.stdout and "rejected event OM-T-0000002" in r.stdout
    r = run("deliver", "--destination", "kbsp")
    assert r.returncode == 0 and "kbsp: 1 delivered" in r.stdout
    assert len(list((tmp_path / "home/outbox/kbsp").glob("KETENHUB_KBSP_*.xml"))) == 1
    status = run("status").stdout
    rows = {tuple(line.split()) for line in status.splitlines() if line.startswith("  ")}
    assert {("om", "accepted", "1"), ("kbsp", "delivered", "1"), ("om", "open", "1")} <= rows
    sections = re.findall(r"^\w+:\n((?:  .*\n)+)", status, re.M)
    assert len(sections) == 4 and all(len({len(line) for line in section.splitlines()}) == 1 for section in sections)
    trace = run("trace", "OM-T-0000001").stdout.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T  ", line) for line in trace), trace  # Amsterdam time
    actions = [re.match(r"\S+ \S+ \S+  (\w+) \d+(?: \(.*?\))?\s+([\w-]+)", line).groups() for line in trace]
    assert actions == [("payload", "received"), ("event", "accepted"),  # naming the delivery it made, pending
                       ("payload", "accepted"), ("delivery", "sending"), ("delivery", "delivered")]
    assert re.search(r"routed to kbsp:\S+ \(delivery \d+\)", "\n".join(trace))
    rejected = run("trace", "OM-T-0000002").stdout
    assert "quarantined" in rejected and "elfproef" in rejected and "Slachtoffer/Bsn" in rejected
    reason = [line for line in rejected.splitlines() if "elfproef" in line]
    assert len(reason) == 2 and reason[1].startswith(" " * 40), rejected  # its second line under its first
    assert run("trace", "NIEMAND").returncode == 1
    # A payload all of whose events were rejected: its trace says so, as ingest and status do.
    only = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_002.xml",
                             om_batch([om_event(3, victim_bsn="111222334")]))
    assert "rejected (each of its events was)" in run("ingest", "--partner", "om", only).stdout
    lines = run("trace", "OM-T-0000003").stdout.splitlines()
    assert [line.split()[-1] for line in lines if "OM_ZAAKGEBEURTENISSEN_20261120_002" in line][-1] == "was)"
    assert not any(line.rstrip().endswith(" accepted") for line in lines), lines


def test_two_hubs_side_by_side_share_nothing(run, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    melding = DATA / "politie/melding-aangifte.xml"
    assert run("ingest", "--partner", "politie", melding, home=a, db=None).returncode == 0
    assert re.search(r"politie +accepted", run("status", home=a, db=None).stdout)
    assert "politie" not in run("status", home=b, db=None).stdout
    assert (a / "ketenhub.db").exists() and (b / "ketenhub.db").exists()


def test_ingest_a_folder_follows_the_drop_folder_rules(run, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.xml").write_bytes((DATA / "cvom/beroep-ontvangen.xml").read_bytes())
    (drop / "b.xml.part").write_bytes(b"<half")
    r = run("ingest", "--partner", "cvom", drop)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (drop / "processed/a.xml").exists() and (drop / "b.xml.part").exists()


def test_unknown_partner_is_a_clear_usage_error(run, tmp_path):
    r = run("validate", "--partner", "rdw", DATA / "cvom/beroep-ontvangen.xml")
    assert r.returncode == 2 and "unknown partner 'rdw'" in r.stderr and "cvom" in r.stderr


KEY_VARIABLE = "AIRFLOW_VAR_KETENHUB_KETENREFERENTIE_KEY"


@pytest.mark.parametrize("key", [None, "", "too-short-to-be-a-key"])
def test_without_a_usable_key_the_hub_refuses_to_ingest(run, tmp_path, key):
    r = run("ingest", "--partner", "politie", DATA / "politie/melding-aangifte.xml", AIRFLOW_HOME=None,
            **{KEY_VARIABLE: key})
    assert r.returncode == 2 and "ketenhub_ketenreferentie_key" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    status = run("status").stdout
    assert "accepted" not in status and "open" not in status  # nothing stored, nothing quarantined


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_keys_init_creates_the_variable_once_and_the_hub_uses_it(run, tmp_path):
    airflow = dict(AIRFLOW_HOME=str(tmp_path / "airflow"), **{KEY_VARIABLE: None},
                   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}")
    early = run("keys", "init", **airflow)  # before Airflow's database is set up: says so, in one line
    assert early.returncode == 2 and "Run `airflow db migrate`" in early.stderr
    assert "Traceback" not in early.stdout + early.stderr, early.stderr[-2000:]
    migrated({k: v for k, v in dict(os.environ, **airflow).items() if v is not None})
    assert run("ingest", "--partner", "politie", DATA / "politie/melding-aangifte.xml", **airflow).returncode == 2
    plain = run("keys", "init", **airflow, AIRFLOW__CORE__FERNET_KEY="")  # Airflow would store it readable
    assert plain.returncode == 2 and "no Fernet key" in plain.stderr, plain.stdout + plain.stderr
    airflow["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    first = run("keys", "init", **airflow)
    assert first.returncode == 0 and "created" in first.stdout
    with sqlite3.connect(tmp_path / "airflow.db") as db:  # encrypted: its value is not the key itself
        ((stored, encrypted),) = db.execute("SELECT val, is_encrypted FROM variable WHERE key = ?",
                                            ("ketenhub_ketenreferentie_key",)).fetchall()
    assert encrypted and len(Fernet(airflow["AIRFLOW__CORE__FERNET_KEY"]).decrypt(stored.encode())) == 43
    again = run("keys", "init", **airflow)
    assert again.returncode == 0 and "exists" in again.stdout
    # Another Fernet key, or none: the key stored is neither replaced nor read as its encrypted text.
    for command, fernet_key, why in (
            (("keys", "init"), Fernet.generate_key().decode(), "does not decrypt it"),
            (("ingest", "--partner", "politie", DATA / "politie/melding-aangifte.xml"), "", "no Fernet key")):
        refused = run(*command, **dict(airflow, AIRFLOW__CORE__FERNET_KEY=fernet_key))
        assert refused.returncode == 2 and why in refused.stderr and "do not make a new key" in refused.stderr, \
            refused.stdout + refused.stderr
    assert run("status", **dict(airflow, AIRFLOW__CORE__FERNET_KEY="")).returncode == 0  # it needs no key
    with sqlite3.connect(tmp_path / "airflow.db") as db:
        assert db.execute("SELECT val FROM variable WHERE key = ?", ("ketenhub_ketenreferentie_key",)).fetchall() \
            == [(stored,)]
    assert "politie  accepted" not in run("status").stdout
    r = run("ingest", "--partner", "politie", DATA / "politie/melding-aangifte.xml", **airflow)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "politie  accepted" in run("status").stdout


def test_cases_conflicts_lists_a_case_with_two_published_references(run, tmp_path):
    melding = tmp_path / "melding.xml"  # the police name the case by registratienummer alone
    melding.write_text((DATA / "politie/melding-aangifte.xml").read_text()
                       .replace("  <Parketnummer>13-002157-26</Parketnummer>\n", ""))
    assert run("ingest", "--partner", "politie", melding).returncode == 0
    r = run("cases", "conflicts")
    assert r.returncode == 0 and "no case with two Ketenreferenties" in r.stdout
    assert run("ingest", "--partner", "om", DATA / "om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml").returncode == 0
    r = run("cases", "conflicts")
    assert r.returncode == 1, r.stderr
    assert "1 cases for which two Ketenreferenties" in r.stdout
    assert "registratienummer PL07B3 2026123456-1 = parketnummer 13/002157-26" in r.stdout
    assert "by om OM-1001" in r.stdout
    from tests.store.test_cases import keyed
    before = next(line for line in r.stdout.splitlines() if "published under the registratienummer" in line)
    after = next(line for line in r.stdout.splitlines() if "under the parketnummer" in line)
    assert re.findall(r"KR-\w+", before) == [keyed("PL07B3 2026123456-1")]  # Anna's, with no news wish of S2's
    assert keyed("13/002157-26") in after  # Anna's again: one victim, two references


def test_a_file_of_rejected_events_reads_as_rejected_and_its_quarantine_says_where_each_begins(run, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text((DATA / "cvom/beslissing-gedeeltelijk-gegrond.xml").read_text()
                   .replace("<Bsn>100000046</Bsn>", "<Bsn>100000047</Bsn>"))
    r = run("ingest", "--partner", "cvom", bad)
    assert r.returncode == 1 and r.stdout.splitlines()[0] == "cvom bad.xml: rejected (each of its events was)"
    payloads = run("status").stdout.split("events:")[0]  # as the ingest said, not as accepted
    assert re.search(r"cvom +rejected \(each of its events was\) +1\n", payloads) and "accepted" not in payloads
    listed = run("quarantine", "list").stdout
    assert "event from line 2" in listed and "line 7, element /BeroepGebeurtenis/Indiener/Bsn" in listed
    # A longer partner name keeps the columns in line.
    name = "SCHADEFONDS_AANVRAGEN_20270315_001.xml"
    (tmp_path / name).write_text((DATA / "schadefonds" / name).read_text().replace("628194821", "628194822"))
    assert run("ingest", "--partner", "schadefonds", tmp_path / name).returncode == 1
    rows = [line for line in run("quarantine", "list").stdout.splitlines() if re.match(r" *\d+ \d{4}-", line)]
    assert sorted(r.split()[4] for r in rows) == ["cvom", "schadefonds"]  # id, date, time, zone, partner
    assert len({r.index(r.split()[5]) for r in rows}) == 1, rows  # and their BerichtIds in one column
    # Re-processed by a filter, not by IDs: a filter that selects it, one that does not, none at all.
    chosen = run("quarantine", "reprocess", "--partner", "cvom", "--reason-text", "elfproef", "--reason", "r", "--dry-run")
    assert chosen.stdout.startswith("1 open items would be re-processed"), chosen.stdout + chosen.stderr
    assert run("quarantine", "reprocess", "--partner", "om", "--reason", "r", "--dry-run").stdout.startswith("0 open")
    unnamed = run("quarantine", "reprocess", "--reason", "r")
    assert unnamed.returncode == 2 and "--partner" in unnamed.stderr
