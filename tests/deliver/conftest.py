"""Fixtures shared by the delivery tests."""
import pytest

from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.simulators.kbsp import KbspSimulator


@pytest.fixture
def dlv(connection, tmp_path):
    sim = DlvSimulator(store=tmp_path / "dlv-accepted").start()
    connection("dlv", **sim.connection())
    yield sim
    sim.stop()


@pytest.fixture
def kbsp(connection, tmp_path):
    """The portal simulator, both its versions' Connections (ketenhub_kbsp, ketenhub_kbsp_v2) set."""
    sim = KbspSimulator(store=tmp_path / "kbsp-accepted").start()
    for name, fields in sim.connections().items():
        connection(name, **fields)
    yield sim
    sim.stop()
