"""Worker processes, spawned or forked: results in order, and a failing or dying worker stops the payload loudly."""
import ctypes.util
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from ketenhub.validate.payload import Region
from ketenhub.workers import PIPE_BYTES, WorkerFailed, Workers, _Child
from tests.support.factories import om_event

HEAD, TAIL = b'<ZaakgebeurtenissenBatch xmlns="urn:keten:om:zaakgebeurtenissen:v1">', b"</ZaakgebeurtenissenBatch>"


def region(*numbers: int) -> Region:
    return Region("".join(om_event(n) for n in numbers).encode(), 10, len(numbers), HEAD, TAIL)


@pytest.fixture(params=["spawned", "forked"])
def workers(request, hub):
    """Workers of either kind: new interpreters, or forks of this process (a feed's pages)."""
    if request.param == "spawned":
        return lambda partner, n: Workers(hub.settings, partner, n)
    return lambda partner, n: Workers.forked(hub, partner, n)


@pytest.mark.parametrize("ahead", [2, 0])  # 0, as a setting could say: still one at a time, none lost
def test_results_come_back_in_the_order_the_regions_went_out(workers, ahead):
    regions = [region(*range(i, i + 3)) for i in range(1, 30, 3)]
    with workers("om", 3) as pool:
        results = list(pool.map(iter(regions), ahead=ahead))
    assert [[bericht_id for bericht_id, *_ in accepted] for accepted, _ in results] == \
        [[f"OM-T-{n:07d}" for n in range(i, i + 3)] for i in range(1, 30, 3)]
    assert all(p.returncode == 0 for p in pool.processes)  # each ended when its pipe closed


@pytest.mark.skipif(int(open("/proc/sys/fs/pipe-max-size").read()) < PIPE_BYTES, reason="pipes this large not allowed here")
def test_a_region_and_its_results_pass_the_pipes_in_few_writes(workers):
    with workers("om", 2) as pool:
        assert {fcntl.fcntl(c.fileno(), fcntl.F_GETPIPE_SZ) for c in pool.requests + pool.results} == {PIPE_BYTES}


def test_an_error_in_a_worker_is_raised_in_the_parent(workers):
    with workers("om", 2) as pool:
        with pytest.raises(WorkerFailed, match="XMLSyntaxError"):
            list(pool.map(iter([region(1), region(2)._replace(data=b"<Zaakgebeurtenis")])))


def test_a_worker_that_dies_is_reported_not_waited_for(workers):
    with workers("om", 2) as pool:
        os.kill(pool.processes[1].pid, signal.SIGKILL)
        pool.processes[1].wait()
        with pytest.raises(WorkerFailed, match="ended unexpectedly"):
            list(pool.map(iter([region(1), region(2)])))


def _fork(then) -> _Child:
    pid = os.fork()
    if pid == 0:
        try:
            then()
        finally:
            os._exit(1)  # never back into pytest
    return _Child(pid)


def _pause_for_ever() -> None:
    while True:
        signal.pause()


def test_a_forked_worker_is_waited_for_as_long_as_asked_and_no_longer():
    """A forked worker's wait, as Popen's: it ends before the timeout and is reaped with its exit
    code, or the timeout passes and it runs on until killed."""
    assert _fork(lambda: os._exit(3)).wait(timeout=10) == 3
    slow = _fork(_pause_for_ever)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            slow.wait(timeout=0.05)
        assert slow.returncode is None and os.waitpid(slow.pid, os.WNOHANG) == (0, 0)  # running, not reaped
    finally:
        slow.kill()
    assert slow.returncode == -signal.SIGKILL


def test_a_worker_that_is_held_up_takes_fewer_regions_and_the_results_stay_in_order(workers):
    """Regions go to whichever worker has the fewest waiting: while one worker is stopped (its
    core busy elsewhere, say), the other takes the regions it can hold and answer ahead of it,
    rather than every other one (two, in turn, before it waits for the stopped one's answer)."""
    sent = []
    with workers("om", 2) as pool:
        for w, requests in enumerate(pool.requests):  # which worker each region goes to
            requests.send = lambda region, w=w, send=requests.send: sent.append(w) or send(region)
        os.kill(pool.processes[0].pid, signal.SIGSTOP)
        try:
            results = pool.map(iter([region(n) for n in range(1, 11)]), ahead=2)
            for _ in range(200):  # until the other has been handed what it may take meanwhile
                if sent.count(1) >= 4:
                    break
                time.sleep(0.05)
            held_up, meanwhile = sent.count(0), sent.count(1)
        finally:
            os.kill(pool.processes[0].pid, signal.SIGCONT)
        answered = [accepted[0][0] for accepted, _ in results]
    assert held_up == 2  # the two it was handed before it stopped answering
    assert meanwhile >= 4
    assert answered == [f"OM-T-{n:07d}" for n in range(1, 11)]


def test_a_region_that_does_not_hold_what_the_scan_counted_stops_the_payload(workers):
    with workers("om", 2) as pool:
        with pytest.raises(WorkerFailed, match="ValueError"):
            list(pool.map(iter([region(1, 2)._replace(events=3)])))


