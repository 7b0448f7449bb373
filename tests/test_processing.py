"""Processing the events of one partner: a region at a time gives what one at a time gives."""
import re

from ketenhub.processing import EventProcessor, RejectedEvent
from ketenhub.settings import Tuning
from ketenhub.validate.payload import regions, scan
from tests.support.reference import processed, without_raw
from tests.support.factories import om_batch, om_event, write_with_marker


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
        om_event(12).replace("<Geslachtsnaam>Jansen<", "<Geslachtsnaam>Şahin-Ünal &amp; Zoon<"),
    ]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    om = hub.registry.partner("om")
    processor = EventProcessor(hub, om)
    alone = processed(processor, path)

    tuning = Tuning(region_events=5)  # the first region has the header, the last the rest
    with open(path, "rb") as f:
        scanned = scan(om, hub.settings.schemas_dir / om.schema, f, tuning=tuning)
    assert len(scanned.cuts) >= 3 and scanned.cuts[-1].events == 13
    one_by_one = []
    monkeypatch.setattr(processor, "process", lambda el, **kw: one_by_one.append(el) or
                        EventProcessor.process(processor, el, **kw))
    chunked = [without_raw(r) for region in regions(path, scanned, tuning) for r in processor.process_region(region)]

    assert chunked == alone
    rejected = [r.bericht_id for r in alone if isinstance(r, RejectedEvent)]
    # a BerichtId longer than any identifier the hub keeps is not shown (it may hold anything)
    assert rejected == ["OM-T-0000002", "OM-T-0000003", "OM-T-0000004", "OM-T-0000007", None, "OM-T-0000011"]
    assert len(one_by_one) == len(rejected)  # the others took the fast path
    fine = next(r for r in alone if r.bericht_id == "OM-T-0000005")  # named, as chunked's are plain tuples
    items = {o.key: o for o in fine.outbound}
    assert sorted((o.destination, o.key) for o in fine.outbound) == [
        ("cjib", "OM-T-0000005.GELDBOETE"), ("cjib", "OM-T-0000005.SCHADEVERGOEDING.1"),
        ("kbsp", next(k for k in items if k.startswith("OM-T-0000005.KR-")))]
    assert b"<Bedrag>99.90</Bedrag>" in items["OM-T-0000005.SCHADEVERGOEDING.1"].document
    assert items["OM-T-0000005.GELDBOETE"].document.startswith(b'<Opdracht xmlns="urn:keten:cjib:opdrachten:v1">')
    # stored as UTF-8, as received: not as character references, the markup escaped
    named = next(r for r in alone if r.bericht_id == "OM-T-0000012")
    assert "<Geslachtsnaam>Şahin-Ünal &amp; Zoon</Geslachtsnaam>".encode() in named.canonical


