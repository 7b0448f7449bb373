"""Which elements are events, and what is kept of a rejected one.

Events are only the elements at the contract's event position: the batch root's children of the
event's name (the OM's batch, a Politie page), or the root itself (a CVOM file). An element of
that name anywhere else is part of the event it is in, which the XSD then refuses. A rejected
event is kept with its bytes exactly as the partner sent them.

The differential test builds random batches and requires the hub's reading to give what a plain
reference reader gives (tests/support/reference.py). It runs a few dozen batches in the suite;
for a longer run:

    KETENHUB_FUZZ_EXAMPLES=5000 ./hub test tests/validate/test_event_reading.py -k differential
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree
from sqlalchemy import select

from ketenhub.hub import Hub
from ketenhub.processing import EventProcessor, RejectedEvent
from ketenhub.store.tables import event, quarantine
from ketenhub.validate import payload as reading
from ketenhub.xml.parsing import parser
from ketenhub.xml.schema import compile_schema
from tests.conftest import DATA, ingest, tune
from tests.support.factories import OM_NS, om_batch, om_event, write_with_marker
from tests.support.reference import events as reference_events

NESTED = "</Slachtoffer>" + om_event(99).strip().replace("OM-T-0000099", "OM-T-NESTED")


def stored(hub: Hub) -> tuple[list[str], list[tuple[str, bytes]]]:
    with hub.engine.connect() as conn:
        accepted = conn.scalars(select(event.c.bericht_id).order_by(event.c.id)).all()
        rejected = conn.execute(select(quarantine.c.bericht_id, quarantine.c.raw).order_by(quarantine.c.id)).all()
    return accepted, [tuple(r) for r in rejected]


@pytest.mark.parametrize("trailing_comment", [True, False])
def test_an_event_inside_another_is_part_of_it_not_an_event_of_its_own(hub, tmp_path, trailing_comment):
    outer = om_event(2).replace("</Slachtoffer>", NESTED, 1)
    data = om_batch([om_event(1), outer])
    if trailing_comment:  # a look-alike end tag, which once sent the file down another path
        data += b"<!-- </Zaakgebeurtenis> -->\n"
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data)
    (report,) = ingest(hub, "om", path)
    assert report.state == "accepted" and report.accepted == 1
    ((bericht_id, reason),) = report.rejected
    assert bericht_id == "OM-T-0000002" and "Zaakgebeurtenis" in reason and "rule: structure" in reason
    accepted, rejected = stored(hub)
    assert accepted == ["OM-T-0000001"]  # never OM-T-NESTED
    assert rejected == [("OM-T-0000002", outer.strip().encode())]  # as sent, its nested event included


def test_a_count_that_counts_a_nested_event_rejects_the_file(hub, tmp_path):
    outer = om_event(2).replace("</Slachtoffer>", NESTED, 1)
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(1), outer], count=3) + b"<!-- </Zaakgebeurtenis> -->")
    (report,) = ingest(hub, "om", path)
    assert report.state == "rejected" and [p.rule for p in report.problems] == ["control-count"]
    assert stored(hub) == ([], [(None, None)])


@pytest.mark.parametrize("partner, sample", [("cvom", "cvom/beroep-ontvangen.xml"),
                                             ("politie", "politie/melding-aangifte.xml")])
def test_a_document_of_one_event_is_one_event_whatever_it_holds(hub, tmp_path, partner, sample):
    sent = (DATA / sample).read_bytes()
    root = etree.fromstring(sent, parser())
    inner = copy.deepcopy(root)
    inner.find("{*}BerichtId").text = "NESTED"
    root.append(inner)
    local = etree.QName(root).localname
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8") + f"\n<!-- </{local}> -->".encode()
    path = tmp_path / "nested.xml"
    path.write_bytes(data)
    (report,) = ingest(hub, partner, path)
    assert report.accepted == 0 and [b for b, _ in report.rejected] == [root.findtext("{*}BerichtId")]
    accepted, rejected = stored(hub)
    assert accepted == [] and rejected[0][1] == data[data.index(f"<{local}".encode()):data.rindex(b"\n<!--")]


def test_a_politie_page_with_a_melding_inside_a_melding_gives_one_rejected_event(hub, connection):
    from ketenhub import wiring
    from ketenhub.simulators.politie import PolitieSimulator

    sim = PolitieSimulator().start()
    try:
        connection("politie", **sim.connection())
        first, second = sim.add(2)
        melding = sim.queue[2].decode()
        inner = sim.queue[1].decode().replace(first, "POL-NESTED")
        sim.queue[2] = melding.replace("</Melding>", inner + "<!-- </Melding> --></Melding>").encode()
        (report,) = wiring.receive(hub, hub.registry.partner("politie"))
    finally:
        sim.stop()
    assert report.accepted == 1 and [b for b, _ in report.rejected] == [second]
    accepted, rejected = stored(hub)
    assert accepted == [first] and rejected[0][0] == second and b"POL-NESTED" in rejected[0][1]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "cp500"])
def test_a_batch_not_in_utf8_is_refused_even_without_a_byte_order_mark(hub, tmp_path, encoding):
    text = om_batch([om_event(1)]).decode().replace('encoding="UTF-8"', f'encoding="{encoding}"')
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", text.encode(encoding))
    (report,) = ingest(hub, "om", path)
    assert report.state == "rejected" and [p.rule for p in report.problems] == ["encoding"]


def test_an_envelope_that_breaks_the_xsd_around_its_events_rejects_the_file(hub, tmp_path):
    page = (DATA / "politie/melding-aangifte.xml").read_bytes().split(b"?>", 1)[1].strip()
    ns = b'xmlns="urn:keten:politie:slachtoffermelding:v1"'
    for body, words in [
        (page + b"<MeerBeschikbaar>false</MeerBeschikbaar>" + page.replace(b"POL-", b"POL-2-"), "between the events"),
        (b"<MeerBeschikbaar>false</MeerBeschikbaar>" + page, "stand where the contract does not allow them"),
        (page, "MeerBeschikbaar (rule: structure)"),  # the envelope's own error, beside the events
    ]:
        path = tmp_path / "page.xml"
        path.write_bytes(b"<HaalMeldingenAntwoord " + ns + b">" + body.replace(b" " + ns, b"")
                         + b"</HaalMeldingenAntwoord>")
        (report,) = ingest(hub, "politie", path)
        assert report.state == "rejected" and words in report.text()


def test_a_rejected_event_of_a_prefixed_batch_is_reprocessed_from_its_bytes_as_sent(hub, tmp_path):
    from ketenhub import operations as ops

    data = om_batch([om_event(1), om_event(2, soort="ZITTING_GEPLAND")]).decode()
    data = re.sub(r"<(/?)(?=[A-Z])", r"<\1om:", data).replace("xmlns=", "xmlns:om=")
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data.encode())
    (report,) = ingest(hub, "om", path)
    (q,) = ops.list_quarantine(hub)
    ((_, raw),) = stored(hub)[1]
    assert raw.startswith(b"<om:Zaakgebeurtenis>") and b"xmlns" not in raw
    outcome = ops.reprocess(hub, [q["id"]], "tester", "rule under review")
    assert outcome["still_rejected"] == 1  # parsed under the batch's prefixes, and still missing its Zitting


def test_an_event_only_its_payload_keeps_is_found_there_by_its_line_and_bericht_id(hub):
    """What re-processing reads for an event quarantined without its bytes (too large, or
    refused by the store): the event on the line the scan counted, with that BerichtId (on one
    line, every event is on line 1), or by its BerichtId alone, also in a JSON page."""
    import json
    from dataclasses import replace

    from ketenhub.adapters import Limits

    om = hub.registry.partner("om")
    events = [" ".join(om_event(n).split()) for n in (1, 2, 3)]  # the batch on one line
    data = b" ".join(om_batch(events).split(b"\n"))
    schema = hub.settings.schemas_dir / om.schema
    for partner in (om, replace(om, limits=Limits(event_bytes=len(events[1]) - 1))):  # as cut then and now
        for line, bericht_id, n in ((1, "OM-T-0000002", 1), (None, "OM-T-0000003", 2), (2, "OM-T-0000002", None)):
            found = reading.event_in_payload(partner, schema, data, line, bericht_id)
            assert found == (None if n is None else events[n].encode()), (line, bericht_id)
    shn = hub.registry.partner("shn")
    page = (hub.settings.schemas_dir / "shn/examples/valid-01-pagina.json").read_bytes()
    second = json.loads(page)["gebeurtenissen"][1]
    found = reading.event_in_payload(shn, hub.settings.schemas_dir / shn.schema, page, None, second["berichtId"])
    assert json.loads(found) == second


# -- the differential test -----------------------------------------------------------------------

def _spaced_tags(e: str) -> str:
    return e.replace("<Soort>", "<Soort >").replace("</Soort>", "</Soort\n   >").replace(
        "</Zaakgebeurtenis>", "</Zaakgebeurtenis\n>")


VARIATIONS = {
    "comment": lambda e: e.replace("<Soort>", "<!-- </Zaakgebeurtenis> --><Soort>"),
    "pi": lambda e: e.replace("<Soort>", "<?note </Zaakgebeurtenis>?><Soort>"),
    "cdata": lambda e: e.replace("<Geslachtsnaam>Jansen", "<Geslachtsnaam><![CDATA[</Zaakgebeurtenis>]]>Jansen"),
    "spaces-in-tags": _spaced_tags,
    "nested": lambda e: e.replace("</Slachtoffer>", NESTED, 1),
    "nested-empty": lambda e: e.replace("</Slachtoffer>", "</Slachtoffer><Zaakgebeurtenis/>", 1),
    "elfproef": lambda e: e.replace("<Bsn>123456782</Bsn>", "<Bsn>123456789</Bsn>"),
    "schema": lambda e: e.replace("<Soort>INSCHRIJVING", "<Soort>ONBEKEND"),
    "rule": lambda e: e.replace("<Soort>INSCHRIJVING", "<Soort>ZITTING_GEPLAND"),
    "attribute": lambda e: e.replace("<Zaakgebeurtenis>", '<Zaakgebeurtenis status=">/">'),
    "gt-in-text": lambda e: e.replace("Jansen", "Jansen > Janssen"),
    "character-reference": lambda e: e.replace("Jansen", "Jans&#101;n &amp; Zn"),
    "redeclared": lambda e: e.replace("<Zaakgebeurtenis>", f'<Zaakgebeurtenis xmlns="{OM_NS}">'),
    "empty": lambda e: "  <Zaakgebeurtenis/>\n",
}
BETWEEN = ["", "\n", " \t\r\n ", "<!-- </Zaakgebeurtenis> -->", "<?pi </Zaakgebeurtenis>?>\n", "<!---->"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1"]


def _prefixed(text: str) -> str:
    return re.sub(r"<(/?)(?=[A-Z])", r"<\1om:", text).replace("xmlns=", "xmlns:om=")


@dataclass
class Batch:
    data: bytes
    events: list[bytes]  # each top-level event as it stands in data
    utf8: bool


@st.composite
def batches(draw) -> Batch:
    n = draw(st.integers(0, 7))
    events = []
    for i in range(1, n + 1):
        e = om_event(i)
        for name in draw(st.lists(st.sampled_from(sorted(VARIATIONS)), max_size=3, unique=True)):
            e = VARIATIONS[name](e)
        events.append(e.strip() if draw(st.booleans()) else e)
    prefixed = draw(st.booleans())
    if prefixed:
        events = [_prefixed(e) for e in events]
    gaps = [draw(st.sampled_from(BETWEEN)) for _ in events]
    body = "".join(g + e for g, e in zip(gaps, events))
    nested = sum(e.count("<Zaakgebeurtenis") + e.count("<om:Zaakgebeurtenis") for e in events)
    count = draw(st.sampled_from([n, n, n, nested, n + 1]))
    head, tail = om_batch([], count=count).decode().split("</ZaakgebeurtenissenBatch>")
    if prefixed:
        head = _prefixed(head)
        tail = "</om:ZaakgebeurtenissenBatch>" + tail
    else:
        tail = "</ZaakgebeurtenissenBatch>" + tail
    tail += draw(st.sampled_from(["", "<!-- </Zaakgebeurtenis> -->", "<?x </Zaakgebeurtenis>?>\n"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    if encoding != "utf-8":
        head = head.replace('encoding="UTF-8"', f'encoding="{encoding.removesuffix("-sig")}"')
    data = (head + body + tail).encode(encoding)
    utf8 = encoding.startswith("utf-8")
    return Batch(data, [e.strip().encode() for e in events] if utf8 else [], utf8)


def reference(hub: Hub, processor: EventProcessor, path) -> tuple | None:
    """What a plain reading gives: None for a file refused whole, else per top-level event its
    BerichtId, whether it is accepted, and its reason."""
    om = processor.partner
    root = etree.parse(str(path), parser()).getroot()
    found = reference_events(om.event, path)
    skeleton = copy.deepcopy(root)
    for el in [el for el in skeleton if el.tag == om.event]:
        skeleton.remove(el)
    if not compile_schema(str(hub.settings.schemas_dir / om.schema)).validate(skeleton):
        return None
    if int(root.findtext(f".//{om.batch_count}")) != len(found):
        return None
    results = [processor.process(el) for el in root if el.tag == om.event]
    return [(r.bericht_id, not isinstance(r, RejectedEvent), getattr(r, "reason", None)) for r in results]


def by_the_hub(hub: Hub, processor: EventProcessor, path, kept) -> tuple[list | None, list[bytes]]:
    """The same, read as the pipeline reads it: scanned while kept, then a region at a time."""
    om = processor.partner
    with open(path, "rb") as source, open(kept, "w+b") as copy_to:
        scanned = reading.scan(om, hub.settings.schemas_dir / om.schema, source, copy_to, hub.settings.tuning)
    if scanned.problems:
        return None, []
    results = [r for region in reading.regions(kept, scanned, hub.settings.tuning)
               for r in processor.process_region(region)]
    return ([(r.bericht_id, False, r.reason) if isinstance(r, RejectedEvent) else (r[0], True, None)
             for r in results], [r.raw for r in results if isinstance(r, RejectedEvent)])


@pytest.fixture(scope="module")
def om_hub(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KETENHUB_HOME", str(home))
        mp.setenv("KETENHUB_DATABASE_URL", f"sqlite:///{home / 'hub.db'}")
        hub = Hub()
        tune(hub, region_events=3)  # several regions in a batch of a few events
        yield hub, EventProcessor(hub, hub.registry.partner("om")), home


@settings(max_examples=int(os.environ.get("KETENHUB_FUZZ_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_differential_the_hub_reads_what_a_plain_reference_reader_reads(om_hub, batch):
    hub, processor, home = om_hub
    path, kept = home / "batch.xml", home / "kept.xml"
    path.write_bytes(batch.data)
    ours, raws = by_the_hub(hub, processor, path, kept)
    if not batch.utf8:
        assert ours is None  # refused whole, whatever it holds
        return
    expected = reference(hub, processor, path)
    if expected is None:
        assert ours is None
        return
    assert ours == expected
    rejected = [i for i, (_, ok, _) in enumerate(expected) if not ok]
    assert raws == [batch.events[i] for i in rejected]  # as sent, to the byte


@pytest.mark.parametrize("trailer, plain", [
    ("<MeerBeschikbaar>false</MeerBeschikbaar>", True),
    ("\n  <MeerBeschikbaar>true</MeerBeschikbaar>\n", True),
    ("<!-- <Melding> --><MeerBeschikbaar>true</MeerBeschikbaar>", False),  # marked: read by expat
    ("<MeerBeschikbaar>true</MeerBeschikbaar><?pi?>", False),
])
def test_a_politie_page_is_read_from_its_bytes_with_what_follows_its_meldingen(hub, tmp_path, trailer, plain):
    """MeerBeschikbaar comes after a page's meldingen: the page is still cut from its bytes
    (``_flat_batch``), and gives what reading each melding on its own gives."""
    from ketenhub.simulators.generate import Generator
    from ketenhub.simulators.politie import NS
    generator = Generator(3)
    path = tmp_path / "page.xml"
    meldingen = "".join(generator.melding(n).replace(f' xmlns="{NS}"', "") for n in range(1, 8))  # as served
    path.write_text(f'<HaalMeldingenAntwoord xmlns="{NS}">{meldingen}{trailer}</HaalMeldingenAntwoord>')
    tune(hub, region_events=3)
    politie = hub.registry.partner("politie")
    processor = EventProcessor(hub, politie)
    with open(path, "rb") as f:
        scanned = reading.scan(politie, hub.settings.schemas_dir / politie.schema, f, tuning=hub.settings.tuning)
    assert not scanned.problems and scanned.events == 7 and scanned.plain == plain
    ours = [r for region in reading.regions(path, scanned, hub.settings.tuning) for r in processor.process_region(region)]
    root = etree.parse(str(path), parser()).getroot()
    assert ours == [processor.process(el) for el in root if el.tag == politie.event]
