"""Fixtures shared by the delivery tests."""
import pytest

from ketenhub.simulators.dlv import DlvSimulator


@pytest.fixture
def dlv(connection, tmp_path):
    sim = DlvSimulator(store=tmp_path / "dlv-accepted").start()
    connection("dlv", **sim.connection())
    yield sim
    sim.stop()
