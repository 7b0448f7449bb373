"""Worker processes: results in order, and a failing or dying worker stops the payload loudly."""
import os
import signal

import pytest

from ketenhub.workers import WorkerFailed, Workers
from tests.factories import om_event

NS = 'xmlns="urn:keten:om:zaakgebeurtenissen:v1"'


def cut(n: int) -> tuple[bytes, int]:
    return om_event(n).strip().replace("<Zaakgebeurtenis>", f"<Zaakgebeurtenis {NS}>", 1).encode(), 10 * n


def test_results_come_back_in_the_order_the_chunks_went_out(hub):
    chunks = [[cut(n) for n in range(i, i + 3)] for i in range(1, 30, 3)]
    with Workers(hub.settings, "om", 3) as pool:
        results = list(pool.map(iter(chunks), ahead=2))
    assert [[r.bericht_id for r in chunk] for chunk in results] == \
        [[f"OM-T-{n:07d}" for n in range(i, i + 3)] for i in range(1, 30, 3)]


def test_an_error_in_a_worker_is_raised_in_the_parent(hub):
    with Workers(hub.settings, "om", 2) as pool:
        with pytest.raises(WorkerFailed, match="XMLSyntaxError"):
            list(pool.map(iter([[cut(1)], [(b"<Zaakgebeurtenis", 5)]])))


def test_a_worker_that_dies_is_reported_not_waited_for(hub):
    with Workers(hub.settings, "om", 2) as pool:
        os.kill(pool.processes[1].pid, signal.SIGKILL)
        pool.processes[1].wait()
        with pytest.raises(WorkerFailed, match="ended unexpectedly"):
            list(pool.map(iter([[cut(1)], [cut(2)]])))
