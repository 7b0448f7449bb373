"""Worker processes that validate, normalise and route the events of a big payload.

Plain child processes (``python -m ketenhub.workers``) with a pipe each way, not a
multiprocessing pool: a pool's spawned children re-import the parent's main module, which in
an Airflow task is Airflow itself, and that fails in a task process. A worker ends when its
pipe closes, so a killed parent leaves no workers behind.

For a run of a feed's pages, ``Workers.forked`` makes them by forking this process instead:
they start with the mappings and schemas it compiled, where a new interpreter would import and
compile them again for every run.
"""
from __future__ import annotations

import contextlib
import ctypes.util
import fcntl
import gc
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING, Iterator

from ketenhub.processing import EventProcessor, from_pipe, split, to_pipe
from ketenhub.settings import Settings

if TYPE_CHECKING:
    from ketenhub.hub import Hub


class WorkerFailed(Exception):
    pass


class Workers:
    """``n`` worker processes; ``map`` hands them regions of a batch and yields the results in order."""

    def __init__(self, settings: Settings, partner: str, n: int):
        env = _environment()
        self._start(n, lambda request_r, result_w: subprocess.Popen(
            # -P: not the working directory first on the path, as -m would put it; see _environment
            [sys.executable, "-P", "-m", "ketenhub.workers", str(request_r), str(result_w)],
            pass_fds=(request_r, result_w), env=env))
        for requests in self.requests:
            requests.send((settings, partner))

    @classmethod
    def forked(cls, hub: "Hub", partner: str, n: int) -> "Workers":
        """``n`` workers forked from this process, each with one processor compiled here first
        and reading the register of cases from the store as this process does. Only while this
        process runs no other thread: a fork copies the calling thread alone, and a lock
        another one held would stay held in the child."""
        processor = EventProcessor(hub, hub.registry.partner(partner))
        hub.engine  # the store made ready here, once, not by each child
        self = cls.__new__(cls)

        def fork(request_r: int, result_w: int) -> _Child:
            pid = os.fork()
            if pid == 0:  # the parent's ends of every pipe closed: a worker sees its own close
                _forked(hub, processor, request_r, result_w, [c.fileno() for c in self.requests + self.results])
            return _Child(pid)
        self._start(n, fork)
        return self

    def _start(self, n: int, launch) -> None:
        """``n`` workers, each started by ``launch`` with its ends of a pipe each way, which this
        process then closes: a worker sees its request pipe close when this process closes its end."""
        self.processes, self.requests, self.results = [], [], []
        self.spoiled = False  # a ``map`` left before its end: results of it may still come
        try:
            for _ in range(n):
                request_r, request_w = os.pipe()
                result_r, result_w = os.pipe()
                _roomy(request_w, result_r)
                self.requests.append(Connection(request_w, readable=False))
                self.results.append(Connection(result_r, writable=False))
                try:
                    self.processes.append(launch(request_r, result_w))
                finally:
                    os.close(request_r)
                    os.close(result_w)
        except BaseException:
            self.close()  # the workers made so far end, and are waited for
            raise

    def map(self, regions: Iterator, ahead: int = 4, waiting: int = 32,
            links: dict[str, str] | None = None) -> Iterator[tuple[list, list]]:
        """Per region its (accepted, rejected) events, as ``processing.split`` gives them. At
        most ``ahead`` regions per worker in flight and ``waiting`` results not yet taken:
        memory stays flat. A thread hands out the regions and takes the results from the call
        on, so that the workers go on while the caller pauses (a WAL checkpoint, say) or does
        other work before it takes the first. One map at a time, taken to its end.

        ``links``: links between case numbers (registratienummer: parketnummer) that events
        not yet stored make, for forked workers to use where the store has none yet."""
        taken: Queue = Queue(maxsize=waiting)
        stopped = threading.Event()

        def offer(item) -> bool:
            while not stopped.is_set():
                try:
                    taken.put(item, timeout=0.1)
                    return True
                except Full:
                    pass
            return False

        def pump() -> None:
            try:
                for result in self._in_order(regions, ahead, links):
                    if not offer((True, result)):
                        return
                offer((True, None))
            except BaseException as e:  # raised where the results are taken
                offer((False, e))

        threading.Thread(target=pump, name="ketenhub-workers", daemon=True).start()
        return self._taken(taken, stopped)

    def _taken(self, taken: Queue, stopped: threading.Event) -> Iterator[tuple[list, list]]:
        ended = False
        try:
            while (item := taken.get()) != (True, None):
                ok, result = item
                if not ok:
                    raise result
                yield result
            ended = True
        finally:
            stopped.set()
            self.spoiled |= not ended

    def _in_order(self, regions: Iterator, ahead: int, links: dict | None) -> Iterator[tuple[list, list]]:
        """The regions' results in their order. A region goes to the worker with the fewest
        waiting for it, and results are taken as they come: a worker whose core is busier (with
        this process, say) takes fewer regions, rather than the others waiting for it. At most
        ``ahead`` per worker in flight, and about as many again answered and waiting for one
        before them."""
        n, ahead = len(self.processes), max(1, ahead)
        given: list[deque[int]] = [deque() for _ in range(n)]  # per worker, the regions it has, by number
        answered: dict[int, tuple[list, list]] = {}
        sent = out = 0
        for w in range(n) if links else ():
            self._send(w, links)
        regions = iter(regions)
        while True:
            while out in answered:
                yield answered.pop(out)
                out += 1
            while regions is not None and len(answered) < ahead * n:
                w = min(range(n), key=lambda i: len(given[i]))
                if len(given[w]) >= ahead:
                    break
                region = next(regions, None)
                if region is None:
                    regions = None
                    break
                self._send(w, region)
                given[w].append(sent)
                sent += 1
            if out == sent and regions is None:
                return
            for conn in wait([self.results[w] for w in range(n) if given[w]]):
                w = self.results.index(conn)
                answered[given[w].popleft()] = self._result(w)

    def _send(self, w: int, region) -> None:
        try:
            self.requests[w].send(region)
        except OSError:  # its end of the pipe is closed
            raise self._ended(w) from None

    def _result(self, w: int) -> tuple[list, list]:
        try:
            ok, value = self.results[w].recv()
        except EOFError:
            raise self._ended(w) from None
        if not ok:
            raise WorkerFailed(f"worker process {self.processes[w].pid} failed: {value}")
        return from_pipe(value)

    def _ended(self, w: int) -> WorkerFailed:
        return WorkerFailed(f"worker process {self.processes[w].pid} ended unexpectedly")

    def close(self) -> None:
        for conn in self.requests + self.results:
            conn.close()  # a worker ends when its request pipe closes
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# What a worker's pipe holds. At the default of 64 KB a region took a write (and its results a
# read) per 64 KB, each taking the GIL back from a parent busy storing: waits that kept the
# workers waiting for their regions. Not more: pipes beyond the default count against a
# per-user budget (fs.pipe-user-pages-soft, 64 MB), shared with every task of the same user.
PIPE_BYTES = 256 << 10


