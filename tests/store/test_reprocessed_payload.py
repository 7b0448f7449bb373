"""A payload processed again (after a SIGKILL, or once more while unfinished) adds no second
quarantine row and does not count its events again: counters and rows are those of one run."""
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import select, update

from ketenhub.simulators.om import publish
from ketenhub.store.tables import audit, event, payload, quarantine
from tests.conftest import ingest
from tests.support.factories import om_batch, om_event, write_with_marker
from tests.support.store import count



def counters(hub):
    with hub.engine.connect() as conn:
        return conn.execute(select(payload.c.name, payload.c.state, payload.c.events_accepted,
                                   payload.c.events_duplicate, payload.c.events_rejected).order_by(payload.c.id)).all()


def unfinished(hub, name):
    with hub.engine.begin() as conn:
        conn.execute(update(payload).where(payload.c.name == name).values(state="received"))


def test_the_same_payload_processed_twice_adds_no_rows_and_counts_nothing_twice(hub, tmp_path):
    earlier = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261119_001.xml",
                                om_batch([om_event(1), om_event(2)]))
    ingest(hub, "om", earlier)
    events = [om_event(1), om_event(3), om_event(4, bsn="123456789"), om_event(5), om_event(5),
              om_event(6, victim_bsn="111222334"), om_event(7, bsn="123456789")]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    (first,) = ingest(hub, "om", path)
    assert (first.accepted, first.duplicates, len(first.rejected)) == (2, 2, 3)
    before = counters(hub), count(hub, quarantine), count(hub, event), count(hub, audit, audit.c.action == "duplicate-event")
    assert before[0][1][2:] == (2, 2, 3)
    for _ in range(2):
        unfinished(hub, path.name)
        (again,) = ingest(hub, "om", path)
        assert again.state == "accepted" and len(again.rejected) == 3
        after = counters(hub), count(hub, quarantine), count(hub, event), count(hub, audit, audit.c.action == "duplicate-event")
        assert after == before


def test_a_payload_rejected_whole_twice_is_quarantined_once(hub, tmp_path):
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch([om_event(1)]),
                             marker="0" * 64)
    for _ in range(3):
        (report,) = ingest(hub, "om", path)
        assert report.state == "rejected"
    assert count(hub, quarantine) == 1


def test_an_ingest_killed_midway_and_run_again_quarantines_each_event_once(hub, tmp_path):
    events = 12000
    path = publish(tmp_path / "om", "20261120", 1, events, invalid_share=0.05, seed=3)
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url,
               KETENHUB_WORKERS="1")
    hub.engine  # migrated before the process starts
    args = [sys.executable, "-m", "ketenhub.cli", "ingest", "--partner", "om", str(path)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        rows = counters(hub)
        if rows and sum(rows[0][2:]) > 0:  # a transaction of events is in
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    ((_, state, *stored),) = counters(hub)
    assert state == "received" and 0 < sum(stored) < events  # killed in the middle
    quarantined_before = count(hub, quarantine)
    assert quarantined_before > 0

    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # some events are rejected

    ((_, state, accepted, duplicate, rejected),) = counters(hub)
    assert state == "accepted"
    assert (accepted, duplicate) == (count(hub, event), 0)
    assert rejected == count(hub, quarantine) == count(hub, audit, audit.c.action == "quarantined")
    assert accepted + rejected == events
    with hub.engine.connect() as conn:
        ids = conn.scalars(select(quarantine.c.bericht_id)).all()
    assert len(ids) == len(set(ids))
