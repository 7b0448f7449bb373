"""Operators' work on failed deliveries and quarantine: list, show (masked), replay, re-process."""
import dataclasses
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from ketenhub import operations as ops
from ketenhub.adapters import Rule
from ketenhub.deliver.run import deliver
from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.store.tables import audit, delivery, quarantine
from tests.conftest import DATA, ingest


@pytest.fixture
def refused_at_dlv(hub, connection, sample, tmp_path):
    sim = DlvSimulator(store=tmp_path / "dlv").start()
    connection("dlv", "http", host=sim.url)
    for f in sorted((DATA / "cvom").glob("*.xml")):
        ingest(hub, "cvom", sample(f"cvom/{f.name}"))
    sim.misbehave(refuse=["CVOM-2002", "CVOM-2003"])
    deliver(hub, hub.registry.destination("dlv"))
    yield sim
    sim.stop()


def test_list_filters_and_replay_with_dry_run_and_audit(hub, refused_at_dlv):
    failed = ops.list_deliveries(hub, ops.Filter(destination="dlv"))
    assert sorted((r["bericht_id"], r["state"], r["partner"]) for r in failed) == [
        ("CVOM-2002", "failed", "cvom"), ("CVOM-2003", "failed", "cvom")]
    first = next(r for r in failed if r["bericht_id"] == "CVOM-2002")
    assert ops.count_deliveries(hub, ops.Filter(error="beroep is closed")) == 2
    assert ops.count_deliveries(hub, ops.Filter(destination="kbsp")) == 0
    assert ops.replay(hub, ops.Filter(destination="dlv"), "tester", "DLV reopened them", dry_run=True) == 2
    assert ops.count_deliveries(hub, ops.Filter(destination="dlv")) == 2  # a dry run changes nothing
    with pytest.raises(ValueError, match="reason"):
        ops.replay(hub, ops.Filter(destination="dlv"), "tester", " ")
    refused_at_dlv.misbehave(refuse=[])
    assert ops.replay(hub, ops.Filter(ids=(first["id"],)), "tester", "DLV reopened it") == 1
    assert deliver(hub, hub.registry.destination("dlv")).delivered == 1
    assert sorted(refused_at_dlv.accepted) == [f"CVOM-200{i}" for i in (1, 2, 4, 5, 6)]
    with hub.engine.connect() as conn:
        (row,) = conn.execute(select(audit).where(audit.c.action == "replayed")).all()
    assert (row.actor, row.subject_id, row.detail) == ("tester", first["id"], "by tester: DLV reopened it")


def test_show_masks_personal_data_unless_allowed(hub, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.connect() as conn:
        cjib_id = conn.scalar(select(delivery.c.id).where(delivery.c.idempotency_key == "OM-1003.GELDBOETE"))
    masked = ops.show_delivery(hub, cjib_id)
    assert "123456782" not in masked["document"] and "Boef" not in masked["document"]
    assert "<Bedrag>450.50</Bedrag>" in masked["document"] and ops.MASK in masked["document"]
    assert [r["action"] for r in masked["trace"]][:2] == ["received", "accepted"]
    assert "123456782" in ops.show_delivery(hub, cjib_id, personal_data=True)["document"]


def test_an_event_quarantined_for_a_rule_is_accepted_after_the_fix(hub, sample):
    om = hub.registry.partners["om"]
    hub.registry.partners["om"] = dataclasses.replace(om, rules=om.rules + (Rule("false()", "a rule with a bug"),))
    (report,) = ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    assert report.accepted == 0 and len(report.rejected) == 5
    hub.registry.partners["om"] = om  # the fix
    ids = [q["id"] for q in ops.list_quarantine(hub, "om")]
    assert ops.reprocess(hub, ids, "tester", "rule fixed", dry_run=True) == {"accepted": 0, "still_rejected": 0,
                                                                            "selected": 5}
    assert ops.reprocess(hub, ids, "tester", "rule fixed") == {"accepted": 5, "still_rejected": 0, "selected": 5}
    assert ops.list_quarantine(hub, "om") == []
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(delivery)) == 11  # 6 for KbSP, 5 for CJIB
        assert conn.scalar(select(func.count()).select_from(quarantine).where(quarantine.c.state == "reprocessed")) == 5


def test_a_refused_payload_is_read_again_from_its_kept_file(hub, sample):
    om = hub.registry.partners["om"]
    hub.registry.partners["om"] = dataclasses.replace(om, oin="00000099000000029999")  # a wrong setting
    (report,) = ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    assert report.state == "rejected"
    hub.registry.partners["om"] = om
    (q,) = ops.list_quarantine(hub, "om")
    assert ops.reprocess(hub, [q["id"]], "tester", "OIN setting corrected")["accepted"] == 1
    assert ops.list_quarantine(hub, "om") == []


def test_cli_replay_needs_a_reason(hub, tmp_path):
    env = {"KETENHUB_HOME": str(hub.settings.home), "KETENHUB_DATABASE_URL": hub.settings.database_url,
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "deliveries", "replay", "--destination", "dlv"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "reason" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "deliveries", "replay", "--destination", "dlv",
                        "--dry-run", "--reason", "check"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "0 deliveries would be replayed" in r.stdout
