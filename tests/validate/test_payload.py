"""Whole-payload rules: control count, marker, one bad event among good ones, flat memory."""
import re

import pytest

from sqlalchemy import func, select

from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import DropFolder
from ketenhub.store.tables import event, payload, quarantine
from ketenhub.validate import payload as reading
from tests.conftest import ingest, tune
from tests.support.factories import om_batch, om_event, write_with_marker


def test_control_count_mismatch_rejects_the_file_and_stores_no_event(hub, tmp_path):
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(1), om_event(2)], count=3))
    (report,) = ingest(hub, "om", path)
    assert report.state == "rejected"
    (p,) = report.problems
    assert p.rule == "control-count" and "says 3" in p.message and "holds 2" in p.message
    assert p.element == "/ZaakgebeurtenissenBatch/Kop/AantalGebeurtenissen" and p.line == 7
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(event)) == 0


def test_a_batch_from_another_sender_is_rejected(hub, tmp_path):
    data = om_batch([om_event(1)]).replace(b"<Afzender>00000099000000020000", b"<Afzender>00000099000000021000")
    (report,) = ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data))
    assert report.state == "rejected"
    assert [(p.rule, p.element, p.line) for p in report.problems] == [
        ("sender", "/ZaakgebeurtenissenBatch/Kop/Afzender", 5)]


def test_marker_that_does_not_match_rejects_the_file(hub, tmp_path):
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch([om_event(1)]),
                             marker="0" * 64)
    (report,) = ingest(hub, "om", path)
    assert report.state == "rejected"
    assert [p.rule for p in report.problems] == ["marker"]


def test_one_bad_event_does_not_block_the_others(hub, tmp_path):
    events = [om_event(1), om_event(2, bsn="123456789"), om_event(3, soort="ZITTING_GEPLAND"),
              om_event(4).replace("<Soort>", "<Sort>").replace("</Soort>", "</Sort>"), om_event(5)]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    (report,) = ingest(hub, "om", path)
    assert report.state == "accepted" and report.accepted == 2
    reasons = dict(report.rejected)
    assert set(reasons) == {"OM-T-0000002", "OM-T-0000003", "OM-T-0000004"}
    assert "elfproef" in reasons["OM-T-0000002"] and "Verdachte/Bsn" in reasons["OM-T-0000002"]
    assert "must have a Zitting" in reasons["OM-T-0000003"]
    assert reasons["OM-T-0000004"].startswith("line 36, element /ZaakgebeurtenissenBatch/Zaakgebeurtenis/Sort: "
                                              "this element is not allowed here")
    with hub.engine.connect() as conn:
        rows = conn.execute(select(quarantine.c.bericht_id, quarantine.c.line, quarantine.c.raw)
                            .order_by(quarantine.c.id)).all()
    assert [r.bericht_id for r in rows] == ["OM-T-0000002", "OM-T-0000003", "OM-T-0000004"]
    assert all(r.raw.startswith(b"<Zaakgebeurtenis") and r.bericht_id.encode() in r.raw for r in rows)
    assert rows[0].line > 10  # the line in the OM's file, where the partner can find it


