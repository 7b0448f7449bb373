"""OM over SFTP, against the project's simulator and against a stock OpenSSH server."""
import hashlib
import json
import logging
import os
import subprocess
import sys

import pytest

from ketenhub import wiring
from ketenhub.protocols.sftp import HostKeyError, fingerprint
from ketenhub.receive.sftp import DownloadFailed
from ketenhub.simulators.om import publish
from ketenhub.store.tables import event, payload
from tests.support import sftp_servers
from tests.support.store import count


@pytest.fixture(params=["simulator", "openssh"])
def server(request, tmp_path, connection):
    s = sftp_servers.partner_outbox(request.param, request, tmp_path, connection, "om")
    yield s
    if s.simulator:
        s.simulator.stop()


def receive(hub):
    return wiring.receive(hub, hub.registry.partner("om"))



def test_reads_complete_files_and_archives_them_with_their_marker(hub, server):
    a = publish(server.folder / "outbox", "20261120", 1, 40, seed=1)
    publish(server.folder / "outbox", "20261120", 2, 10, start=41, seed=2, marker=False)  # upload still running
    (report,) = receive(hub)
    assert (report.name, report.state, report.accepted) == (a.name, "accepted", 40)
    assert sorted(p.name for p in (server.folder / "archive").iterdir()) == [a.name, a.name + ".sha256"]
    assert sorted(p.name for p in (server.folder / "outbox").iterdir()) == ["OM_ZAAKGEBEURTENISSEN_20261120_002.xml"]
    assert count(hub, event) == 40
    assert not list((hub.settings.path("work") / "om").glob("*"))  # no local leftovers


def test_a_night_taken_a_file_per_run_lists_complete_files_and_each_run_takes_only_its_own(hub, server):
    """As the receiving DAG maps a task per file: the list holds the complete files only, and a
    run given one name downloads, stores and archives that file and leaves the others."""
    a = publish(server.folder / "outbox", "20261120", 1, 20, seed=1)
    b = publish(server.folder / "outbox", "20261120", 2, 10, start=21, seed=2)
    publish(server.folder / "outbox", "20261120", 3, 5, start=31, seed=3, marker=False)  # upload still running
    om = hub.registry.partner("om")
    assert wiring.ready_files(hub, om) == [a.name, b.name]
    (report,) = wiring.receive(hub, om, names=[b.name])
    assert (report.name, report.accepted) == (b.name, 10)
    assert sorted(p.name for p in (server.folder / "archive").iterdir()) == [b.name, b.name + ".sha256"]
    assert wiring.ready_files(hub, om) == [a.name]
    assert wiring.receive(hub, om, names=[b.name]) == []  # archived: a retry of its task finds nothing
    assert count(hub, event) == 10


def test_same_content_under_another_name_is_archived_without_reprocessing(hub, server):
    publish(server.folder / "outbox", "20261120", 1, 5)
    receive(hub)
    again = publish(server.folder / "outbox", "20261121", 1, 5)  # same content, new name
    (report,) = receive(hub)
    assert report.state == "already-received"
    assert (server.folder / "archive" / again.name).exists()
    assert count(hub, payload) == 1 and count(hub, event) == 5


def test_an_old_marker_on_new_content_is_rejected_not_skipped(hub, server):
    first = publish(server.folder / "outbox", "20261120", 1, 5)
    old_marker = first.with_name(first.name + ".sha256").read_text()
    receive(hub)
    new = publish(server.folder / "outbox", "20261121", 1, 5, start=6)
    new.with_name(new.name + ".sha256").write_text(old_marker)
    (report,) = receive(hub)
    assert report.state == "rejected" and report.problems[0].rule == "marker"
    assert (server.folder / "rejected" / new.name).exists()


def test_a_file_that_does_not_match_its_marker_is_rejected_with_a_reason(hub, server, no_wait):
    bad = publish(server.folder / "outbox", "20261120", 1, 5)
    bad.with_name(bad.name + ".sha256").write_text("0" * 64 + "  " + bad.name + "\n")
    (report,) = receive(hub)
    assert report.state == "rejected" and report.problems[0].rule == "marker"
    error = (server.folder / "rejected" / f"{bad.name}.error.txt").read_text()
    assert "does not match" in error
    assert (server.folder / "rejected" / bad.name).exists()


