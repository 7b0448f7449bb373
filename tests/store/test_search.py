"""Finding one event by BerichtId, parketnummer, registratienummer or Ketenreferentie: by the
whole value, or by its start for who may see personal data; the lookups are ranges of an index."""
import pytest
from sqlalchemy import select, text

from ketenhub.store import search
from ketenhub.store.tables import event, search_key
from tests.conftest import ingest


@pytest.fixture
def stored(hub, sample):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    search.catch_up(hub.engine)
    return hub


def found(hub, text, whole=True):
    with hub.engine.connect() as conn:
        return search.find(conn, text, whole)


def test_an_event_is_found_by_each_of_its_identifiers(stored):
    (politie,) = found(stored, "POL-0001")
    assert (politie.kind, politie.partner, politie.matched) == ("event", "politie", "bericht_id")
    with stored.engine.connect() as conn:
        kr = conn.scalar(select(search_key.c.value).where(search_key.c.event_id == politie.id,
                                                          search_key.c.kind == "ketenreferentie"))
    by_kr = found(stored, kr)
    assert politie.id in [f.id for f in by_kr] and {f.matched for f in by_kr} == {"ketenreferentie"}
    by_case = found(stored, "13/002157-26")  # the parketnummer in the canonical (slash) form
    assert politie.id in [f.id for f in by_case] and by_case[0].matched == "parketnummer"
    # the registratienummer as typed, with its white space however wide
    assert politie.id in [f.id for f in found(stored, "  PL07B3   2026123456-1 ")]


def test_the_start_of_a_value_finds_only_when_partial_matches_are_allowed(stored):
    assert found(stored, "POL-00", whole=True) == []
    assert [f.bericht_id for f in found(stored, "POL-00", whole=False)] == ["POL-0001"]
    assert found(stored, "13/002157", whole=True) == []
    assert found(stored, "13/002157", whole=False)
    assert found(stored, "", whole=False) == []


def test_quarantined_events_are_found_by_bericht_id(hub, tmp_path):
    from tests.support.factories import om_batch, om_event, write_with_marker
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                             om_batch([om_event(1), om_event(2, bsn="123456789")]))  # 2 fails the elfproef
    ingest(hub, "om", path)
    search.catch_up(hub.engine)
    with hub.engine.connect() as conn:
        bericht_ids = sorted(conn.scalars(select(event.c.bericht_id)))
    (kept,) = [f for f in found(hub, "OM-", whole=False) if f.kind == "quarantine"]
    assert kept.bericht_id not in bericht_ids and found(hub, kept.bericht_id)[0].kind == "quarantine"


def test_indexing_is_incremental_and_idempotent(stored, sample):
    with stored.engine.connect() as conn:
        before = conn.scalar(select(text("count(*)")).select_from(search_key))
    assert search.catch_up(stored.engine) == 0
    with stored.engine.connect() as conn:
        assert conn.scalar(select(text("count(*)")).select_from(search_key)) == before
        assert conn.scalar(select(text("count(DISTINCT event_id)")).select_from(search_key)) == \
            conn.scalar(select(text("count(*)")).select_from(event))


def test_the_lookups_are_ranges_of_an_index(stored):
    """What keeps a search cheap among millions of keys: each statement reads an index."""
    with stored.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # the tables are small: make a full read show
        for whole in (True, False):
            by_key, by_quarantine = _statements(conn, whole)
            assert "ix_search_key_value" in _plan(conn, by_key)
            assert "ix_quarantine_bericht" in _plan(conn, by_quarantine)


def _plan(conn, statement) -> str:
    if conn.dialect.name == "postgresql":
        plan = "\n".join(conn.scalars(text(f"EXPLAIN {statement}")))
        assert "Seq Scan on search_key" not in plan and "Seq Scan on quarantine" not in plan, plan
        return plan
    plan = "\n".join(r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
    assert "SCAN search_key" not in plan.replace("USING", "") or "INDEX" in plan, plan
    return plan


def _statements(conn, whole):
    """The statements ``find`` runs, with their values inlined."""
    statements, original = [], conn.execute

    def capture(statement, *a, **k):
        statements.append(str(statement.compile(conn, compile_kwargs={"literal_binds": True})))
        return original(statement, *a, **k)
    conn.execute = capture
    try:
        search.find(conn, "13/002157-26", whole)
    finally:
        conn.execute = original
    return statements


def test_an_event_purged_by_retention_is_no_longer_found_by_what_it_held(stored):
    from datetime import timedelta

    from ketenhub.clock import now
    from ketenhub.store import retention
    from ketenhub.wiring import deliver
    for d in stored.registry.destinations.values():
        deliver(stored, d)  # settled: nothing due keeps the events
    assert found(stored, "13/002157-26")
    retention.run(stored, at=now() + timedelta(days=3650))
    assert found(stored, "13/002157-26") == [] and found(stored, "POL-0001") == []
    search.catch_up(stored.engine)  # and indexing again does not bring them back
    assert found(stored, "POL-0001") == []
