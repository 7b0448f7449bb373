"""Nothing of CJIB's Veroordeelde (BSN, name, birth date, Verblijfadres) anywhere but in the
kept inbound payload: not in canonical documents, deliveries, what was sent, quarantine reasons,
audit details, logs, the service's answers or its faults."""
import logging

import pytest
from sqlalchemy import MetaData, select

from ketenhub import wiring
from ketenhub.settings import PROJECT_DIR
from ketenhub.simulators.cjib_push import MISBEHAVIOURS, Fault, event, events, request
from tests.support.cjib import VEROORDEELDE, kbsp_v2_cjib, serving

EXAMPLES = PROJECT_DIR / "schemas" / "cjib" / "examples"
KEPT = {("quarantine", "raw")}  # a refused event's bytes as sent: part of the kept inbound payload


def leaks(where: str, data) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, memoryview)) else str(data)
    if isinstance(data, memoryview):
        text = bytes(data).decode("utf-8", "replace")
    return [f"{where}: {value!r}" for value in VEROORDEELDE if value in text]


def test_nothing_of_the_veroordeelde_leaves_the_kept_payload(hub, connection, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setitem(hub.registry.destinations, "kbsp_v2", kbsp_v2_cjib())
    said = []
    with serving(hub, connection) as (service, cjib):
        for example in sorted(EXAMPLES.glob("*.xml")):
            if example.name != "envelope-layout.xml" and not example.name.startswith("valid-03"):
                said += [r for _, _, r in cjib.call(example.read_bytes()).results if r]
        said += [r for _, _, r in cjib.call(request([
            event("P-1", "INVRIJHEIDSTELLING"),
            event("P-2", "VERLOF", extra="<Voorwaarden><Voorwaarde><Soort>OVERIG</Soort><Omschrijving>Verblijft "
                                         "Stationsweg 8, 7201 DN Zutphen</Omschrijving></Voorwaarde></Voorwaarden>"),
            event("P-3", victims="<Slachtoffer><Bsn>12345678</Bsn></Slachtoffer>")])).results if r]
        for misbehaviour in MISBEHAVIOURS:
            with pytest.raises(Fault) as refused:
                cjib.call(request(events(1)), misbehaviour)
            said.append(refused.value.reason)
    report = wiring.deliver(hub, hub.registry.destination("kbsp_v2"))
    assert report.delivered == 8  # the examples and P-1' statuses went out
    found = [leak for reason in said for leak in leaks("answer", reason)]
    metadata = MetaData()
    metadata.reflect(hub.engine)
    with hub.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None and (table.name, column) not in KEPT:
                        found += leaks(f"{table.name}.{column}", value)
    outbox = hub.settings.path("outbox")
    sent = [p for p in outbox.rglob("*") if p.is_file()]
    assert sent, "nothing was delivered to scan"
    for path in sent:
        found += leaks(str(path.relative_to(outbox)), path.read_bytes())
    for record in caplog.records:
        found += leaks(f"log {record.name}", record.getMessage())
    assert found == []
    kept = list(hub.settings.payloads_dir.glob("*.xml"))
    assert any(b"R. Hendriks" in p.read_bytes() for p in kept)  # the check above could have failed: it is there