def _roomy(*pipes: int) -> None:
    for fd in pipes:
        with contextlib.suppress(AttributeError, OSError):  # not Linux: the pipe as it is
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _environment() -> dict[str, str]:
    """A worker's environment. It imports this very ketenhub (the folder it is in comes first
    on its path), not one that a working directory or the path may hold besides. And it
    allocates with jemalloc where the machine has it: a worker builds and frees millions of
    small tree nodes, which glibc's allocator does more slowly."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (here, env.get("PYTHONPATH"))))
    jemalloc = ctypes.util.find_library("jemalloc")
    if jemalloc:
        env["LD_PRELOAD"] = " ".join(filter(None, (jemalloc, env.get("LD_PRELOAD"))))
    return env


class _Child:
    """A forked worker, waited for and killed as a spawned one's Popen is."""

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            if end is not None:
                _until_ended(self.pid, end - time.monotonic())
            pid, status = os.waitpid(self.pid, 0 if end is None else os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()


def _until_ended(pid: int, seconds: float) -> None:
    """Until the child ``pid`` ends or ``seconds`` pass: woken the moment it ends (a pidfd), where
    asking now and then waits for the next time asked; without pidfds, a few milliseconds."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3 or later
        time.sleep(min(0.005, max(0.0, seconds)))
        return
    try:
        ended = select.poll()  # not select.select, which takes no descriptor above 1023
        ended.register(fd, select.POLLIN)
        ended.poll(max(0.0, seconds) * 1000)
    finally:
        os.close(fd)


def _forked(hub: "Hub", processor: EventProcessor, requests: int, results: int, inherited: list[int]) -> None:
    """A forked worker's life: it never returns into the parent's code, and ends without the
    parent's exit handlers (which would close the parent's database connections)."""
    code = 1
    try:
        gc.freeze()  # first: a collection would touch, and so copy, every page of the parent's heap
        from ketenhub.store import cases
        from ketenhub.xml import xslt

        for fd in inherited:
            os.close(fd)
        for s in (signal.SIGTERM, signal.SIGINT):  # not the task's handlers: the parent's to act on
            signal.signal(s, signal.SIG_DFL)
        logging.disable()  # the parent's log handlers (in a task: a socket to Airflow) are not its to write to
        _INHERITED.append(hub.engine.pool)  # the parent's connections: never closed here
        hub.engine.dispose(close=False)  # connections of its own
        register = cases.Register(hub.engine)
        xslt.use_register(register)
        _work(processor, Connection(requests, writable=False), Connection(results, readable=False),
              register.pending.update)
        code = 0
    except BaseException as e:  # the parent sees the pipe close; the type alone, as messages may quote personal data
        with contextlib.suppress(OSError):
            os.write(2, f"ketenhub worker {os.getpid()} failed: {type(e).__name__}\n".encode())
    finally:
        os._exit(code)


_INHERITED: list = []


def _serve(requests: Connection, results: Connection) -> None:
    from ketenhub.hub import Hub

    settings, partner = requests.recv()
    try:
        hub = Hub(settings)
        processor = EventProcessor(hub, hub.registry.partner(partner))
    except Exception as e:  # a missing key or mapping: told to the parent in words, as no event was read yet
        with contextlib.suppress(EOFError, OSError):  # OSError: the parent has gone on already
            results.send_bytes(pickle.dumps((False, f"{type(e).__name__}: {e}"), pickle.HIGHEST_PROTOCOL))
            while True:  # until the parent, told, closes the pipe: its regions are not left to block it
                requests.recv_bytes()
        return
    # What is alive now (modules, compiled schemas and mappings) stays alive: the garbage
    # collector need not walk it again each time it runs while regions pass.
    gc.freeze()
    _work(processor, requests, results)


def _work(processor: EventProcessor, requests: Connection, results: Connection, links=None) -> None:
    """Regions processed until the request pipe closes; ``links``: takes the links a dict
    between them brings (forked workers, ``Workers.map``)."""
    # Requests are read by a thread of their own, so the parent can always hand over the next
    # region while this one's results are still being written.
    inbox: Queue = Queue()

    def read() -> None:
        try:
            while True:
                inbox.put(requests.recv())
        except (EOFError, OSError):
            inbox.put(None)

    threading.Thread(target=read, daemon=True).start()
    # Results are written by a thread of their own too, so that this one goes on with the next
    # region while the parent has not yet read the last (it reads them in file order).
    outbox: Queue = Queue()

    def write() -> None:
        while (answer := outbox.get()) is not None:
            try:
                results.send_bytes(answer)
            except OSError:  # the parent is gone
                os._exit(0)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    while (region := inbox.get()) is not None:
        if isinstance(region, dict):
            if links is not None:
                links(region)
            continue
        try:
            answer = (True, to_pipe(split(processor.process_region(region))))
        except Exception as e:  # reported to the parent, which stops the payload; by type only,
            answer = (False, type(e).__name__)  # as messages may quote personal data
        outbox.put(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
    outbox.put(None)
    writer.join()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
