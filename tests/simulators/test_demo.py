"""`ketenhub simulate` (what `./hub start` runs): every simulator with demo traffic, and the
Connections that reach them, KbSP's two versions and the Schadefonds included."""
import json
import threading

import pytest

from ketenhub import wiring
from ketenhub.simulators import demo


@pytest.fixture
def simulated(tmp_path, monkeypatch, before_kbsp_switch):
    sims = demo.run(tmp_path / "sims", tmp_path / "cvom", ports={name: 0 for name in demo.PORTS},
                    stop=threading.Event())
    connections = json.loads((tmp_path / "sims" / "connections.json").read_text())
    for name, fields in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(fields))
    yield sims, connections
    for name, sim in sims.items():
        if name != "cjib_inbox":
            sim.stop()


def test_the_demo_serves_the_schadefonds_and_both_kbsp_versions(hub, simulated):
    sims, connections = simulated
    assert {"ketenhub_schadefonds", "ketenhub_kbsp", "ketenhub_kbsp_v2"} <= set(connections)
    (fund,) = wiring.receive(hub, hub.registry.partner("schadefonds"), embedded=False)
    assert fund.state == "accepted" and fund.accepted + len(fund.rejected) == 40 and fund.accepted > 30
    (om,) = wiring.receive(hub, hub.registry.partner("om"), embedded=False)
    assert om.accepted > 450
    report = wiring.deliver(hub, hub.registry.destination("kbsp"), embedded=False)
    kbsp = sims["kbsp"]
    assert report.delivered == len(kbsp.accepted) > 0 and report.failed == 0
    by_version = kbsp.state()["accepted_per_version"]
    assert by_version["v1"] > 0 and by_version["v2"] > 0  # the OM's statuses through v1, the fund's through v2
    assert all(key.startswith("SCHADEFONDS.") for key, v in kbsp.versions.items() if v == "v2")