def test_forked_workers_take_the_links_of_events_not_stored_yet(hub):
    """A melding naming its case by registratienummer alone: the links a map brings give it the
    parketnummer's Ketenreferentie, as the store would once the page before is stored."""
    from tests.conftest import DATA
    from tests.store.test_cases import PARKET, REG, keyed
    ns = b'<HaalMeldingenAntwoord xmlns="urn:keten:politie:slachtoffermelding:v1">'
    melding = (DATA / "politie/melding-aangifte.xml").read_bytes().split(b"?>", 1)[1].replace(
        b"  <Parketnummer>13-002157-26</Parketnummer>\n", b"")
    page = Region(melding, 2, 1, ns, b"</HaalMeldingenAntwoord>")

    def reference(links):
        with Workers.forked(hub, "politie", 2) as pool:
            ((accepted, _),) = list(pool.map(iter([page]), links=links))
        return re.search(rb"<Ketenreferentie>([^<]+)<", accepted[0][3])[1].decode()
    assert reference(None) == keyed(REG)
    assert reference({REG: PARKET}) == keyed(PARKET)


def test_a_worker_loads_no_database_layer(hub):
    """What a worker runs needs no store: without SQLAlchemy (and Airflow) it starts in a
    fraction of the time, which at 10,000 events was a fifth of the run."""
    code = ("import sys; from ketenhub.hub import Hub; from ketenhub.processing import EventProcessor; "
            "import ketenhub.workers; h = Hub(); EventProcessor(h, h.registry.partner('om')); "
            "print(sorted(m for m in ('sqlalchemy', 'airflow', 'psycopg2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, KETENHUB_HOME=str(hub.settings.home)))
    assert out.stdout.strip() == "[]"


def test_the_workers_go_on_while_the_caller_pauses_and_stop_when_it_stops(hub):
    """A pause of the caller's (a WAL checkpoint) does not leave the workers idle: regions go
    on being handed out and processed, up to ``waiting`` results not yet taken."""
    import time
    handed_out = []

    def regions():
        for i in range(1, 41):
            handed_out.append(i)
            yield region(i)

    with Workers(hub.settings, "om", 2) as pool:
        results = pool.map(regions(), ahead=1, waiting=10)
        first = next(results)
        for _ in range(100):  # the caller pauses; the workers fill what may wait
            if len(handed_out) >= 2 + 10:
                break
            time.sleep(0.05)
        time.sleep(0.2)
        assert 2 + 10 <= len(handed_out) <= 2 + 10 + 2  # in flight, waiting, and one being offered
        rest = list(results)
    assert [accepted[0][0] for accepted, _ in [first, *rest]] == [f"OM-T-{n:07d}" for n in range(1, 41)]


def test_a_caller_that_stops_taking_results_is_not_kept_waiting(workers):
    with workers("om", 2) as pool:
        results = pool.map(iter([region(i) for i in range(1, 21)]), ahead=1, waiting=2)
        next(results)
        results.close()  # e.g. storing failed: the pump stops, close() does not hang
    assert all(p.returncode is not None for p in pool.processes)


@pytest.mark.skipif(not ctypes.util.find_library("jemalloc"), reason="no jemalloc here")
def test_a_worker_allocates_with_jemalloc_where_the_machine_has_it(hub):
    with Workers(hub.settings, "om", 1) as pool:
        assert list(pool.map(iter([region(1)])))  # it has started and works
        with open(f"/proc/{pool.processes[0].pid}/maps") as maps:
            assert "libjemalloc" in maps.read()


def test_workers_run_this_ketenhub_whatever_the_working_directory(hub, tmp_path, monkeypatch):
    """``python -m`` puts the working directory first on the path: a folder there named
    ketenhub (another checkout, say) must not be what the workers run."""
    other = tmp_path / "elsewhere" / "ketenhub"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise SystemExit('the wrong ketenhub')\n")
    monkeypatch.chdir(other.parent)
    with Workers(hub.settings, "om", 2) as pool:
        ((accepted, rejected),) = list(pool.map(iter([region(1)])))
    assert [bericht_id for bericht_id, *_ in accepted] == ["OM-T-0000001"] and rejected == []


def test_a_worker_that_cannot_start_says_why(hub, tmp_path):
    """A spawned worker sets itself up alone: what stops it (here a mapping missing) reaches the
    parent in words, not as a worker that ended."""
    project = tmp_path / "project"
    project.mkdir()
    for part in ("adapters", "schemas"):
        (project / part).symlink_to(hub.settings.project / part)
    (project / "mappings").mkdir()
    with Workers(replace(hub.settings, project=project), "om", 2) as pool:
        with pytest.raises(WorkerFailed, match=r"failed: FileNotFoundError: mapping .*om.* does not exist"):
            list(pool.map(iter([region(n) for n in range(1, 40)])))
    assert all(p.returncode == 0 for p in pool.processes)
