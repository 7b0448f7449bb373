"""The inbound pipeline: a big payload's events worked on by worker processes."""
import re
from dataclasses import replace

from sqlalchemy import select

from ketenhub import pipeline
from ketenhub.hub import Hub
from ketenhub.store import inbound
from ketenhub.store.tables import delivery, event, quarantine
from ketenhub.validate import payload
from ketenhub.validate.payload import iter_events, regions, scan
from ketenhub.workers import Workers
from tests.conftest import ingest
from tests.factories import om_batch, om_event, write_with_marker


def stored(hub: Hub) -> dict:
    with hub.engine.connect() as conn:
        return {
            "events": conn.execute(select(event.c.bericht_id, event.c.soort, event.c.canonical)
                                   .order_by(event.c.bericht_id)).all(),
            "deliveries": conn.execute(select(delivery.c.destination, delivery.c.idempotency_key,
                                              delivery.c.recipient, delivery.c.document)
                                       .order_by(delivery.c.destination, delivery.c.idempotency_key)).all(),
            "quarantine": conn.execute(select(quarantine.c.bericht_id, quarantine.c.line, quarantine.c.reason,
                                              quarantine.c.raw).order_by(quarantine.c.line)).all(),
        }


def test_worker_processes_store_exactly_what_one_process_stores(hub, tmp_path, monkeypatch):
    events = [om_event(n, bsn="123456789" if n % 17 == 0 else "123456782",
                       soort="ZITTING_GEPLAND" if n % 23 == 0 else "INSCHRIJVING") for n in range(1, 401)]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    submitted = []

    class Counting(Workers):
        def map(self, regions, ahead=2):
            return super().map((submitted.append(r.events) or r for r in regions), ahead)

    monkeypatch.setattr(pipeline, "Workers", Counting)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 1)
    monkeypatch.setattr(payload, "CHUNK_EVENTS", 37)  # many regions in flight, returned in file order
    alone = Hub(replace(hub.settings, home=tmp_path / "alone", database_url=f"sqlite:///{tmp_path}/alone.db",
                        workers=1))
    parallel = Hub(replace(hub.settings, workers=2))

    (one,) = ingest(alone, "om", path)
    (two,) = ingest(parallel, "om", path)

    assert submitted and sum(submitted) == 400  # every event went through the workers
    assert (two.accepted, two.rejected) == (one.accepted, one.rejected)
    assert stored(parallel) == stored(alone)
    # A rejected event's lines are those of the file, not of the piece a worker was given.
    lines = path.read_text().splitlines()
    quarantined = stored(parallel)["quarantine"]
    assert len(quarantined) == len([n for n in range(1, 401) if n % 17 == 0 or n % 23 == 0])
    for bericht_id, line, reason, _ in quarantined:
        assert lines[line - 1].strip() == "<Zaakgebeurtenis>" and bericht_id in lines[line]
        if int(bericht_id[-7:]) % 17 == 0:
            bsn_line = int(re.search(r"line (\d+), element /ZaakgebeurtenissenBatch/Zaakgebeurtenis/Verdachte/Bsn",
                                     reason)[1])
            assert "<Bsn>123456789</Bsn>" in lines[bsn_line - 1]
    alone.engine.dispose()


def test_a_chunk_at_once_gives_what_one_event_at_a_time_gives(hub, tmp_path, monkeypatch):
    """process_region runs each check and mapping once over many events; every result must be
    the one ``process`` gives for that event alone, problems and their lines included."""
    verdict = ("<Beslissing><Uitkomst>VEROORDEELD</Uitkomst><Datum>2026-11-20</Datum><Geldboete>250.5</Geldboete>"
               "<Schadevergoedingsmaatregel slachtofferRef='S1'><Bedrag>+99.90</Bedrag></Schadevergoedingsmaatregel>"
               "</Beslissing>")
    second_victim = ("<Slachtoffer ref='S2'><Bsn>111222333</Bsn><Geslachtsnaam>Jansen</Geslachtsnaam>"
                     "<Informatiewens>true</Informatiewens></Slachtoffer>")
    events = [
        om_event(1),
        om_event(2, bsn="123456789"),  # elfproef
        om_event(3, soort="ZITTING_GEPLAND"),  # rule: no Zitting
        om_event(4, soort="ONBEKEND"),  # schema
        om_event(5, soort="UITSPRAAK", extra=verdict),  # CJIB: a fine and a compensation order
        om_event(6, informatiewens="false"),  # no KbSP item
        om_event(7, extra=second_victim),  # the same victim twice: duplicate-recipient
        om_event(8).replace("OM-T-0000008", "X" * 201),  # BerichtId too long to keep
        om_event(9).replace("<Soort>", "<!-- a comment --><Soort>"),
        om_event(10).replace("<Zaakgebeurtenis>", "<om:Zaakgebeurtenis xmlns:om='urn:keten:om:zaakgebeurtenissen:v1'"
                             " xmlns='urn:keten:om:zaakgebeurtenissen:v1'>")
                    .replace("</Zaakgebeurtenis>", "</om:Zaakgebeurtenis>"),
        om_event(1),  # sent twice in one file
        om_event(11, soort="SEPOT"),  # rule: no Beslissing
    ]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    om = hub.registry.partner("om")
    processor = pipeline.EventProcessor(hub, om)
    alone = [processor.process(el) for el in iter_events(om, path)]

    monkeypatch.setattr(payload, "CHUNK_EVENTS", 5)  # the first region has the header, the last the rest
    monkeypatch.setattr(payload._Cutter, "PIECE", 64)
    monkeypatch.setattr(payload._Cutter, "HOLD", 256)
    with open(path, "rb") as f:
        scanned = scan(om, hub.settings.schemas_dir / om.schema, f)
    assert len(scanned.cuts) >= 3 and scanned.cuts[-1].events == 12
    one_by_one = []
    monkeypatch.setattr(processor, "process", lambda el, **kw: one_by_one.append(el) or
                        pipeline.EventProcessor.process(processor, el, **kw))
    chunked = [r for region in regions(path, scanned) for r in processor.process_region(region)]

    assert chunked == alone
    rejected = [r.bericht_id for r in alone if isinstance(r, inbound.RejectedEvent)]
    assert rejected == ["OM-T-0000002", "OM-T-0000003", "OM-T-0000004", "OM-T-0000007", "X" * 201, "OM-T-0000011"]
    assert len(one_by_one) == len(rejected)  # the others took the fast path
    fine = next(r for r in chunked if r.bericht_id == "OM-T-0000005")
    items = {o.key: o for o in fine.outbound}
    assert sorted((o.destination, o.key) for o in fine.outbound) == [
        ("cjib", "OM-T-0000005.GELDBOETE"), ("cjib", "OM-T-0000005.SCHADEVERGOEDING.1"),
        ("kbsp", next(k for k in items if k.startswith("OM-T-0000005.KR-")))]
    assert b"<Bedrag>99.90</Bedrag>" in items["OM-T-0000005.SCHADEVERGOEDING.1"].document
    assert items["OM-T-0000005.GELDBOETE"].document.startswith(b'<Opdracht xmlns="urn:keten:cjib:opdrachten:v1">')
