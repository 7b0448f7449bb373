"""What a receiving run routed, per destination: the deliveries after its watermark."""
from ketenhub.store.routed import routed_since, watermark
from tests.conftest import ingest


def test_a_run_sees_the_deliveries_it_made_per_destination_and_none_when_it_made_none(hub, sample):
    with hub.engine.connect() as conn:
        empty = watermark(conn)
        assert routed_since(conn, empty) == {}
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.connect() as conn:
        routed, after_om = routed_since(conn, empty), watermark(conn)
    assert set(routed) == {"kbsp", "cjib"} and all(n > 0 for n in routed.values())

    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))  # the same file again: nothing new
    with hub.engine.connect() as conn:
        assert routed_since(conn, after_om) == {}
    ingest(hub, "cvom", sample("cvom/beroep-ontvangen.xml"))
    with hub.engine.connect() as conn:
        assert routed_since(conn, after_om) == {"dlv": 1}
