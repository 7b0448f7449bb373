"""The Normaliser: a partner's event to a canonical Gebeurtenis, checked against the canonical
model, one at a time (to explain) and a region at once (the fast path)."""
from pathlib import Path

from lxml import etree

from ketenhub.normalise.canonical import NS, Normaliser, kind
from ketenhub.xml.parsing import parser
from tests.support.factories import om_batch, om_event


def events(data: bytes) -> etree._Element:
    root = etree.fromstring(data, parser())
    for el in [el for el in root if not el.tag.endswith("Zaakgebeurtenis")]:
        root.remove(el)
    return root


def test_an_event_becomes_a_valid_canonical_gebeurtenis(hub):
    om = hub.registry.partner("om")
    normalise = Normaliser(om, hub.settings.mappings_dir, hub.settings.schemas_dir)
    (event,) = events(om_batch([om_event(1, soort="SEPOT", extra="<Beslissing><Uitkomst>SEPOT</Uitkomst>"
                                                                  "<Datum>2026-11-20</Datum></Beslissing>")]))
    canonical, problems = normalise(event)
    assert problems == [] and canonical.tag == f"{{{NS}}}Gebeurtenis"
    assert kind(canonical) == "Zaakgebeurtenis" and normalise.schema.validate(canonical)
    assert canonical.findtext(f".//{{{NS}}}Parketnummer") == "13/000001-26"  # the slash form, as the chain wants


def test_a_region_at_once_gives_what_each_event_alone_gives(hub):
    om = hub.registry.partner("om")
    normalise = Normaliser(om, hub.settings.mappings_dir, hub.settings.schemas_dir)
    root = events(om_batch([om_event(n) for n in range(1, 6)]))
    _, many = normalise.many(root)
    alone = [normalise(el)[0] for el in root]
    assert [etree.tostring(c) for c in many] == [etree.tostring(c) for c in alone]


def test_a_mapping_that_makes_an_invalid_document_says_so_and_names_the_mapping(hub, tmp_path):
    om = hub.registry.partner("om")
    mapping = (hub.settings.mappings_dir / om.mapping).read_text()
    broken = tmp_path / om.mapping
    tijdstip = '<Tijdstip><xsl:value-of select="o:Tijdstip"/></Tijdstip>'
    assert tijdstip in mapping
    broken.write_text(mapping.replace(tijdstip, ""))
    normalise = Normaliser(om, Path(tmp_path), hub.settings.schemas_dir)
    (event,) = events(om_batch([om_event(1)]))
    canonical, problems = normalise(event)
    assert canonical is None and [p.rule for p in problems] == ["canonical"]
    assert om.mapping in problems[0].message and "Tijdstip" in problems[0].message
    _, many = normalise.many(events(om_batch([om_event(1), om_event(2)])))
    assert many == [None, None]  # the fast path leaves them for the one-at-a-time explanation
