"""Operators' work on failed deliveries and quarantine: list, show (masked), replay, re-process."""
import dataclasses
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
from lxml import etree
from sqlalchemy import func, insert, select

from ketenhub import operations as ops
from ketenhub.adapters import Rule
from ketenhub.store.audit import Entry, record
from ketenhub.clock import now
from ketenhub.wiring import deliver
from ketenhub.deliver.transports import FolderTransport
from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.simulators.kbsp import NS as KBSP, KbspSimulator
from ketenhub.store.tables import audit, delivery, event, payload, quarantine
from tests.conftest import DATA, ingest


@pytest.fixture
def refused_at_dlv(hub, connection, sample, tmp_path):
    sim = DlvSimulator(store=tmp_path / "dlv").start()
    connection("dlv", **sim.connection())
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
    assert ops.count_deliveries(hub, ops.Filter(error="beroep is closed", personal_data=True)) == 2
    # Without the right to see personal data a search finds only the hub's own words: DLV's body
    # is not searchable, else matches would spell it out.
    assert ops.count_deliveries(hub, ops.Filter(error="beroep is closed")) == 0
    assert ops.count_deliveries(hub, ops.Filter(error="HTTP 422")) == 2
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
    # Delivered now: a dry run counts it as the replay would, not at all; named, the replay says so.
    delivered = ops.Filter(ids=(first["id"],), states=("delivered",))
    assert ops.replay(hub, delivered, "tester", "again", dry_run=True) == 0
    env = {"KETENHUB_HOME": str(hub.settings.home), "KETENHUB_DATABASE_URL": hub.settings.database_url,
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "deliveries", "replay", str(first["id"]), "--reason",
                        "again", "--yes"], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "0 deliveries replayed: none that matches is failed" in r.stderr, r.stdout + r.stderr


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
    r = subprocess.run([sys.executable, "-m", "ketenhub.cli", "deliveries", "list", "--since", "yesterday"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "'yesterday': not a time; write it as 2026-12-07" in r.stderr, r.stderr


# Personal data in the sample events a destination could quote back: BSNs and names.
PERSONAL = ["111222333", "100000009", "123456782", "Anna", "Jansen", "Pietersen", "Karel", "Boef", "100000046"]
ECHO = " ".join(PERSONAL)


class EchoingPortal(KbspSimulator):
    """A portal that answers every item with ``code`` and quotes the victim's data back in its
    Reden, or (``fault``) fails the call with a faultstring that does."""
    code, fault_all = "AFGEWEZEN", False

    def handle(self, h, method, body):
        if method == "POST" and self.fault_all:
            return self.fault("soap:Server", "cannot process " + " ".join(etree.fromstring(body).itertext()) + ECHO)
        return super().handle(h, method, body)

    def operation(self, name, request):
        answer = etree.Element(f"{{{KBSP}}}PubliceerZaakstatusAntwoord", nsmap={None: KBSP})
        for item in request:
            result = etree.SubElement(answer, f"{{{KBSP}}}Resultaat")
            etree.SubElement(result, f"{{{KBSP}}}BerichtId").text = item.findtext(f"{{{KBSP}}}BerichtId")
            etree.SubElement(result, f"{{{KBSP}}}Code").text = self.code
            etree.SubElement(result, f"{{{KBSP}}}Reden").text = "unknown: " + " ".join(item.itertext()) + ECHO
        return answer


class EchoingDlv(DlvSimulator):
    """DLV answering ``status`` with the request and the appellant's data in its body."""
    status = 422

    def handle(self, h, method, body):
        return self.status, {}, body + f" bsn {ECHO}".encode()


class RefusingCjib(FolderTransport):
    """CJIB moving every file to rejected/ afterwards, with a reason that quotes the person."""

    def refused(self):
        return {name.name: f"{name.name} moved to rejected/ by CJIB: {ECHO}" for name in self.folder.glob("*.xml")}


def what_a_viewer_sees(hub) -> str:
    """Everything the Deliveries page and the CLI show who may not see personal data."""
    seen = []
    for states in (("failed", "dead"), ("pending",)):
        for r in ops.list_deliveries(hub, ops.Filter(states=states)):
            d = ops.show_delivery(hub, r["id"])
            seen += [repr(r), d["document"], repr(d["trace"])]
            seen += [str(d[k]) for k in ("destination", "recipient", "partner", "bericht_id", "idempotency_key",
                                         "state", "attempts", "last_error", "created_at", "updated_at")]
    return "\n".join(seen)


def assert_nothing_personal(hub, seen: str) -> None:
    assert seen.strip(), "nothing was shown at all"
    leaked = [v for v in PERSONAL if v in seen]
    assert not leaked, leaked
    for value in PERSONAL[:3]:  # nor can a search tell whether a hidden text holds it
        assert ops.count_deliveries(hub, ops.Filter(states=("failed", "dead", "pending"), error=value)) == 0


@pytest.mark.parametrize("code,fault", [("AFGEWEZEN", False), ("TIJDELIJK_NIET_VERWERKT", False),
                                        ("111222333", False), ("Jansen", False), (None, True)])
def test_what_the_portal_writes_back_is_hidden_from_viewers(hub, sample, connection, no_wait, code, fault,
                                                           before_kbsp_switch):
    portal = EchoingPortal().start()
    portal.code, portal.fault_all = code, fault
    try:
        connection("kbsp", **portal.connection())
        ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
        ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
        deliver(hub, replace(hub.registry.destination("kbsp"), max_attempts=1 if code == "111222333" else 5))
    finally:
        portal.stop()
    seen = what_a_viewer_sees(hub)
    assert_nothing_personal(hub, seen)
    # The hub's own words stay: the code it knows, or the type of the error, and how much is hidden.
    expected = {"AFGEWEZEN": "KbSP: AFGEWEZEN [text from KbSP hidden: ", "TIJDELIJK_NIET_VERWERKT":
                "KbSP: TIJDELIJK_NIET_VERWERKT [text from KbSP hidden: ", None: "SoapFault [text from KbSP hidden: "}
    assert expected.get(code, "KbSP [text from KbSP hidden: ") in seen
    # Who may see personal data sees it all, on the list, the delivery and its trace.
    row = ops.list_deliveries(hub, ops.Filter(states=("failed", "dead", "pending")), personal_data=True)[0]
    full = ops.show_delivery(hub, row["id"], personal_data=True)
    assert "111222333" in row["last_error"] and "111222333" in full["last_error"]
    assert any("111222333" in (r["detail"] or "") for r in full["trace"])
    assert ops.count_deliveries(hub, ops.Filter(states=("failed", "dead", "pending"), error="111222333",
                                                personal_data=True)) > 0


@pytest.mark.parametrize("status", [422, 503, 500])
def test_what_dlv_writes_back_is_hidden_from_viewers(hub, sample, connection, no_wait, status):
    dlv = EchoingDlv().start()
    dlv.status = status
    try:
        connection("dlv", **dlv.connection())
        for name in ("beroep-ontvangen.xml", "beslissing-gegrond.xml"):
            ingest(hub, "cvom", sample(f"cvom/{name}"))
        deliver(hub, hub.registry.destination("dlv"))
    finally:
        dlv.stop()
    seen = what_a_viewer_sees(hub)
    assert_nothing_personal(hub, seen)
    assert f"DLV: HTTP {status} [text from DLV hidden: " in seen


def test_what_cjib_writes_back_about_a_refused_file_is_hidden_from_viewers(hub, sample, tmp_path):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    cjib = RefusingCjib(tmp_path / "cjib")
    deliver(hub, hub.registry.destination("cjib"), cjib)
    report = deliver(hub, hub.registry.destination("cjib"), cjib)
    assert report.failed == 5
    seen = what_a_viewer_sees(hub)
    assert_nothing_personal(hub, seen)
    assert "CJIB: refused after delivery [text from CJIB hidden: " in seen


def test_an_error_text_from_before_the_split_is_hidden_whole(hub, sample):
    """Rows written before the hub kept its own words apart: nothing to tell them by, so all hidden."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.begin() as conn:
        conn.execute(delivery.update().where(delivery.c.destination == "cjib").values(
            state="failed", last_error=f"KbSP: AFGEWEZEN: {ECHO}"))
        ids = conn.scalars(select(delivery.c.id).where(delivery.c.destination == "cjib")).all()
        record(conn, [Entry("delivery", i, "failed", detail=f"X.xml: KbSP: AFGEWEZEN: {ECHO}") for i in ids])
    seen = what_a_viewer_sees(hub)
    assert_nothing_personal(hub, seen)
    assert "[text from CJIB hidden: " in seen and "[text hidden: " in seen


def test_a_masked_document_shows_no_value_it_does_not_know_to_be_harmless(hub, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.connect() as conn:
        doc = conn.scalar(select(delivery.c.document).where(delivery.c.idempotency_key == "OM-1003.SCHADEVERGOEDING.1"))
    hostile = doc.replace(b"<Bedrag>", b"<!-- 111222333 --><?pi 111222333?><Bedrag extra='111222333'>").replace(
        b"</Bedrag>", b"</Bedrag>111222333 Jansen")
    masked = ops.mask(hostile).decode()
    assert "111222333" not in masked and "Jansen" not in masked and "1985-05-05" not in masked
    assert "<OpdrachtId>OM-1003.SCHADEVERGOEDING.1</OpdrachtId>" in masked and "1250.00" in masked


def test_permission_to_reprocess_is_checked_for_every_id_asked_whatever_their_number(hub, sample):
    """An item far beyond any listing limit is found by the check of the ids asked."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.begin() as conn:
        pid = conn.scalar(select(payload.c.id))
        conn.execute(insert(quarantine), [dict(id=100_006, partner="politie", payload_id=pid, reason="r",
                                               state="open", created_at=now())])
    ids = list(range(1, 100_006)) + [100_006]
    assert ops.quarantine_partners(hub, ids) == ["politie"]
    assert ops.quarantine_partners(hub, [100_006]) == ["politie"]
    assert ops.quarantine_partners(hub, [5]) == []


def test_a_replay_touches_only_the_destinations_that_were_checked(hub, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.begin() as conn:
        conn.execute(delivery.update().values(state="failed"))
    f = ops.Filter()
    assert ops.destinations_matching(hub, f) == ["cjib", "kbsp"]
    assert ops.replay(hub, replace(f, destinations=("cjib",)), "tester", "only CJIB") == 5
    assert ops.count_deliveries(hub, ops.Filter(destination="kbsp")) == 6


def _deliveries_in_every_kind(hub, sample):
    """11 deliveries of the sample OM file: 2 failed, 2 dead, 3 retrying, 2 waiting, 2 pending and fresh."""
    from datetime import timedelta

    from sqlalchemy import update

    from ketenhub.clock import now
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.begin() as conn:
        ids = conn.scalars(select(delivery.c.id).order_by(delivery.c.id)).all()
        old = now() - timedelta(hours=3)
        for some, values in ((ids[0:2], dict(state="failed", attempts=1, last_error="KbSP: AFGEWEZEN: x")),
                             (ids[2:4], dict(state="dead", attempts=10)),
                             (ids[4:7], dict(attempts=1, last_error="SoapFault: SOAP Fault soap:Server: down",
                                             error_summary="SoapFault")),
                             (ids[7:9], dict(created_at=old))):
            conn.execute(update(delivery).where(delivery.c.id.in_(some)).values(**values))
    return ids


def test_every_delivery_in_trouble_is_counted_in_one_kind_and_listed_page_by_page(hub, sample):
    ids = _deliveries_in_every_kind(hub, sample)
    everything = ops.Filter()
    assert ops.counts(hub, everything) == {"failed": 2, "dead": 2, "retrying": 3, "waiting": 2}
    assert ops.count_deliveries(hub, everything) == 9
    assert ops.counts(hub, ops.Filter(destination="cjib")) == ops.counts(hub, ops.Filter(destination="cjib", states=("dead",)))
    first = ops.list_deliveries(hub, everything, 4, sort="id")
    second = ops.list_deliveries(hub, everything, 4, offset=4, sort="id")
    third = ops.list_deliveries(hub, everything, 4, offset=8, sort="id")
    assert [r["id"] for r in first + second + third] == ids[:9]
    assert [r["kind"] for r in first[:4]] == ["failed", "failed", "dead", "dead"]
    assert {r["kind"] for r in second} | {r["kind"] for r in third} == {"retrying", "waiting"}
    newest_first = ops.list_deliveries(hub, everything, 100, sort="id", descending=True)
    assert [r["id"] for r in newest_first] == ids[:9][::-1]
    by_attempts = ops.list_deliveries(hub, everything, 100, sort="attempts", descending=True)
    assert [r["attempts"] for r in by_attempts][:2] == [10, 10]
    # A viewer sees the hub's words of a SOAP fault, an operator its text too.
    (retrying,) = ops.list_deliveries(hub, ops.Filter(ids=(ids[4],)), 1)
    assert retrying["last_error"].startswith("SoapFault [text from") and "down" not in retrying["last_error"]
    assert "down" in ops.list_deliveries(hub, ops.Filter(ids=(ids[4],)), 1, personal_data=True)[0]["last_error"]
    # Retrying ones may be sent at once: pending, due now, attempts from zero, audited.
    assert ops.replay(hub, ops.Filter(states=("retrying",)), "tester", "KbSP is back", dry_run=True) == 3
    assert ops.replay(hub, ops.Filter(states=("retrying",)), "tester", "KbSP is back") == 3
    assert ops.counts(hub, everything)["retrying"] == 0
    with pytest.raises(ValueError, match="unknown state 'broken'"):
        ops.kinds("failed,broken")


def test_reprocessing_says_what_became_of_each_item_and_keeps_the_new_reason(hub, sample):
    om = hub.registry.partners["om"]
    hub.registry.partners["om"] = dataclasses.replace(om, rules=om.rules + (Rule("false()", "a rule with a bug"),))
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    first, *_ = ops.list_quarantine(hub, "om")
    assert "a rule with a bug" in first["reason"]
    hub.registry.partners["om"] = dataclasses.replace(om, rules=om.rules + (Rule("false()", "another rule"),))
    outcome = ops.reprocess(hub, [first["id"]], "tester", "rule changed")
    assert outcome.still_rejected == 1 and "another rule" in outcome.items[0].reason
    assert "still rejected" in outcome.lines()[1] and "another rule" in outcome.lines()[1]
    (again,) = ops.list_quarantine(hub, ops.QuarantineFilter(ids=(first["id"],)))
    assert "another rule" in again["reason"] and "a rule with a bug" not in again["reason"]
    # A partner no longer configured: said in words, nothing raised.
    del hub.registry.partners["om"]
    outcome = ops.reprocess(hub, [first["id"]], "tester", "try")
    assert outcome.still_rejected == 1 and "not configured" in outcome.items[0].reason
    hub.registry.partners["om"] = om
    assert ops.count_quarantine(hub, ops.QuarantineFilter(partner="om", reason="another rule")) == 1


def test_cli_lists_every_kind_with_counts_and_asks_before_a_bulk_replay(hub, sample):
    ids = _deliveries_in_every_kind(hub, sample)
    env = {"KETENHUB_HOME": str(hub.settings.home), "KETENHUB_DATABASE_URL": hub.settings.database_url,
           "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ketenhub.cli", "deliveries", *args], env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
    listed = cli("list", "--limit", "4", "--offset", "4", "--sort", "id")
    assert listed.returncode == 0
    assert "4 of 9 matching shown (from 5); in trouble: failed 2, dead 2, retrying 3, waiting 2" in listed.stdout
    assert "times in Europe/Amsterdam" in listed.stdout and "next=" in listed.stdout
    assert [int(line.split()[0]) for line in listed.stdout.splitlines()[:4]] == ids[4:8]
    asked = cli("replay", "--state", "retrying", "--reason", "back")
    assert asked.returncode == 1 and "Replay 3 deliveries? Not done: add --yes" in asked.stderr
    assert cli("replay", "--state", "retrying", "--reason", "back", "--yes").stdout.strip() == "3 deliveries replayed"


def test_an_item_still_rejected_for_the_same_problem_keeps_the_lines_of_the_whole_file(hub, tmp_path):
    from tests.support.factories import om_batch, om_event, write_with_marker
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                             om_batch([om_event(1), om_event(2, bsn="123456789")]))
    ingest(hub, "om", path)
    (before,) = ops.list_quarantine(hub, "om")
    outcome = ops.reprocess(hub, [before["id"]], "tester", "look again")
    (after,) = ops.list_quarantine(hub, "om")
    assert after["reason"] == before["reason"] == outcome.items[0].reason and "elfproef" in after["reason"]


def test_events_given_a_key_another_has_wait_in_quarantine_until_the_mapping_is_mended(hub, sample, tmp_path):
    """A KbSP mapping that keys every item alike: the first event's item is stored, every other
    event with one waits in quarantine (the file's other events go on), and once the mapping is
    mended each is read again from the kept file and stored."""
    from ketenhub.hub import Hub

    broken = tmp_path / "project"
    for part in ("adapters", "schemas"):
        (broken / part).parent.mkdir(parents=True, exist_ok=True)
        (broken / part).symlink_to(hub.settings.project / part)
    shutil.copytree(hub.settings.mappings_dir, broken / "mappings")
    mapping = broken / "mappings/canonical-to-kbsp.xsl"
    mapping.write_text(mapping.read_text().replace("concat(../../k:BerichtId, '.', $ref)", "'ALIKE'"))
    careless = Hub(replace(hub.settings, project=broken))
    try:
        (report,) = ingest(careless, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
        waiting = ops.list_quarantine(hub, "om")
        assert report.accepted == 1 and len(report.rejected) == len(waiting) == 4
        reasons = sorted(q["reason"].split(",")[0] for q in waiting)  # one event names a person twice
        assert reasons == ["its delivery key for kbsp is taken by event OM-1001 (om)"] * 3 + [
            "the event yields two KBSP messages with the same key ALIKE; is a person listed twice? (rule: "
            "duplicate-recipient)"], reasons
        assert report.state == "accepted"  # the file is done with: its events wait in quarantine, not the file
        # Re-processed before the mend: each stays where it was, with its reason; none is lost.
        outcome = ops.reprocess(careless, [q["id"] for q in waiting], "tester", "too soon")
    finally:
        careless.engine.dispose()
    assert outcome.still_rejected == 4 and not any(i.now_item for i in outcome.items), outcome.lines()
    assert ops.list_quarantine(hub, "om") == waiting
    outcome = ops.reprocess(hub, [q["id"] for q in waiting], "tester", "KbSP mapping mended")
    assert outcome == {"accepted": 4, "still_rejected": 0, "selected": 4}, outcome.lines()
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(delivery)) == 11  # 6 for KbSP, 5 for CJIB
        assert conn.execute(select(payload.c.events_accepted, payload.c.events_rejected)).one() == (5, 0)


def test_an_event_too_large_is_read_from_its_kept_file_once_its_limit_is_raised(hub, tmp_path):
    from ketenhub.adapters import Limits
    from tests.support.factories import om_batch, om_event, write_with_marker

    big = om_event(2).replace("<BerichtId>", f"<!-- {'x' * 3000} --><BerichtId>")  # valid, and larger
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml", om_batch([om_event(1), big]))
    om = hub.registry.partners["om"]
    hub.registry.partners["om"] = replace(om, limits=Limits(event_bytes=3000))
    (report,) = ingest(hub, "om", path)
    assert report.accepted == 1 and "limits.event_bytes" in report.rejected[0][1]
    (q,) = ops.list_quarantine(hub, "om")
    outcome = ops.reprocess(hub, [q["id"]], "tester", "not yet")  # still too large: still refused, as it was
    assert outcome.still_rejected == 1 and outcome.items[0].reason == q["reason"], outcome.lines()
    hub.registry.partners["om"] = om  # the limit raised
    outcome = ops.reprocess(hub, [q["id"]], "tester", "limit raised")
    assert outcome["accepted"] == 1, outcome.lines()
    with hub.engine.connect() as conn:  # stored, not only said to be
        assert sorted(conn.scalars(select(event.c.bericht_id))) == ["OM-T-0000001", "OM-T-0000002"]


def test_a_hidden_text_is_counted_as_the_peer_wrote_it():
    from ketenhub import peertext
    reason = "DLV: HTTP 503: busy"
    hub_words, rest = peertext.split(reason, "DLV")
    assert (hub_words, peertext.hidden("DLV", rest)) == ("DLV: HTTP 503", "[text from DLV hidden: 4 characters]")
