"""What one payload may cost: an event larger than the partner takes is refused without being
parsed, a reason names a bounded number of problems, and memory stays bounded by the limits,
not by the input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from ketenhub.adapters import Limits
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import Files
from tests.support.factories import om_batch, om_event, write_with_marker

# Run in a process of its own, which reports its peak memory (in MB) and the report.
INGEST = """
import json, sys
from pathlib import Path
from ketenhub.hub import Hub
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import Files
hub = Hub()
partner = hub.registry.partner(sys.argv[1])
(report,) = ingest_source(hub, partner, Files([Path(sys.argv[2])], partner.receive))
# VmHWM, not ru_maxrss: that keeps the peak of the process before its exec (the test's, here)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps(dict(state=report.state, accepted=report.accepted, rejected=report.rejected, peak_mb=peak / 1024)))
"""


def ingest_apart(hub, partner: str, path) -> dict:
    env = {**os.environ, "KETENHUB_WORKERS": "1"}  # the hub's own KETENHUB_HOME and database
    done = subprocess.run([sys.executable, "-c", INGEST, partner, str(path)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline(hub, tmp_path) -> float:
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_000.xml", om_batch([om_event(900)]))
    return ingest_apart(hub, "om", path)["peak_mb"]


def attributes(n: int) -> str:
    return " ".join(f"a{i}='{i}'" for i in range(n))


def test_oversized_events_are_refused_unparsed_and_memory_stays_bounded(hub, tmp_path, database_url):
    if database_url.startswith("postgresql"):
        pytest.skip("memory is the reading's, not the store's")
    start = baseline(hub, tmp_path)
    huge_text = "x" * (3 << 20)
    cases = {
        # an event with 200,000 attributes: 3 MB, refused by size before anything parses it
        "attributes": [om_event(1), om_event(2).replace("<Zaakgebeurtenis>", f"<Zaakgebeurtenis {attributes(200_000)}>"),
                       om_event(3)],
        # 30 events of 3 MB each, valid but for their size
        "big-events": [om_event(n).replace("<Voornamen>Karel", f"<Voornamen>{huge_text}") for n in range(1, 31)]
                      + [om_event(31)],
    }
    for name, events in cases.items():
        path = write_with_marker(tmp_path / f"OM_ZAAKGEBEURTENISSEN_20261120_{len(name):03d}.xml", om_batch(events))
        report = ingest_apart(hub, "om", path)
        too_large = [(b, r) for b, r in report["rejected"] if "rule: size" in r]
        assert report["state"] == "accepted" and len(too_large) == len(events) - report["accepted"]
        assert all("limits.event_bytes" in r and len(r) < 500 for _, r in too_large)
        assert [b for b, _ in too_large] == (["OM-T-0000002"] if name == "attributes"
                                             else [f"OM-T-{n:07d}" for n in range(1, 31)])
        # Bounded by the limits, not by the input: the file is ~100 MB, its largest event 3 MB.
        assert report["peak_mb"] - start < 120, (name, report["peak_mb"], start)


def test_a_reason_names_a_bounded_number_of_problems(hub, tmp_path):
    om = hub.registry.partner("om")
    om = replace(om, limits=Limits(event_bytes=8 << 20, errors_per_event=5))  # let the 3 MB event be parsed
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(
        [om_event(1).replace("<Zaakgebeurtenis>", f"<Zaakgebeurtenis {attributes(200_000)}>")]))
    (report,) = ingest_source(hub, om, Files([path], om.receive))
    ((bericht_id, reason),) = report.rejected
    assert bericht_id == "OM-T-0000001"
    assert reason.count("is not allowed here") == 5 and "and 199995 more problems, not listed" in reason
    assert len(reason) < 2000


def test_a_payload_over_its_limit_is_refused_whole_and_kept(hub, tmp_path):
    om = replace(hub.registry.partner("om"), limits=Limits(payload_bytes=10_000))
    data = om_batch([om_event(n) for n in range(1, 30)])
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data)
    (report,) = ingest_source(hub, om, Files([path], om.receive))
    assert report.state == "rejected" and "limits.payload_bytes" in report.text()
    assert (hub.settings.payloads_dir / f"{report.sha256}.xml").read_bytes() == data


def test_a_cvom_file_larger_than_an_event_may_be_is_rejected_with_its_reason(hub, tmp_path):
    from tests.conftest import DATA, ingest
    data = (DATA / "cvom/beroep-ontvangen.xml").read_text().replace("</BeroepGebeurtenis>",
                                                                     "<!--" + "x" * (2 << 20) + "--></BeroepGebeurtenis>")
    path = tmp_path / "groot.xml"
    path.write_text(data)
    (report,) = ingest(hub, "cvom", path)
    ((bericht_id, reason),) = report.rejected
    assert bericht_id and "rule: size" in reason and report.accepted == 0
