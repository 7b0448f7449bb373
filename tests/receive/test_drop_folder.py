"""The drop folder never follows a link out of itself, never reads anything but a regular file
of its own, and never shows a partner's file name raw."""
import os
import stat
import subprocess
import sys
import threading

import pytest

from ketenhub.receive.folder import DropFolder, DropFolderError, open_regular
from ketenhub.store.tables import event, payload
from ketenhub.wiring import receive
from tests.conftest import DATA
from tests.support.factories import om_batch, om_event, write_with_marker
from tests.support.store import count

VALID = (DATA / "cvom/beroep-ontvangen.xml").read_bytes()
SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- secret\n"


@pytest.fixture
def outside(tmp_path):
    """Files outside the drop folder: a secret and a valid CVOM event."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "passwords.json").write_bytes(SECRET)
    (d / "valid.xml").write_bytes(VALID)
    (d / "folder").mkdir()
    return d


def kept(hub) -> list[bytes]:
    folder = hub.settings.payloads_dir
    return [p.read_bytes() for p in folder.iterdir()] if folder.exists() else []


def entries(outside, folder):
    """Every kind of entry that is not a regular file of the folder's own, by name."""
    os.symlink(outside / "passwords.json", folder / "secret.xml")
    os.symlink(outside / "valid.xml", folder / "link-outside.xml")
    os.symlink("../../../outside/valid.xml", folder / "relative-link.xml")
    (folder / "target.txt").write_bytes(VALID)
    os.symlink("target.txt", folder / "link-inside.xml")
    os.symlink(outside / "missing.xml", folder / "dangling.xml")
    os.symlink(outside / "folder", folder / "link-to-folder.xml")
    (folder / "folder.xml").mkdir()
    os.mkfifo(folder / "fifo.xml")
    os.link(outside / "valid.xml", folder / "hardlink.xml")
    return ["dangling.xml", "fifo.xml", "folder.xml", "hardlink.xml", "link-inside.xml", "link-outside.xml",
            "link-to-folder.xml", "relative-link.xml", "secret.xml"]


def test_links_and_other_entries_are_refused_without_being_read(hub, cvom, outside):
    partner, folder = cvom
    names = entries(outside, folder)
    (folder / "good.xml").write_bytes(VALID)

    result = []
    reader = threading.Thread(target=lambda: result.extend(receive(hub, partner)))  # a FIFO must not hang it
    reader.start()
    reader.join(60)
    assert not reader.is_alive()

    by_name = {r.name: r for r in result}
    assert sorted(by_name) == sorted(names + ["good.xml"])
    assert by_name["good.xml"].state == "accepted"
    for name in names:
        r = by_name[name]
        assert r.state == "rejected" and r.refused, name
        assert r.problems[0].rule == "file-type"
        error = (folder / "rejected" / f"{name}.error.txt").read_text()
        assert r.problems[0].message in error
    assert "symbolic link" in by_name["secret.xml"].problems[0].message
    assert "not a regular file" in by_name["fifo.xml"].problems[0].message
    assert "hard link" in by_name["hardlink.xml"].problems[0].message
    assert count(hub, payload) == 1 and count(hub, event) == 1  # only good.xml
    assert SECRET not in b"".join(kept(hub))
    # Moved as they are: the links themselves, never what they point to.
    assert os.readlink(folder / "rejected/secret.xml") == str(outside / "passwords.json")
    assert (outside / "passwords.json").read_bytes() == SECRET and (outside / "valid.xml").exists()
    assert not [n for n in os.listdir(folder) if n.endswith(".xml")]


def test_a_link_as_marker_refuses_the_file(hub, tmp_path, outside):
    om = hub.registry.partner("om")
    folder = hub.settings.path(om.receive.folder)
    folder.mkdir(parents=True)
    path = write_with_marker(folder / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch([om_event(1)]))
    marker = path.with_name(path.name + ".sha256")
    (outside / "marker").write_bytes(marker.read_bytes())
    marker.unlink()
    os.symlink(outside / "marker", marker)
    (report,) = receive(hub, om)
    assert report.state == "rejected" and "marker is a symbolic link" in report.problems[0].message
    assert count(hub, payload) == 0
    assert os.path.islink(folder / "rejected" / marker.name)


def test_the_file_read_is_the_file_checked_even_if_its_name_is_swapped(hub, cvom, outside):
    partner, folder = cvom
    (folder / "a.xml").write_bytes(VALID)
    source = DropFolder(folder, partner.receive)
    items = source.ready()
    item = next(items)
    os.replace(folder / "a.xml", outside / "moved-away.xml")
    os.symlink(outside / "passwords.json", folder / "a.xml")  # swapped for a link after the check
    assert open(item.path, "rb").read() == VALID
    source.done(item, True, "")
    assert os.path.islink(folder / "a.xml")  # not moved: it is not what was read
    assert not (folder / "processed").exists() or not os.listdir(folder / "processed")
    items.close()


@pytest.mark.parametrize("sub", ["processed", "rejected"])
def test_a_link_in_place_of_processed_or_rejected_is_not_followed(hub, cvom, outside, sub):
    partner, folder = cvom
    (folder / "good.xml").write_bytes(VALID)
    (folder / "bad.xml").write_bytes(VALID.replace(b"<Bsn>", b"<Bsn>9"))
    os.symlink(outside / "folder", folder / sub)
    with pytest.raises(DropFolderError, match="not a folder of its own"):
        receive(hub, partner)
    assert os.listdir(outside / "folder") == []


