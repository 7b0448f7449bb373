"""Write the golden files for the mapping tests from the sample events in tests/data.

Run it after an intended mapping change, then READ the diff (git diff tests/mappings/golden):
the golden files are the reviewed expectation, not a copy of whatever the code does.

    .venv/bin/python tests/mappings/regenerate.py
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from lxml import etree

from ketenhub import adapters, settings
from ketenhub.xml import jsonxml
from ketenhub.xml.xslt import transform, use_key
from ketenhub.xml.parsing import parser

HERE = Path(__file__).parent
DATA = HERE.parent / "data"
GOLDEN = HERE / "golden"
sys.path.insert(0, str(HERE.parent.parent))
from tests import TEST_KEY  # noqa: E402  the golden files' Ketenreferenties are made with the test key


def partner_events(registry):
    """(case name, partner, event element) for every sample event."""
    for partner in registry.partners.values():
        if partner.format == "json":  # each event of each page, as json-to-xml: what the mapping reads
            for path in sorted((DATA / partner.partner).glob("*.json")):
                for event in json.loads(path.read_text(encoding="utf-8"))[partner.json.events]:
                    yield f"{partner.partner}-{event[partner.json.bericht_id]}", partner, jsonxml.to_xml(event)
            continue
        for path in sorted((DATA / partner.partner).glob("*.xml")):
            root = etree.parse(str(path), parser()).getroot()
            events = [root] if root.tag == partner.event else root.findall(partner.event)
            for el in events:
                bericht_id = el.findtext(f"{{{partner.namespace}}}BerichtId")
                yield f"{partner.partner}-{bericht_id}", partner, copy.deepcopy(el)


def pretty(tree) -> bytes:
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def main():
    s = settings.load()
    use_key(TEST_KEY)
    registry = adapters.load(s)
    written = 0
    for case, partner, el in partner_events(registry):
        folder = GOLDEN / partner.mapping.removesuffix(".xsl")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{case}.input.xml").write_bytes(pretty(el))
        canonical = transform(s.mappings_dir / partner.mapping, el, partner=partner.partner.upper(), oin=partner.oin)
        (folder / f"{case}.expected.xml").write_bytes(pretty(canonical))
        written += 2
        for dest in (d for whole in registry.destinations.values()
                     for d in [v.destination for v in whole.versions] or [whole]):
            kind = etree.QName(canonical.getroot()[-1]).localname
            if kind not in dest.events:
                continue
            out = GOLDEN / dest.mapping.removesuffix(".xsl")
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{case}.input.xml").write_bytes(pretty(canonical))
            (out / f"{case}.expected.xml").write_bytes(pretty(transform(s.mappings_dir / dest.mapping, canonical)))
            written += 2
    print(f"{written} golden files written under tests/mappings/golden: read what changed "
          "(git diff tests/mappings/golden; new files: git status)")


if __name__ == "__main__":
    main()
