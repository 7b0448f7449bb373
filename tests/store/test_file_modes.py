"""What the hub writes under KETENHUB_HOME holds personal data or secrets: every file 0600 and
every folder 0700, made so by the code that writes them, whatever the caller's umask."""
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ketenhub.simulators import demo
from ketenhub.simulators.om import publish
from tests.support import sftp_servers
from tests.conftest import DATA

VALID = (DATA / "cvom/beroep-ontvangen.xml").read_bytes()


def not_private(root: Path, skip=()) -> list[str]:
    """Every file under ``root`` that is not 0600 and every folder (itself included) not 0700."""
    found = []
    for folder, _, files in os.walk(root):
        for path in [Path(folder)] + [Path(folder) / f for f in files]:
            st = os.lstat(path)
            if path in skip or stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) != (0o700 if stat.S_ISDIR(st.st_mode) else 0o600):
                found.append(f"{path.relative_to(root)} {stat.S_IMODE(st.st_mode):o}")
    return found


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # as a shell usually has it
    yield
    os.umask(old)


def ketenhub(home, *args, env=None):
    command = " ".join(map(str, [sys.executable, "-m", "ketenhub.cli", *args]))
    return subprocess.run(["bash", "-c", f"umask 022; exec {command}"], capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, KETENHUB_HOME=str(home), **(env or {})))


def test_ingest_and_receive_leave_nothing_readable_to_others(tmp_path, open_umask):
    home = tmp_path / "home"
    drop = home / "inbox" / "cvom"
    drop.mkdir(parents=True)  # the hub's home and the partner's folder, as the operator made them
    for name, body in (("good.xml", VALID), ("bad.xml", VALID.replace(b"<Bsn>", b"<Bsn>9"))):
        (drop / name).write_bytes(body)
        os.chmod(drop / name, 0o644)  # as a partner's writer leaves it
    env = {"KETENHUB_DATABASE_URL": ""}  # the embedded default: a SQLite file under KETENHUB_HOME
    r = ketenhub(home, "ingest", "--partner", "cvom", drop, env=env)
    assert r.returncode == 1, r.stderr  # bad.xml is rejected

    s = sftp_servers.simulator(tmp_path / "om")
    for folder in ("outbox", "archive"):
        (s.folder / folder).mkdir()
    publish(s.folder / "outbox", "20261120", 1, 5)
    conn = json.dumps({"conn_type": "sftp", **s.fields})
    r = ketenhub(home, "receive", "--partner", "om", env={**env, "AIRFLOW_CONN_KETENHUB_OM": conn})
    s.simulator.stop()
    assert r.returncode == 0, r.stdout + r.stderr

    assert (home / "ketenhub.db").exists() and list((home / "payloads").iterdir())
    assert (drop / "processed/good.xml").exists() and (drop / "rejected/bad.xml.error.txt").exists()
    assert (home / "work/om").is_dir()
    # What the operator made stays as made: a partner's account may need to reach its drop folder.
    assert not_private(home, skip={home, home / "inbox", drop}) == []


def test_an_older_database_is_made_private_when_the_hub_opens_it(tmp_path, open_umask):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ketenhub.db").touch(mode=0o644)
    os.chmod(home / "ketenhub.db", 0o644)
    r = ketenhub(home, "status", env={"KETENHUB_DATABASE_URL": ""})
    assert r.returncode == 0, r.stderr
    for name in ("ketenhub.db", "ketenhub.db-wal", "ketenhub.db-shm"):
        if (home / name).exists():
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


def test_the_simulators_keep_their_login_key_and_what_they_received_private(tmp_path, open_umask):
    workdir = tmp_path / "simulators"
    stop = threading.Event()
    sims = demo.run(workdir, tmp_path / "cvom", ports={name: 0 for name in demo.PORTS}, stop=stop)
    try:
        connections = json.loads((workdir / "connections.json").read_text())
        assert "PRIVATE KEY" in json.loads(connections["ketenhub_om"]["extra"])["private_key"]
        assert stat.S_IMODE((workdir / "connections.json").stat().st_mode) == 0o600
        assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
        for name in ("om", "cjib"):
            assert stat.S_IMODE(sims[name].root.stat().st_mode) == 0o700
    finally:
        for name in ("politie", "kbsp", "dlv", "om", "cjib"):
            sims[name].stop()
