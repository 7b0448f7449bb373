"""Delivery through the file-folder transport: envelopes, limits, states, crash recovery."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import event, func, select, update

from ketenhub.clock import now
from ketenhub.clock import AMSTERDAM
from ketenhub.deliver.envelopes import Envelope, envelope
from ketenhub.wiring import deliver
from ketenhub.deliver.transports import FolderTransport
from ketenhub.store.tables import delivery, outbound_batch
from tests.conftest import expire_leases, ingest
from tests.support.factories import Unreachable, om_batch, om_event, write_with_marker

pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # KbSP v1 until 2027-03-01

KBSP = "{urn:keten:kbsp:zaakstatus:v1}"


def states(hub, destination):
    with hub.engine.connect() as conn:
        return dict(conn.execute(select(delivery.c.state, func.count()).where(delivery.c.destination == destination)
                                 .group_by(delivery.c.state)).all())


def test_kbsp_calls_hold_at_most_500_zaakstatus(hub, tmp_path):
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(i) for i in range(1101)]))
    ingest(hub, "om", path)
    report = deliver(hub, hub.registry.destination("kbsp"))
    assert report.delivered == 1101 and len(report.batches) == 3
    files = sorted(hub.settings.path("outbox/kbsp").glob("*.xml"))
    sizes = [len(etree.parse(str(f)).getroot().findall(f"{KBSP}Zaakstatus")) for f in files]
    assert sizes == [500, 500, 101]
    assert states(hub, "kbsp") == {"delivered": 1101}
    assert deliver(hub, hub.registry.destination("kbsp")).delivered == 0  # nothing is sent twice


def test_a_failing_transport_leaves_deliveries_pending_with_the_error(hub, sample):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    report = deliver(hub, hub.registry.destination("kbsp"), Unreachable())
    assert (report.delivered, report.retry) == (0, 1)
    with hub.engine.connect() as conn:
        row = conn.execute(select(delivery)).one()
    assert row.state == "pending" and row.attempts == 1 and "destination unreachable" in row.last_error
    assert row.next_attempt_at > row.updated_at  # backed off


def test_a_batch_interrupted_by_a_crash_is_resent_under_the_same_name(hub, sample):
    """Claimed, written, but the process died before recording it: the next run writes the same
    file again (same name, same items), so the destination sees one file, not two."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    dest = hub.registry.destination("cjib")
    folder = hub.settings.path(dest.folder)

    class DiesAfterWriting(FolderTransport):
        def send(self, name, document, keys):
            super().send(name, document, keys)
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        deliver(hub, dest, DiesAfterWriting(folder, dest.marker))
    first = {f.name: f.read_bytes() for f in folder.iterdir()}
    assert states(hub, "cjib") == {"sending": 5}
    assert deliver(hub, dest).delivered == 0  # its lease still holds: the worker may be alive
    expire_leases(hub)
    report = deliver(hub, dest)
    assert report.delivered == 5 and states(hub, "cjib") == {"delivered": 5}
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == first  # same file, same content
    with hub.engine.connect() as conn:
        assert conn.execute(select(outbound_batch.c.name, outbound_batch.c.state)).all() == [
            (next(n for n in first if n.endswith(".xml")), "sent")]


def test_an_invalid_outbound_document_fails_permanently_with_the_reason(hub, sample):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    with hub.engine.begin() as conn:
        conn.execute(update(delivery).values(document=b'<Zaakstatus xmlns="urn:keten:kbsp:zaakstatus:v1"/>'))
    report = deliver(hub, hub.registry.destination("kbsp"))
    assert report.failed == 1
    with hub.engine.connect() as conn:
        row = conn.execute(select(delivery)).one()
    assert row.state == "failed" and "invalid against the destination's XSD" in row.last_error
    # where in the document as it would have been sent
    assert "line 3, element /PubliceerZaakstatusVerzoek/Zaakstatus: a required element is missing" in row.last_error
    assert not list(hub.settings.path("outbox/kbsp").glob("*.xml"))


def test_cjib_file_names_follow_the_contract(hub, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    deliver(hub, hub.registry.destination("cjib"))
    names = sorted(p.name for p in Path(hub.settings.path("outbox/cjib")).iterdir())
    assert len(names) == 2
    xml, marker = names
    assert re.fullmatch(r"KETENHUB_CJIB_\d{8}_001\.xml", xml) and marker == xml + ".sha256"


def test_a_batch_is_numbered_after_that_days_batches_of_its_destination_alone(hub, sample):
    """Other days' batches and other destinations' do not count, and the count reads that day's
    batches by ix_batch_created rather than every batch the destination ever had."""
    ingest(hub, "cvom", sample("cvom/beroep-ontvangen.xml"))  # one DLV status: one batch
    start, end = Envelope.day(now())
    made = [("dlv", start - timedelta(seconds=1), 1), ("dlv", start, 1), ("dlv", start + timedelta(hours=1), 2),
            ("kbsp", start, 1), ("dlv", end, 1)]
    with hub.engine.begin() as conn:
        conn.execute(outbound_batch.insert(), [
            dict(destination=d, name=envelope(hub.registry.destination(d)).name(at, n), state="sent",
                 item_count=1, created_at=at) for d, at, n in made])
    counts = []

    def counting(conn, cursor, statement, parameters, context, many):
        if "count(*)" in statement and "outbound_batch" in statement:
            counts.append((statement, parameters))
    event.listen(hub.engine, "before_cursor_execute", counting)
    try:
        deliver(hub, hub.registry.destination("dlv"))
    finally:
        event.remove(hub.engine, "before_cursor_execute", counting)
    (name,) = [p.name for p in Path(hub.settings.path("outbox/dlv")).iterdir()]
    assert name == f"KETENHUB_DLV_{start.astimezone(AMSTERDAM):%Y%m%d}_003.xml"
    ((statement, parameters),) = counts
    with hub.engine.connect() as conn:
        if hub.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: a scan would win anyway
        explain = "EXPLAIN QUERY PLAN" if hub.engine.dialect.name == "sqlite" else "EXPLAIN"
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"{explain} {statement}", parameters).all())
    assert "ix_batch_created" in plan and re.search(r"created_at ?[<>]", plan)  # a range of it, not all of dlv's


def test_cjib_batches_split_before_the_control_total_passes_its_maximum(hub, tmp_path):
    big = "<Beslissing><Uitkomst>VEROORDEELD</Uitkomst><Datum>2026-11-20</Datum><Geldboete>40000000.00</Geldboete></Beslissing>"
    events = [om_event(i, soort="UITSPRAAK", extra="\n    " + big) for i in range(5)]
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events)))
    report = deliver(hub, hub.registry.destination("cjib"))
    assert report.delivered == 5 and report.failed == 0
    totals = [etree.parse(str(f)).getroot().findtext("{urn:keten:cjib:opdrachten:v1}Kop/{urn:keten:cjib:opdrachten:v1}TotaalBedrag")
              for f in sorted(hub.settings.path("outbox/cjib").glob("*.xml"))]
    assert totals == ["80000000.00", "80000000.00", "40000000.00"]
