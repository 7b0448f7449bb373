"""SIGKILL at any moment of ingest or delivery loses nothing and duplicates nothing.

A real `ketenhub` process is killed many times at different moments of its work; then the
work is run to the end, and what the store and the destination have is counted."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from lxml import etree
from sqlalchemy import func, select

from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.simulators.om import publish
from ketenhub.store.tables import audit, delivery, event, payload
from tests.conftest import expire_leases
from tests.support.store import count

pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # KbSP v1 until 2027-03-01

KILLS = 5


def env_for(hub, **extra):
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url,
               **extra)
    return env


def kill_at_random_moments(args, env, rng, window, after_each=lambda: None, progress=None):
    """Start the command KILLS times and SIGKILL it after a random moment inside ``window``,
    counted from its start, or, with ``progress`` (a count that grows as the work is done),
    every other time (the first included) from when that count first grew: however fast the
    work has become, those kills land in it."""
    finished = 0
    for n in range(KILLS):
        after_each()
        before = progress() if progress else None
        proc = subprocess.Popen([sys.executable, "-m", "ketenhub.cli", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if progress and n % 2 == 0:
            while proc.poll() is None and progress() == before:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))
        else:
            time.sleep(rng.uniform(*window))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        else:
            finished += 1
        proc.wait()
    return finished



def orphaned_workers(hub) -> list[int]:
    """Worker processes of this test's hub still alive (their parent was killed)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as c, open(f"/proc/{pid}/environ", "rb") as e:
                cmdline, environ = c.read(), e.read().split(b"\0")
        except OSError:
            continue
        if b"ketenhub.workers" in cmdline and f"KETENHUB_HOME={hub.settings.home}".encode() in environ:
            found.append(int(pid))
    return found


@pytest.mark.timeout(600)
def test_ingest_killed_again_and_again_stores_every_event_once(hub, tmp_path):
    rng = random.Random(7)
    events = 20000  # big enough for worker processes (Tuning.parallel_from) to take part
    path = publish(tmp_path / "om", "20261120", 1, events)
    env = env_for(hub, KETENHUB_WORKERS="2")
    hub.engine  # migrate before the first kill, so kills fall in the work itself
    finished = kill_at_random_moments(["ingest", "--partner", "om", str(path)], env, rng, (1.0, 4.0),
                                      progress=lambda: count(hub, audit))  # a chunk writes its audit rows
    assert finished < KILLS  # the kills did interrupt the work
    for _ in range(20):  # a worker ends when its pipe closes, i.e. as its parent dies
        if not orphaned_workers(hub):
            break
        time.sleep(0.25)
    assert orphaned_workers(hub) == []
    done = subprocess.run([sys.executable, "-m", "ketenhub.cli", "ingest", "--partner", "om", str(path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert count(hub, event) == events
    assert count(hub, payload) == 1 and count(hub, payload, payload.c.state == "accepted") == 1
    with hub.engine.connect() as conn:
        keys = conn.scalars(select(delivery.c.idempotency_key)).all()
        assert len(keys) == len(set(keys))
        per_event = conn.execute(select(event.c.bericht_id, func.count(delivery.c.id)).join(
            delivery, delivery.c.event_id == event.c.id, isouter=True).group_by(event.c.bericht_id)).all()
    assert len(per_event) == events


@pytest.mark.timeout(600)
def test_delivery_killed_again_and_again_reaches_the_portal_once_each(hub, tmp_path, sample):
    rng = random.Random(11)
    from tests.conftest import ingest
    ingest(hub, "om", publish(tmp_path / "om", "20261120", 1, 1500))
    expected = count(hub, delivery, delivery.c.destination == "kbsp")
    portal = KbspSimulator(store=tmp_path / "portal").start()
    portal.misbehave(delay=0.05)  # each call takes a moment, so kills land inside calls too
    env = env_for(hub, AIRFLOW_CONN_KETENHUB_KBSP=json.dumps(portal.connection()))
    # Each time, the killed worker's lease runs out before the next one starts.
    kill_at_random_moments(["deliver", "--destination", "kbsp"], env, rng, (2.5, 5.0), lambda: expire_leases(hub))
    expire_leases(hub)
    portal.misbehave(delay=0)
    done = subprocess.run([sys.executable, "-m", "ketenhub.cli", "deliver", "--destination", "kbsp"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert count(hub, delivery, delivery.c.destination == "kbsp", delivery.c.state == "delivered") == expected
    assert len(portal.accepted) == expected  # every status once at the portal, none lost
    stored = {etree.parse(str(f)).getroot().findtext("{urn:keten:kbsp:zaakstatus:v1}BerichtId")
              for f in portal.store.glob("*.xml")}
    assert len(stored) == expected
    portal.stop()


@pytest.mark.timeout(600)
def test_drop_folder_killed_mid_group_stores_every_file_once(hub, tmp_path):
    """Small files are stored a group at a time (pipeline.ingest_source): a kill inside a group
    loses none of its files and stores none twice, and every file ends archived or rejected."""
    from ketenhub.simulators import cvom
    from ketenhub.store.audit_chain import verify
    rng = random.Random(11)
    cvom_partner = hub.registry.partner("cvom")
    folder = hub.settings.path(cvom_partner.receive.folder)
    files = cvom.publish(folder, 600, invalid_share=0.02)
    names = {p.name for p in files}
    env = env_for(hub, KETENHUB_GROUP_PAYLOADS="40")
    hub.engine
    finished = kill_at_random_moments(["receive", "--partner", "cvom"], env, rng, (0.5, 3.0),
                                      progress=lambda: count(hub, payload))  # a group commits its payloads
    assert finished < KILLS
    done = subprocess.run([sys.executable, "-m", "ketenhub.cli", "receive", "--partner", "cvom"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: some files were rejected
    archived = {p.name for p in (folder / "processed").glob("*.xml")}
    rejected = {p.name for p in (folder / "rejected").glob("*.xml")}
    assert not list(folder.glob("*.xml")) and archived | rejected == names and not archived & rejected
    assert rejected and all((folder / "rejected" / f"{n}.error.txt").exists() for n in rejected)
    assert count(hub, payload) == len(names)  # each file once, however often it was read
    assert count(hub, event) == len(archived)  # a CVOM file holds one event
    with hub.engine.connect() as conn:
        keys = conn.scalars(select(delivery.c.idempotency_key)).all()
        counted = conn.execute(select(func.sum(payload.c.events_accepted), func.sum(payload.c.events_rejected))).one()
        without = conn.scalar(select(func.count()).select_from(event).where(
            ~select(delivery.c.id).where(delivery.c.event_id == event.c.id).exists()))
    assert len(keys) == len(set(keys)) and without == 0  # each event's deliveries made once, none lost
    assert tuple(counted) == (len(archived), len(rejected))
    assert verify(hub.engine).intact
