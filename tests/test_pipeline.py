"""The inbound pipeline: a big payload's events worked on by worker processes."""
import gc
import re
from dataclasses import replace

import pytest
import sqlalchemy
from sqlalchemy import func, select

from ketenhub import pipeline
from ketenhub.hub import Hub
from ketenhub.simulators.cvom import publish
from ketenhub.store import tables
from ketenhub.store.tables import delivery, event, quarantine
from ketenhub.workers import Workers
from tests.conftest import ingest, tune
from tests.support.factories import om_batch, om_event, write_with_marker


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
        def map(self, regions, ahead, waiting):
            return super().map((submitted.append(r.events) or r for r in regions), ahead, waiting)

    monkeypatch.setattr(pipeline, "Workers", Counting)
    tune(hub, parallel_from=1, region_events=37, regions_ahead=2)  # many regions in flight, in file order
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



def test_storing_leaves_what_lived_before_out_of_garbage_collection_and_restores_it(hub, tmp_path, monkeypatch):
    tune(hub, region_events=2)  # three events: a payload of more than one region
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(n) for n in range(1, 4)]))
    frozen_while_storing = []
    store_events = pipeline.inbound.store_events
    monkeypatch.setattr(pipeline.inbound, "store_events",
                        lambda *a: frozen_while_storing.append(gc.get_freeze_count()) or store_events(*a))
    assert gc.get_freeze_count() == 0

    (report,) = ingest(hub, "om", path)

    assert report.accepted == 3
    assert frozen_while_storing and all(frozen_while_storing)
    assert gc.get_freeze_count() == 0  # the process's heap is as it was


def test_payloads_of_one_chunk_leave_no_garbage_waiting_for_a_full_collection(hub, tmp_path):
    """Frozen for each one-event file, a payload's young garbage went into the oldest
    generation with the rest, where nothing counts it towards a full collection: a drop folder
    of 3,000 CVOM files grew the process by 120 MB."""
    files = publish(tmp_path / "drop", 30)
    ingest(hub, "cvom", *files[:5])
    gc.collect()
    ingest(hub, "cvom", *files[5:])
    gc.collect(1)
    assert gc.collect() < 100  # before: ~115 objects a file


def test_a_payload_is_finished_in_the_transaction_of_its_last_chunk(hub, sample, monkeypatch):
    """One commit less a payload: for a file of one event, two instead of three (on PostgreSQL,
    each a WAL flush). Finishing is part of storing the last chunk: if it fails, that chunk is
    not stored either, and the file taken in again is stored whole, once."""
    path = sample("cvom/beroep-ontvangen.xml")
    finish = pipeline.inbound.finish_payload
    monkeypatch.setattr(pipeline.inbound, "finish_payload", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        ingest(hub, "cvom", path)
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(event)) == 0
        assert conn.scalar(select(tables.payload.c.state)) == "received"
    monkeypatch.setattr(pipeline.inbound, "finish_payload", finish)
    commits = []
    count = commits.append
    sqlalchemy.event.listen(hub.engine, "commit", count)
    try:
        (report,) = ingest(hub, "cvom", path)
    finally:
        sqlalchemy.event.remove(hub.engine, "commit", count)
    assert report.accepted == 1 and len(commits) == 2  # the payload's row; its event with the finish
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(event)) == 1
        assert conn.scalar(select(tables.payload.c.state)) == "accepted"


def test_a_heap_someone_froze_stays_frozen(hub, tmp_path):
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch([om_event(1)]))
    gc.freeze()
    try:
        (report,) = ingest(hub, "om", path)
        assert report.accepted == 1 and gc.get_freeze_count() > 0  # not unfrozen
    finally:
        gc.unfreeze()


def test_a_big_payloads_workers_start_before_its_first_pass_and_end_with_it(hub, tmp_path, monkeypatch):
    tune(hub, start_workers_from_bytes=1, parallel_from=1)
    hub = Hub(replace(hub.settings, workers=2))
    started, during_first_pass = [], []

    class Recorded(Workers):
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self)

    keep = pipeline._keep
    monkeypatch.setattr(pipeline, "Workers", Recorded)
    monkeypatch.setattr(pipeline, "_keep", lambda *a, **k: during_first_pass.append(len(started)) or keep(*a, **k))
    good = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(n) for n in range(1, 4)]))
    miscounted = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_002.xml",
                                   om_batch([om_event(n) for n in range(4, 7)], count=4))

    (accepted,) = ingest(hub, "om", good)
    (rejected,) = ingest(hub, "om", miscounted)

    assert accepted.accepted == 3 and rejected.state == "rejected"
    assert during_first_pass == [1, 2]  # each payload's workers had been started when it was first read
    assert len(started) == 2  # the accepted payload was processed by the workers started early
    assert all(p.returncode is not None for pool in started for p in pool.processes)  # and all have ended


def test_regions_are_stored_a_transaction_of_several_at_a_time(hub, tmp_path, monkeypatch):
    """A commit rewrites the last page of every table and index it wrote to: fewer, bigger ones."""
    tune(hub, region_events=5, transaction_events=12)
    events = [om_event(n, bsn="123456789" if n == 14 else "123456782") for n in range(1, 31)]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    regions, stores = [], []
    read = pipeline.regions
    monkeypatch.setattr(pipeline, "regions", lambda *a: (regions.append(r.events) or r for r in read(*a)))
    store_events = pipeline.inbound.store_events
    monkeypatch.setattr(pipeline.inbound, "store_events", lambda conn, partner, payload_id, accepted, rejected: (
        stores.append(([e[0] for e in accepted], [r.bericht_id for r in rejected]))
        or store_events(conn, partner, payload_id, accepted, rejected)))
    (report,) = ingest(hub, "om", path)
    # Whole regions, joined until a transaction holds 12 events or more; the last takes the rest.
    sizes = [len(a) + len(r) for a, r in stores]
    assert len(regions) > len(stores) > 1 and sum(sizes) == sum(regions) == 30
    assert all(12 <= size < 12 + max(regions) for size in sizes[:-1]) and sizes[-1] < 12 + max(regions)
    assert [b for a, _ in stores for b in a] == [f"OM-T-{n:07d}" for n in range(1, 31) if n != 14]
    assert [b for _, r in stores for b in r] == ["OM-T-0000014"]
    assert report.accepted == 29 and len(report.rejected) == 1