def test_a_region_with_one_invalid_canonical_document_or_item_rejects_only_that_event(hub, tmp_path, monkeypatch):
    """A region's results are validated at once (xml.xslt.results_schema); when that fails,
    one by one, so that only the event whose mapping went wrong is rejected, and with its reason."""
    from dataclasses import replace

    from ketenhub.xml import xslt

    def broken(mapping: str, tijdstip: str, when: str):
        """The mapping, leaving out Tijdstip (which the target XSD requires) for one event."""
        text = (hub.settings.mappings_dir / mapping).read_text()
        assert tijdstip in text
        path = tmp_path / mapping
        path.write_text(text.replace(tijdstip, f'<xsl:if test="not({when})">{tijdstip}</xsl:if>'))
        (tmp_path / "delivery-keys.xsl").write_bytes((hub.settings.mappings_dir / "delivery-keys.xsl").read_bytes())
        return xslt.stylesheet(str(path)), xslt.for_each(str(path))

    events = [om_event(n, soort="UITSPRAAK", extra="<Beslissing><Uitkomst>VEROORDEELD</Uitkomst><Datum>2026-11-20"
                       "</Datum><Geldboete>250</Geldboete></Beslissing>") for n in range(1, 9)]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    om = hub.registry.partner("om")
    processor = EventProcessor(hub, om)
    processor.normalise.mapping, processor.normalise.each = broken(
        "om-to-canonical.xsl", '<Tijdstip><xsl:value-of select="o:Tijdstip"/></Tijdstip>', "o:BerichtId = 'OM-T-0000003'")
    kbsp = next(i for i, r in enumerate(processor.routes) if r.destination.destination == "kbsp")
    mapping, each = broken("canonical-to-kbsp.xsl", '<Tijdstip><xsl:value-of select="../../k:Tijdstip"/></Tijdstip>',
                           "../../k:BerichtId = 'OM-T-0000006'")
    processor.routes[kbsp] = replace(processor.routes[kbsp], mapping=mapping, each=each)
    alone = processed(processor, path)

    tuning = Tuning(region_events=4)
    with open(path, "rb") as f:
        scanned = scan(om, hub.settings.schemas_dir / om.schema, f, tuning=tuning)
    chunked = [without_raw(r) for region in regions(path, scanned, tuning) for r in processor.process_region(region)]

    assert chunked == alone
    rejected = {r.bericht_id: r.reason for r in chunked if isinstance(r, RejectedEvent)}
    assert sorted(rejected) == ["OM-T-0000003", "OM-T-0000006"]
    assert "rule: canonical" in rejected["OM-T-0000003"] and "rule: destination-schema" in rejected["OM-T-0000006"]
    assert sum(len(r.outbound) for r in alone if not isinstance(r, RejectedEvent)) == 6 * 2  # KbSP and CJIB each


class CountingSchema:
    """A partner's XSD that counts what it validates: whole regions, or events on their own."""

    def __init__(self, schema):
        self.schema, self.regions, self.events = schema, 0, 0

    def validate(self, el) -> bool:
        if el.getparent() is None:
            self.regions += 1
        else:
            self.events += 1
        return self.schema.validate(el)

    @property
    def error_log(self):
        return self.schema.error_log


def test_a_region_is_validated_at_once_and_each_error_found_on_its_event(hub, tmp_path, monkeypatch):
    """Each error's path leads to its event, also where a region is one line or its elements have
    a prefix; an error on an event itself (here an attribute it may not have) may be about its
    place in the batch, so then its region's events are validated one by one."""
    inside = [om_event(n) for n in range(1, 13)]
    inside[2] = om_event(3, bsn="1234567820")  # pattern, deep inside
    inside[4] = om_event(5, soort="ONBEKEND")  # enumeration
    inside[9] = om_event(10).replace("<Voornamen>", "<Roepnaam>Kees</Roepnaam><Voornamen>")  # not allowed there
    inside[10] = om_event(11).replace("<Soort>INSCHRIJVING</Soort>", "")  # missing, in the same region
    on_event = [om_event(n) for n in range(13, 17)]
    on_event[1] = on_event[1].replace("<Zaakgebeurtenis>", '<Zaakgebeurtenis status="x">')
    om = hub.registry.partner("om")
    tuning = Tuning(region_events=4)
    plain = om_batch(inside + on_event)
    prefixed = re.sub(rb"<(/?)(?=[A-Z])", rb"<\1om:", plain).replace(b"xmlns=", b"xmlns:om=")
    for name, batch in [("plain", plain), ("one-line", plain.replace(b"\n", b"")), ("prefixed", prefixed)]:
        path = write_with_marker(tmp_path / f"{name}.xml", batch)
        processor = EventProcessor(hub, om)
        alone = processed(processor, path)
        with open(path, "rb") as f:
            scanned = scan(om, hub.settings.schemas_dir / om.schema, f, tuning=tuning)
        processor.schema = counting = CountingSchema(processor.schema)
        chunked = [without_raw(r) for region in regions(path, scanned, tuning) for r in processor.process_region(region)]

        assert chunked == alone
        rejected = [r.bericht_id for r in chunked if isinstance(r, RejectedEvent)]
        assert rejected == ["OM-T-0000003", "OM-T-0000005", "OM-T-0000010", "OM-T-0000011", "OM-T-0000014"]
        assert counting.regions == len(scanned.cuts) - 1 >= 3
        # Each rejected event once more on its own to say why, and the events of event 14's region
        # one by one.
        (around_14,) = [b.events - a.events for a, b in zip(scanned.cuts, scanned.cuts[1:]) if a.events < 14 <= b.events]
        assert counting.events == len(rejected) + around_14