def test_drop_folder_rules_for_om(hub, tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    good = write_with_marker(outbox / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch([om_event(1)]))
    (outbox / "OM_ZAAKGEBEURTENISSEN_20261120_002.xml").write_bytes(om_batch([om_event(2)]))  # no marker yet
    bad = write_with_marker(outbox / "OM_ZAAKGEBEURTENISSEN_20261120_003.xml", om_batch([om_event(3)]), "f" * 64)
    (outbox / "other.xml").write_bytes(b"<x/>")  # not the OM's file name
    partner = hub.registry.partner("om")
    reports = ingest_source(hub, partner, DropFolder(outbox, partner.receive))
    assert [(r.name, r.state) for r in reports] == [(good.name, "accepted"), (bad.name, "rejected")]
    assert sorted(p.name for p in outbox.iterdir() if p.is_file()) == ["OM_ZAAKGEBEURTENISSEN_20261120_002.xml",
                                                                      "other.xml"]
    assert (outbox / "archive" / good.name).exists() and (outbox / "archive" / f"{good.name}.sha256").exists()
    error = (outbox / "rejected" / f"{bad.name}.error.txt").read_text()
    assert "marker" in error and "does not match" in error


def test_drop_folder_rules_for_cvom(hub, tmp_path, sample):
    drop = tmp_path / "drop"
    sample("cvom/beroep-ontvangen.xml", drop)
    (drop / "beslissing.xml.part").write_bytes(b"<half")
    (drop / "kapot.xml").write_bytes(b"<BeroepGebeurtenis xmlns='urn:keten:cvom:wahvberoep:v1'><BerichtId>")
    partner = hub.registry.partner("cvom")
    reports = ingest_source(hub, partner, DropFolder(drop, partner.receive))
    assert sorted((r.name, r.state) for r in reports) == [("beroep-ontvangen.xml", "accepted"),
                                                          ("kapot.xml", "rejected")]
    assert (drop / "beslissing.xml.part").exists()  # never read while being written
    assert (drop / "processed" / "beroep-ontvangen.xml").exists()
    error = (drop / "rejected" / "kapot.xml.error.txt").read_text()
    assert "not well-formed" in error and "line 1" in error


def test_big_batch_is_streamed_not_loaded_whole(hub, tmp_path):
    """A batch is read again a region of at most Tuning.region_events events at a time, never whole."""
    n = 1500
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(i) for i in range(n)]))
    om = hub.registry.partner("om")
    with open(path, "rb") as f:
        scanned = reading.scan(om, hub.settings.schemas_dir / om.schema, f, tuning=hub.settings.tuning)
    sizes = [len(r.data) for r in reading.regions(path, scanned, hub.settings.tuning)]
    assert len(sizes) == 3 and max(sizes) < path.stat().st_size / 2
    (report,) = ingest(hub, "om", path)
    assert report.accepted == n
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(event)) == n
        assert conn.scalar(select(payload.c.events_accepted)) == n


def test_a_politie_page_with_a_melding_handed_out_again(hub, tmp_path, sample):
    """A page of HaalMeldingen answers is a payload too; a melding seen before is a duplicate."""
    single = sample("politie/melding-aangifte.xml")
    melding = single.read_text().split("?>", 1)[1].strip()
    second = melding.replace("POL-0001", "POL-0002").replace("<Volgnummer>1<", "<Volgnummer>2<")
    page = tmp_path / "page.xml"
    page.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<HaalMeldingenAntwoord xmlns="urn:keten:politie:'
                    f'slachtoffermelding:v1">{melding}{second}<MeerBeschikbaar>false</MeerBeschikbaar>'
                    '</HaalMeldingenAntwoord>')
    ingest(hub, "politie", single)
    (report,) = ingest(hub, "politie", page)
    assert (report.state, report.accepted, report.duplicates) == ("accepted", 1, 1)


def test_a_person_listed_twice_in_one_event_quarantines_only_that_event(hub, tmp_path):
    twice = om_event(2).replace("</Slachtoffer>", "</Slachtoffer>\n    <Slachtoffer ref=\"S2\"><Bsn>111222333</Bsn>"
                                "<Geslachtsnaam>Jansen</Geslachtsnaam><Informatiewens>true</Informatiewens></Slachtoffer>")
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(1), twice, om_event(3)]))
    (report,) = ingest(hub, "om", path)
    assert report.accepted == 2
    ((bericht_id, reason),) = report.rejected
    assert bericht_id == "OM-T-0000002" and "listed twice" in reason


def test_a_bericht_id_too_long_to_keep_is_quarantined_on_every_store(hub, tmp_path):
    long_id = om_event(2).replace("OM-T-0000002", "OM-" + "X" * 240)
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(1), long_id]))
    (report,) = ingest(hub, "om", path)
    assert report.accepted == 1
    ((bericht_id, reason),) = report.rejected
    assert "243 characters" in reason


def test_a_single_event_file_whose_event_is_invalid_goes_to_rejected(hub, tmp_path, sample):
    drop = tmp_path / "drop"
    good = sample("cvom/beroep-ontvangen.xml", drop)
    (drop / "elfproef.xml").write_text(good.read_text().replace("100000046", "100000047")
                                       .replace("CVOM-2001", "CVOM-9001"))
    partner = hub.registry.partner("cvom")
    ingest_source(hub, partner, DropFolder(drop, partner.receive))
    assert (drop / "processed" / "beroep-ontvangen.xml").exists()
    assert (drop / "rejected" / "elfproef.xml").exists()
    assert "elfproef" in (drop / "rejected" / "elfproef.xml.error.txt").read_text()