def test_an_unknown_host_key_is_refused(hub, server, connection):
    other = sftp_servers.simulator(server.folder.parent / "other")
    connection("om", "sftp", **server.with_host_key(other.simulator.host_key_line))
    publish(server.folder / "outbox", "20261120", 1, 5)
    with pytest.raises(HostKeyError, match="refused"):
        receive(hub)
    other.simulator.stop()
    assert count(hub, payload) == 0


def test_no_configured_host_key_is_refused_not_accepted(hub, server, connection):
    fields = dict(server.fields, extra={k: v for k, v in server.fields["extra"].items() if k != "host_key"})
    connection("om", "sftp", **fields)
    with pytest.raises(HostKeyError, match="accepts no unknown host keys"):
        receive(hub)


def test_an_interrupted_download_is_retried_from_scratch(hub, tmp_path, connection, no_wait):
    s = sftp_servers.simulator(tmp_path)
    connection("om", "sftp", **s.fields)
    for folder in ("outbox", "archive"):
        (s.folder / folder).mkdir()
    size = publish(s.folder / "outbox", "20261120", 1, 2000).stat().st_size
    s.simulator.drop_after_bytes = size // 2
    (report,) = receive(hub)
    assert report.accepted == 2000
    assert s.simulator.transferred > size * 1.4  # read twice, the first time half way
    assert count(hub, payload) == 1
    s.simulator.stop()


def test_a_refused_login_fails_the_run_and_the_next_run_loses_nothing(hub, tmp_path, connection):
    s = sftp_servers.simulator(tmp_path)
    connection("om", "sftp", **s.fields)
    for folder in ("outbox", "archive"):
        (s.folder / folder).mkdir()
    publish(s.folder / "outbox", "20261120", 1, 20)
    s.simulator.fail_logins = 1
    import paramiko
    with pytest.raises(paramiko.AuthenticationException):
        receive(hub)  # the task fails visibly; Airflow retries it
    (report,) = receive(hub)
    assert report.accepted == 20 and count(hub, payload) == 1
    s.simulator.stop()


BAD_NAMES = ["OM_ZAAKGEBEURTENISSEN_20261120_000\x1b[2J\x1b[31m.xml", "OM_ZAAKGEBEURTENISSEN_20261120_00\x07.xml",
             "OM_ZAAKGEBEURTENISSEN_20261120_00\u202e.xml", "OM_ZAAKGEBEURTENISSEN_20261120_00\x9b1m.xml",
             "OM_ZAAKGEBEURTENISSEN_20261120_00\n.xml", "OM_ZAAKGEBEURTENISSEN_20261120_0..xml",
             "OM_ZAAKGEBEURTENISSEN_..\\..\\x.xml", "OM_ZAAKGEBEURTENISSEN_" + "9" * 215 + ".xml"]


def put(folder, name: bytes | str, data: bytes = b"<x/>") -> None:
    """A file and its marker under any name the file system takes (bytes: not UTF-8 too)."""
    base = os.fsencode(folder) + b"/" + os.fsencode(name)
    for path, content in ((base, data), (base + b".sha256", hashlib.sha256(data).hexdigest().encode())):
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, content)
        os.close(fd)


