"""A quarantined JSON event (SHN) is re-processed from its kept JSON, and found by an
inzageverzoek on the victim's BSN."""
import json
from dataclasses import replace

from sqlalchemy import select

from ketenhub.operations import reprocess
from ketenhub.store.retention import privacy_report
from ketenhub.store.tables import event, quarantine
from tests.conftest import ingest

PAGE = __import__("pathlib").Path(__file__).resolve().parents[2] / "schemas/shn/examples/valid-01-pagina.json"


def test_a_rejected_json_event_is_reprocessed_from_its_kept_bytes_after_a_fix(hub):
    shn = hub.registry.partner("shn")
    hub.registry.partners["shn"] = replace(shn, limits=replace(shn.limits, event_bytes=100))  # too strict
    (report,) = ingest(hub, "shn", PAGE)
    assert len(report.rejected) == 3
    hub.registry.partners["shn"] = shn  # the fix
    with hub.engine.connect() as conn:
        ids = conn.scalars(select(quarantine.c.id)).all()
    assert reprocess(hub, ids, "tester", "event_bytes raised")["accepted"] == 3
    with hub.engine.connect() as conn:
        assert sorted(conn.scalars(select(event.c.bericht_id))) == sorted(
            e["berichtId"] for e in json.loads(PAGE.read_text())["gebeurtenissen"])


def test_an_inzageverzoek_finds_a_quarantined_json_event(hub, tmp_path):
    page = json.loads(PAGE.read_text())
    page["gebeurtenissen"][2]["medewerker"] = "P. Jansen"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(page))
    ingest(hub, "shn", path)
    _, held = privacy_report(hub, page["gebeurtenissen"][2]["slachtoffer"]["bsn"], "tester")
    assert [h.kind for h in held] == ["quarantine", "payload"]
    _, held = privacy_report(hub, page["gebeurtenissen"][0]["slachtoffer"]["bsn"], "tester")
    assert [h.kind for h in held] == ["event", "event", "delivery", "delivery", "payload"]  # KbSP v2 statuses