def test_a_batch_is_cut_into_regions_only_right_after_an_event(hub, tmp_path, monkeypatch):
    """Regions are cut where the first pass saw an event end, never at a look-alike end tag
    in a comment, a CDATA section or a processing instruction."""
    tune(hub, region_events=1)
    events = [om_event(n) for n in range(1, 7)]
    events[1] = events[1].replace("<Soort>", "<!-- </Zaakgebeurtenis> --><Soort>")
    events[2] = events[2].replace("<Geslachtsnaam>Jansen", "<Geslachtsnaam><![CDATA[</Zaakgebeurtenis >]]>Jansen")
    events[3] = events[3].replace("<Soort>", "<?note </Zaakgebeurtenis>?><Soort>") + "<!-- </Zaakgebeurtenis> -->"
    data = om_batch(events)
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data)
    om = hub.registry.partner("om")
    with open(path, "rb") as f:
        scanned = reading.scan(om, hub.settings.schemas_dir / om.schema, f, tuning=hub.settings.tuning)
    event_ends = {m.end() for m in re.finditer(rb"</Zaakgebeurtenis>(?=\n)", data)}  # the look-alikes are not
    assert len(event_ends) == 6
    assert len(scanned.cuts) >= 4 and scanned.cuts[-1].events == 6
    for cut in scanned.cuts[1:]:
        assert cut.offset in event_ends
        assert cut.line == data[:cut.offset].count(b"\n") + 1
    pieces = list(reading.regions(path, scanned, hub.settings.tuning))
    assert b"".join(r.data for r in pieces) == data[:scanned.cuts[-1].offset]
    assert sum(r.events for r in pieces) == 6
    (report,) = ingest(hub, "om", path)
    assert (report.accepted, report.rejected) == (6, [])


def test_a_batch_with_prefixed_elements_keeps_its_lines_in_regions(hub, tmp_path, monkeypatch):
    tune(hub, region_events=2)
    events = [om_event(n, bsn="123456789" if n == 4 else "123456782") for n in range(1, 6)]
    data = om_batch(events).decode()
    data = re.sub(r"<(/?)(\w+)", r"<\1om:\2", data).replace('<om:ZaakgebeurtenissenBatch xmlns=',
                                                             '<om:ZaakgebeurtenissenBatch xmlns:om=')
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data.encode())
    (report,) = ingest(hub, "om", path)
    assert report.accepted == 4
    ((bericht_id, reason),) = report.rejected
    bsn_line = data.splitlines().index(next(x for x in data.splitlines() if "123456789" in x)) + 1
    assert bericht_id == "OM-T-0000004"
    assert f"line {bsn_line}, element /ZaakgebeurtenissenBatch/Zaakgebeurtenis/Verdachte/Bsn" in reason


def _scan_spying(hub, path, monkeypatch):
    """The scan of ``path``, and whether it had to parse the events (``_layout``) to get it."""
    calls = []
    parsed = reading._layout
    monkeypatch.setattr(reading, "_layout", lambda *a: calls.append(1) or parsed(*a))
    om = hub.registry.partner("om")
    with open(path, "rb") as f:
        return reading.scan(om, hub.settings.schemas_dir / om.schema, f, tuning=hub.settings.tuning), bool(calls)


def test_a_plain_batch_is_cut_by_reading_its_bytes(hub, tmp_path, monkeypatch):
    tune(hub, region_events=5)
    data = om_batch([om_event(n) for n in range(1, 13)])
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data)
    scanned, parsed = _scan_spying(hub, path, monkeypatch)
    assert not parsed and scanned.problems == [] and scanned.events == 12
    event_ends = [m.end() for m in re.finditer(rb"</Zaakgebeurtenis>", data)]
    assert len(scanned.cuts) >= 3 and scanned.cuts[-1].offset == event_ends[-1]
    for cut in scanned.cuts[1:]:
        assert cut.offset in event_ends and cut.events == event_ends.index(cut.offset) + 1
        assert cut.line == data[:cut.offset].count(b"\n") + 1
    (report,) = ingest(hub, "om", path)
    assert (report.accepted, report.rejected) == (12, [])


