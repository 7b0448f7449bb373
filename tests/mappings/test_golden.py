"""Every mapping against its golden files: input → exactly the expected output, and the output
valid against the target XSD. Regenerate with tests/mappings/regenerate.py, then review."""
from pathlib import Path

import pytest
from lxml import etree

from ketenhub import adapters, settings
from ketenhub.normalise.canonical import SCHEMA as CANONICAL
from ketenhub.xml.xslt import transform
from ketenhub.xml.schema import compile_schema, validate

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = settings.load()
REGISTRY = adapters.load(SETTINGS)
PARTNERS = {p.mapping: p for p in REGISTRY.partners.values()}
# Every contract version of a destination has its own mapping.
DESTINATIONS = {d.mapping: d for whole in REGISTRY.destinations.values()
                for d in [v.destination for v in whole.versions] or [whole]}
CASES = sorted(GOLDEN.glob("*/*.input.xml"))
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


def canonical_form(root) -> bytes:
    return etree.tostring(etree.fromstring(etree.tostring(root), _PARSER), method="c14n")


def test_every_mapping_has_golden_cases():
    covered = {case.parent.name + ".xsl" for case in CASES}
    assert covered == set(PARTNERS) | set(DESTINATIONS)


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name.removesuffix('.input.xml')}")
def test_mapping_output_matches_golden_and_is_valid(case):
    mapping = case.parent.name + ".xsl"
    source = etree.parse(str(case), _PARSER)
    expected = etree.parse(str(case.with_name(case.name.replace(".input.", ".expected."))), _PARSER).getroot()
    if mapping in PARTNERS:
        p = PARTNERS[mapping]
        result = transform(SETTINGS.mappings_dir / mapping, source, partner=p.partner.upper(), oin=p.oin).getroot()
        assert validate(compile_schema(str(SETTINGS.schemas_dir / CANONICAL)), result) == []
    else:
        d = DESTINATIONS[mapping]
        result = transform(SETTINGS.mappings_dir / mapping, source).getroot()
        schema = compile_schema(str(SETTINGS.schemas_dir / d.schema))
        for item in result:
            assert validate(schema, item) == []
    assert canonical_form(result) == canonical_form(expected)