NAMES = ["esc\x1b[31mred.xml", "clear\x1b[2J\x1b[H.xml", "bell\x07.xml", "tab\tname.xml", "nl\nname.xml",
         "csi\x9b31m.xml", "bidi\u202egpj.xml", "zw\u200bsp.xml", "ls\u2028.xml", "back\\slash.xml",
         "dots..xml"]


def test_names_with_control_characters_are_refused_and_never_shown_raw(hub, cvom, tmp_path):
    partner, folder = cvom
    for name in NAMES:
        (folder / name).write_bytes(VALID)
    os.close(os.open(os.fsencode(folder) + b"/bad\xffutf8.xml", os.O_CREAT | os.O_WRONLY, 0o644))
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url)
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "-v", "ingest", "--partner", "cvom", str(folder)],
                       env=env, capture_output=True, timeout=120)
    assert r.returncode == 1
    out = r.stdout + r.stderr
    for raw in (b"\x1b", b"\x07", b"\x9b", b"\xc2\x9b", "\u202e".encode(), "\u2028".encode(), b"\xff"):
        assert raw not in out
    assert b"esc\\x1b[31mred.xml: rejected" in r.stdout and b"bad\\udcffutf8.xml" in r.stdout
    made = os.listdir(os.fsencode(folder / "rejected"))
    assert len(made) == 2 * (len(NAMES) + 1)
    assert all(not any(c < 32 or c == 127 for c in n) and b"\xe2\x80\xae" not in n for n in made)
    error = (folder / "rejected" / "esc\\x1b[31mred.xml.error.txt").read_text()
    assert "\x1b" not in error and "control" in error
    assert count(hub, payload) == 0


def test_what_the_hub_moves_out_of_the_folder_is_private(hub, cvom):
    partner, folder = cvom
    (folder / "good.xml").write_bytes(VALID)
    (folder / "bad.xml").write_bytes(VALID.replace(b"<Bsn>", b"<Bsn>9"))
    os.chmod(folder / "good.xml", 0o644)
    receive(hub, partner)
    for path in (folder / "processed", folder / "rejected"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for path in (folder / "processed/good.xml", folder / "rejected/bad.xml", folder / "rejected/bad.xml.error.txt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_report_left_by_a_move_cut_short_is_written_again_with_its_file(hub, cvom):
    """A run stopped after writing a rejected file's report and before moving the file: the next
    run moves the file under its own name beside a new report, not as a resend (bad.1.xml). A
    report with its file, or one that is a link, still keeps the name taken."""
    partner, folder = cvom
    (folder / "rejected").mkdir(mode=0o700)
    (folder / "rejected" / "bad.xml.error.txt").write_text("the run before was stopped here\n")
    (folder / "rejected" / "linked.xml.error.txt").symlink_to(folder / "elsewhere.txt")
    for name in ("bad.xml", "linked.xml"):
        (folder / name).write_bytes(VALID.replace(b"<Bsn>", b"<Bsn>9"))
    receive(hub, partner)
    assert sorted(p.name for p in (folder / "rejected").iterdir()) == [
        "bad.xml", "bad.xml.error.txt", "linked.1.xml", "linked.1.xml.error.txt", "linked.xml.error.txt"]
    assert "stopped" not in (folder / "rejected" / "bad.xml.error.txt").read_text()
    assert not (folder / "elsewhere.txt").exists()


def test_a_run_given_some_names_takes_those_and_opens_no_other(hub, cvom, monkeypatch):
    """As the receiving DAG maps a task per file: the list opens nothing, and a run given one
    name takes that file and leaves the others unopened and in place."""
    from ketenhub import wiring
    from ketenhub.receive import folder as drop_folder

    partner, folder = cvom
    for name in ("a.xml", "b.xml", "c.xml"):
        (folder / name).write_bytes(VALID.replace(b"CVOM-", f"CVOM-{name[0]}".encode()))
    opened = []
    monkeypatch.setattr(drop_folder, "open_regular", lambda path: opened.append(path.name) or open_regular(path))
    assert wiring.ready_files(hub, partner) == ["a.xml", "b.xml", "c.xml"]
    (report,) = receive(hub, partner, names=["b.xml"])
    assert report.name == "b.xml" and count(hub, payload) == 1
    assert sorted(p.name for p in folder.glob("*.xml")) == ["a.xml", "c.xml"]
    assert opened == ["b.xml"]


def test_trace_shows_a_name_stored_before_names_were_checked_escaped(hub, cvom):
    from tests.conftest import ingest
    partner, folder = cvom
    (folder / "x.xml").write_bytes(VALID)
    ingest(hub, "cvom", folder / "x.xml")
    with hub.engine.begin() as conn:
        conn.execute(payload.update().values(name="old\x1b]0;owned\x07\x1b[2J.xml"))
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url)
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "trace", "CVOM-2001"], env=env,
                       capture_output=True, timeout=120)
    assert b"old\\x1b]0;owned\\x07\\x1b[2J.xml" in r.stdout and b"\x1b" not in r.stdout and b"\x07" not in r.stdout


def test_validate_shows_the_file_name_escaped(hub, tmp_path):
    path = tmp_path / "v\x1b[31m\u202e.xml"
    path.write_bytes(VALID)
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url)
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "validate", "--partner", "cvom", str(path)], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 0 and b"v\\x1b[31m\\u202e.xml" in r.stdout and b"\x1b" not in r.stdout