def test_the_kept_copy_leaves_the_page_cache_behind_its_reading(hub, tmp_path, monkeypatch):
    """Read once for its events, the copy need not take memory that the store's pages can use."""
    tune(hub, region_events=5, drop_behind_bytes=3000)
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(n) for n in range(1, 31)]))
    with open(path, "rb") as f:
        scanned = reading.scan(hub.registry.partner("om"), hub.settings.schemas_dir / "om/zaakgebeurtenissen-v1.xsd", f,
                               tuning=hub.settings.tuning)
    read, dropped = [], []
    monkeypatch.setattr(reading.os, "posix_fadvise", lambda fd, offset, length, advice: dropped.append(
        (offset, length, advice, sum(len(r.data) for r in read))))
    for region in reading.regions(path, scanned, hub.settings.tuning):
        read.append(region)
    assert len(dropped) >= 2 and all(advice == reading.os.POSIX_FADV_DONTNEED for _, _, advice, _ in dropped)
    # From the start up to what was read: never beyond it, and each time at least drop_behind_bytes more.
    assert all(offset == 0 and length == read_so_far for offset, length, _, read_so_far in dropped)
    assert all(b[1] - a[1] >= 3000 for a, b in zip(dropped, dropped[1:]))
    assert b"".join(r.data for r in read) == path.read_bytes()[:scanned.cuts[-1].offset]


@pytest.mark.parametrize("change, outcome", [
    # A namespace error: the parse that builds nothing does not report it, the events' parse does.
    (lambda e: e[:2] + [e[2].replace("<Soort>", "<x:Soort>").replace("</Soort>", "</x:Soort>")] + e[3:],
     "Namespace prefix (a name not in the contract) on Soort is not defined"),
    # The same on an attribute, behind a value that holds a ">" and a "!".
    (lambda e: e[:2] + [e[2].replace('<Slachtoffer ref="S1">', '<Slachtoffer a=">!" x:b="1" ref="S1">')] + e[3:],
     "Namespace prefix (a name not in the contract) for (a name not in the contract) on Slachtoffer is not defined"),
    (lambda e: e[:2] + ["<!-- a comment -->\n"] + e[2:], 4),
    (lambda e: e[:2] + [e[2].replace("Jansen", "Jansen > Janssen")] + e[3:], 4),  # a ">" in a text
    (lambda e: e[:2] + [e[2].replace("Jansen", "Zaakgebeurtenis")] + e[3:], 4),  # the name in a text
    (lambda e: [e[0] + "\n"] + e[1:], 4),  # other white space between two events
    (lambda e: e[:2] + [e[2].replace("</Slachtoffer>", "</Slachtoffer><Zaakgebeurtenis/>")] + e[3:], 4),  # nested
    (lambda e: e[:2] + ["  <Zaakgebeurtenis/>\n"] + e[2:], 5),  # an empty event: quarantined, not lost
    (lambda e: [e[0].replace("<Zaakgebeurtenis>", '<Zaakgebeurtenis xmlns="urn:keten:om:zaakgebeurtenissen:v1">')]
     + e[1:], 4),
], ids=["unbound-prefix", "unbound-prefix-after-gt", "comment", "gt-in-text", "name-in-text", "white-space",
        "nested", "empty-event", "declaration"])
def test_what_the_plain_reading_cannot_vouch_for_is_parsed(hub, tmp_path, monkeypatch, change, outcome):
    events = change([om_event(n) for n in range(1, 5)])
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch(events, count=outcome if isinstance(outcome, int) else None))
    scanned, parsed = _scan_spying(hub, path, monkeypatch)
    assert parsed
    if isinstance(outcome, str):
        assert [p.rule for p in scanned.problems] == ["well-formed"] and outcome in scanned.problems[0].message
    else:
        assert scanned.problems == [] and scanned.events == outcome
        (report,) = ingest(hub, "om", path)
        assert report.accepted + len(report.rejected) == outcome


@pytest.mark.parametrize("body, marked", [
    (b"<a>x</a>\n  <b/>", False),
    (b"<T>09:00:00+01:00</T><U>Let op! Wie?</U>", False),  # ":!?" in texts are no markup
    (b"<o:a>x</o:a>", True), (b"<a x:b='1'/>", True), (b"<a x='urn:x'/>", True),  # a colon in a tag
    (b"<!-- c -->", True), (b"<![CDATA[x]]>", True), (b"<?pi x?>", True),
    (b"<a>x > y</a>", True), (b"<a x='>'/>", True), (b'<a x=">!" y="1"/>', True),  # a ">" that closes no tag
])
def test_markup_that_could_hide_an_end_tag_is_seen_in_the_bytes(body, marked):
    assert reading._marked(body) is marked


@pytest.mark.parametrize("broken, line", [(b"</Geslachtsnaam>", b"</Geslachtsnaamm>"), (b"Jansen", b"Jans\xe9n")],
                         ids=["mismatched-end-tag", "invalid-utf8"])