def test_documents_of_one_event_together_give_what_each_gives_on_its_own(hub, tmp_path):
    """process_documents maps a drop folder's files of one event together: each result must be
    the one process_region gives for that file alone, refusals and their reasons included."""
    from tests.conftest import DATA
    cvom = hub.registry.partner("cvom")
    valid = (DATA / "cvom/beroep-ontvangen.xml").read_bytes()
    files = [p.read_bytes() for p in sorted((DATA / "cvom").glob("*.xml"))] + [
        valid.replace(b"<BerichtId>", b"<Onbekend/><BerichtId>", 1),  # schema
        re.sub(rb"<Bsn>\d+</Bsn>", b"<Bsn>123456789</Bsn>", valid, count=1),  # elfproef
        re.sub(rb"<BerichtId>[^<]+</BerichtId>", b"<BerichtId>" + b"X" * 201 + b"</BerichtId>", valid, count=1),
        b"<?xml version='1.0' encoding='UTF-8'?>\n<!-- a comment first -->\n" + valid.split(b"?>", 1)[-1].lstrip(),
        valid,  # the same file twice
    ]
    processor, cut = EventProcessor(hub, cvom), []
    for n, data in enumerate(files):
        path = tmp_path / f"CVOM_{n:09d}.xml"
        path.write_bytes(data)
        with open(path, "rb") as f:
            scanned = scan(cvom, hub.settings.schemas_dir / cvom.schema, f)
        assert not scanned.problems
        cut += list(regions(path, scanned, Tuning()))
    assert len(cut) == len(files)
    together = processor.process_documents(cut)
    assert together == [processor.process_region(r) for r in cut]
    assert sum(isinstance(r, RejectedEvent) for rs in together for r in rs) == 3


def test_a_canonical_kind_without_a_soort_rejects_its_events_with_the_reason(hub, tmp_path, monkeypatch):
    """A kind added to the canonical model without the Soort every kind has: its events are
    rejected saying so, in a region as one by one, where the region failed with StopIteration."""
    from ketenhub import processing
    monkeypatch.setattr(processing, "_SOORT", "{urn:elders}Soort")  # as if the kind had none
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(n) for n in range(1, 5)]))
    om = hub.registry.partner("om")
    processor = EventProcessor(hub, om)
    tuning = Tuning(region_events=4)
    with open(path, "rb") as f:
        scanned = scan(om, hub.settings.schemas_dir / om.schema, f, tuning=tuning)
    results = [r for region in regions(path, scanned, tuning) for r in processor.process_region(region)]
    assert len(results) == 4 and all(isinstance(r, RejectedEvent) for r in results)
    assert all("has no Soort" in r.reason and "rule: mapping" in r.reason for r in results), results[0].reason


def test_a_rejected_event_is_named_only_by_a_berichtid_of_an_identifiers_form(hub, tmp_path):
    """A BerichtId the contract takes (any token) may still be personal data put in the wrong
    place. A rejected event is named by it only where it has the partners' identifiers' form: a
    code of letters and a hyphen first, a digit after. A word or a number alone is not shown,
    nor one with a BSN, a name, a postcode or a number plate in front."""
    shown = ["OM-T-0000001", "shn-2b3c4d5e", "SF-GB-2027-0000320"]
    hidden = ["123456782", "Jansen", "0612345678", "BSN999990019", "Jansen1", "jan.jansen1990", "12-ABC-3",
              "1234AB", "NL91ABNA0417164300", "K.Boef/Dorpsstraat1", "999990019-Jansen", "OM-T"]
    ids = shown + hidden
    events = [om_event(n, bsn="123456789").replace(f"OM-T-{n:07d}", i) for n, i in enumerate(ids, 1)]
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch(events))
    results = processed(EventProcessor(hub, hub.registry.partner("om")), path)
    assert all(isinstance(r, RejectedEvent) for r in results)  # the suspect's BSN fails the elfproef
    assert [r.bericht_id for r in results] == shown + [None] * len(hidden)