def test_bad_names_are_reported_and_skipped_and_the_nightly_file_still_goes_in(hub, server, tmp_path, caplog):
    outbox = server.folder / "outbox"
    for name in BAD_NAMES:
        put(outbox, name)
    put(outbox, b"OM_ZAAKGEBEURTENISSEN_20261120_000\xff\xfe.xml")  # not UTF-8
    (outbox / "OM_ZAAKGEBEURTENISSEN_20261120_0000.xml").mkdir()  # a folder, with a marker
    (outbox / "OM_ZAAKGEBEURTENISSEN_20261120_0000.xml.sha256").write_text("0" * 64)
    (tmp_path / "secret").write_bytes(b"secret")
    os.symlink(tmp_path / "secret", outbox / "OM_ZAAKGEBEURTENISSEN_20261120_0001.xml")
    (outbox / "OM_ZAAKGEBEURTENISSEN_20261120_0001.xml.sha256").write_text(hashlib.sha256(b"secret").hexdigest())
    good = publish(outbox, "20261120", 1, 20)
    if server.simulator:  # a server that lists names no file system holds
        server.simulator.list_also = ["OM_ZAAKGEBEURTENISSEN_../../../../etc/passwd.xml",
                                      "OM_ZAAKGEBEURTENISSEN_../../../../etc/passwd.xml.sha256",
                                      "OM_ZAAKGEBEURTENISSEN_/etc/shadow.xml", "OM_ZAAKGEBEURTENISSEN_/etc/shadow.xml.sha256"]

    with caplog.at_level(logging.INFO):
        reports = receive(hub)

    accepted = [r for r in reports if r.state == "accepted"]
    assert [(r.name, r.accepted) for r in accepted] == [(good.name, 20)]
    refused = [r for r in reports if r.state == "rejected"]
    assert len(refused) == len(BAD_NAMES) + 3 + (2 if server.simulator else 0)
    assert {r.problems[0].rule for r in refused} == {"file-name", "file-type"}
    shown = "\n".join(r.text() for r in reports) + caplog.text
    assert not any(c in shown for c in "\x1b\x07\x9b\u202e") and "\\x1b[2J" in shown and "\\udcff" in shown
    assert "OM_ZAAKGEBEURTENISSEN_20261120_00\\n.xml" in shown
    assert sorted(os.listdir(server.folder / "archive")) == [good.name, good.name + ".sha256"]
    assert count(hub, payload) == 1 and count(hub, event) == 20
    assert len(os.listdir(os.fsencode(outbox))) == 2 * (len(BAD_NAMES) + 3)  # bad ones left where they are
    assert not list((hub.settings.path("work") / "om").glob("*"))


def test_a_file_that_cannot_be_downloaded_does_not_keep_the_next_one_out(hub, tmp_path, connection, no_wait):
    s = sftp_servers.simulator(tmp_path)
    connection("om", "sftp", **s.fields)
    for folder in ("outbox", "archive"):
        (s.folder / folder).mkdir()
    (s.folder / "outbox/OM_ZAAKGEBEURTENISSEN_20261120_000.xml.sha256").write_text("0" * 64)
    s.simulator.list_also = ["OM_ZAAKGEBEURTENISSEN_20261120_000.xml"]  # listed, but it cannot be read
    good = publish(s.folder / "outbox", "20261120", 1, 10)
    with pytest.raises(DownloadFailed, match="OM_ZAAKGEBEURTENISSEN_20261120_000.xml"):
        receive(hub)  # the run fails visibly, after the other file went in
    assert (s.folder / "archive" / good.name).exists() and count(hub, event) == 10
    s.simulator.stop()


def ssh_fingerprint(key_line: str) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", "-"], input=key_line, capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def test_a_changed_host_key_is_one_clear_line_naming_connection_host_and_both_keys(hub, server, tmp_path):
    other = sftp_servers.simulator(tmp_path / "other")
    other.simulator.stop()
    fields = server.with_host_key(other.simulator.host_key_line)  # the server now shows another key
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url,
               AIRFLOW_CONN_KETENHUB_OM=json.dumps({"conn_type": "sftp", **fields}))
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "receive", "--partner", "om"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    line = r.stderr.strip()
    offered, expected = ssh_fingerprint(server.fields["extra"]["host_key"]), ssh_fingerprint(other.simulator.host_key_line)
    for part in ("ketenhub_om", f"127.0.0.1:{fields['port']}", offered, expected, "refused", "fingerprint"):
        assert part in line, (part, line)
    assert line.index(offered) < line.index(expected)
    assert fingerprint(other.simulator.host_key) == expected


@pytest.mark.parametrize("host_key", ["ssh-ed25519 not*base64", "AAAA", "ssh-ed25519 " + "QUFB" * 5])
def test_a_malformed_host_key_in_the_connection_is_a_clear_error(hub, server, connection, host_key):
    connection("om", "sftp", **server.with_host_key(host_key))
    with pytest.raises(HostKeyError, match="ketenhub_om.*host_key is not a public key"):
        receive(hub)