def test_a_plain_batch_broken_deep_inside_is_rejected_whole(hub, tmp_path, monkeypatch, broken, line):
    """The byte reading that cuts a plain batch cannot see this; the well-formedness check beside
    it can, and the file is rejected with the line before anything is stored."""
    events = [om_event(n) for n in range(1, 401)]
    events[299] = events[299].encode().replace(broken, line, 1).decode("latin-1")
    data = om_batch([]).replace(b"<AantalGebeurtenissen>0", b"<AantalGebeurtenissen>400").replace(
        b"</ZaakgebeurtenissenBatch>", "".join(events).encode("latin-1") + b"</ZaakgebeurtenissenBatch>")
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", data)
    scanned, parsed = _scan_spying(hub, path, monkeypatch)
    bad_line = data[:data.index(line)].count(b"\n") + 1
    assert not parsed and [p.rule for p in scanned.problems] == ["well-formed"]
    assert scanned.problems[0].line == bad_line > 2000
    (report,) = ingest(hub, "om", path)
    assert report.state == "rejected"
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(event)) == 0


def test_the_cuts_are_those_of_the_kept_copy_even_if_the_source_changes(hub, monkeypatch):
    """The second reading is of the copy in payloads/, not of the partner's file, which may be
    rewritten meanwhile: regions are cut from the copy with these cuts."""
    import io
    tune(hub, region_events=2)
    data = om_batch([om_event(n) for n in range(1, 6)])

    class Rewritten(io.BytesIO):  # the partner rewrites the file once it has been read
        def read(self, *a):
            chunk = super().read(*a)
            if not chunk:
                self.__init__(data.replace(b"<Kop>", b"<Kop>" + b" " * 100))
            return chunk

    om, copy = hub.registry.partner("om"), io.BytesIO()
    scanned = reading.scan(om, hub.settings.schemas_dir / om.schema, Rewritten(data), copy, hub.settings.tuning)
    assert copy.getvalue() == data and scanned.events == 5
    ends = {m.end() for m in re.finditer(rb"</Zaakgebeurtenis>", data)}
    assert all(c.offset in ends for c in scanned.cuts[1:]) and scanned.cuts[-1].events == 5


def test_a_batch_whose_events_the_adapter_names_otherwise_says_which_it_looked_for(hub, tmp_path):
    """No event found at all, against the header's count: the adapter's event: names another
    element (here another namespace) than the contract's files have, and the reason says so."""
    from dataclasses import replace
    om = hub.registry.partner("om")
    hub.registry.partners["om"] = replace(om, event=om.event.replace(om.namespace, "urn:keten:om:v2"))
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch([om_event(1), om_event(2)]))
    (report,) = ingest(hub, "om", path)
    assert report.state == "rejected", report.text()
    assert ("holds 0 Zaakgebeurtenis (namespace urn:keten:om:v2) elements (the adapter's event:)"
            in report.text()), report.text()


@pytest.mark.parametrize("spoilt, quoted", [
    (lambda x: x.replace(b"</Geslachtsnaam>", b"</Jansen-TESTTAG>", 1), "Geslachtsnaam line"),  # a name it knows
    (lambda x: x.replace(b"<Geslachtsnaam>", b"<Geslachtsnaam>&JansenTESTENTITY;", 1), "Entity"),
    (lambda x: x.replace(b"<Geslachtsnaam>", b"<Geslachtsnaam>Jans\xe9n ", 1), "character encoding"),
    (lambda x: x.replace(b"<Geslachtsnaam>", b"<Jansen:TEST>", 1).replace(b"</Geslachtsnaam>", b"</Jansen:TEST>", 1),
     "Namespace prefix"),
    (lambda x: x.replace(b"<Geslachtsnaam>", b"<Geslachtsnaam><![CDATA[Jansen 739137001", 1), "CData section"),
    (lambda x: x.replace(b"<Geslachtsnaam>", b"<Geslachtsnaam><!-- Jansen -- TEST -->", 1), "within comment"),
    (lambda x: x.replace(b"<Geslachtsnaam>", b"<Geslachtsnaam><?JansenTEST x", 1), "processing instruction"),
    (lambda x: x.replace(b"<ZaakgebeurtenissenBatch ", b"<ZaakgebeurtenissenBatch xmlns:p='Jansen TEST' ", 1),
     "not a URI"),
    (lambda x: x.replace(b'encoding="UTF-8"', b'encoding="JansenTEST"', 1), "an encoding the hub does not know"),
    (lambda x: x.replace(b"<ZaakgebeurtenissenBatch ", b"<ZaakgebeurtenissenBatch xmlns:p='urn:x' xmlns:q='urn:x' "
                         b"p:JansenTEST='1' q:JansenTEST='2' ", 1), "an attribute given twice in one namespace"),
])
def test_a_not_well_formed_payload_is_explained_without_its_text(hub, tmp_path, spoilt, quoted):
    """libxml2 quotes the names of the document; a name the contract does not declare may be a
    value put in the wrong place, and is not shown. Nor are the bytes of text that is not UTF-8."""
    from ketenhub.pipeline import check
    good = om_batch([om_event(1)]).replace(b"Jansen", b"Visser")
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", spoilt(good))
    report = check(hub, hub.registry.partner("om"), path)
    text = report.text()
    assert report.state == "invalid" and quoted in text, text
    assert "Jansen" not in text and "TEST" not in text and "739137001" not in text and "0xE9" not in text, text


def test_a_schema_problem_names_only_what_the_contract_declares_or_nearly(hub, tmp_path):
    """A name of the document the contract does not declare may be a value put in the wrong
    place: not shown. One close to a declared name is a typo, and shown: that is what to mend."""
    events = [om_event(1).replace("<Soort>", "<Jansen739137001/><Soort>"),
              om_event(2).replace("<Soort>INSCHRIJVING</Soort>", "<Sort>INSCHRIJVING</Sort>"),
              om_event(3).replace('<Slachtoffer ref="S1">', '<Slachtoffer ref="S1" Zoe_Jansen="x">')]
    (report,) = ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                                                    om_batch(events)))
    reasons = dict(report.rejected)
    assert "Zaakgebeurtenis/(a name not in the contract): this element is not allowed here" in reasons["OM-T-0000001"]
    assert "Zaakgebeurtenis/Sort: this element is not allowed here" in reasons["OM-T-0000002"]
    assert "Slachtoffer/@(a name not in the contract): the attribute (a name not in the contract)" in \
        reasons["OM-T-0000003"]
    assert "Jansen" not in report.text()


@pytest.mark.parametrize("spoil", [
    lambda x: x.replace(b"<BerichtId>", b"<BerichtId xmlns:p='Jan Geheim 123456782'>", 1),
    lambda x: x.replace(b"<BerichtId>", b"<Geheim:BerichtId>", 1).replace(b"</BerichtId>", b"</Geheim:BerichtId>", 1),
])
def test_a_one_event_document_with_wrong_namespaces_is_refused_in_the_hubs_words(hub, tmp_path, sample, spoil):
    """The check of a document's syntax does not see its namespaces; the event's parse does, and
    refuses it as any event is refused: kept, quarantined, the file moved aside; nothing retried."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "kapot.xml").write_bytes(spoil(sample("cvom/beroep-ontvangen.xml").read_bytes()))
    sample("cvom/beslissing-gegrond.xml", drop)
    partner = hub.registry.partner("cvom")
    reports = ingest_source(hub, partner, DropFolder(drop, partner.receive))
    assert sorted((r.name, r.state) for r in reports) == [("beslissing-gegrond.xml", "accepted"),
                                                          ("kapot.xml", "accepted")]
    (bad,) = [r for r in reports if r.name == "kapot.xml"]
    text = bad.text()
    assert "rejected (each of its events was)" in text and "not well-formed" in text
    assert "Geheim" not in text and "123456782" not in text
    assert (drop / "rejected" / "kapot.xml").exists() and (drop / "processed" / "beslissing-gegrond.xml").exists()


def test_a_wrong_root_or_an_element_between_the_events_is_named_only_as_the_contract_has_it(hub, tmp_path):
    from ketenhub.pipeline import check
    om = hub.registry.partner("om")
    for spoilt in (b"<Geheimnaam xmlns='urn:Geheim:123456782'><x/></Geheimnaam>",
                   om_batch([om_event(1), om_event(2)]).replace(b"</Zaakgebeurtenis>",
                                                                 b"</Zaakgebeurtenis><Geheimnaam>1</Geheimnaam>", 1)):
        path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", spoilt)
        text = check(hub, om, path).text()
        assert "(a name not in the contract)" in text and "Geheim" not in text and "123456782" not in text, text
