"""Partner event to canonical Gebeurtenis, validated against schemas/canonical."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from ketenhub.adapters import Partner
from ketenhub.normalise.xslt import transform
from ketenhub.validate.problems import Problem
from ketenhub.validate.schema import compile_schema, validate

NS = "urn:ketenhub:canoniek:v1"
SCHEMA = "canonical/gebeurtenis-v1.xsd"


def to_canonical(partner: Partner, event: etree._Element, mappings: Path, schemas: Path
                 ) -> tuple[etree._Element | None, list[Problem]]:
    result = transform(mappings / partner.mapping, event, partner=partner.partner.upper(), oin=partner.oin)
    root = result.getroot()
    if root is None:
        return None, [Problem("mapping", f"mapping {partner.mapping} produced no document")]
    problems = validate(compile_schema(str(schemas / SCHEMA)), root)
    if problems:
        # The partner's event was valid, so this is a mapping problem: say so.
        return None, [Problem("canonical", f"mapping {partner.mapping} produced an invalid canonical "
                              f"document: {p.message} at {p.element}") for p in problems]
    return root, []


def kind(canonical: etree._Element) -> str:
    """Zaakgebeurtenis or Beroepgebeurtenis."""
    return etree.QName(canonical[-1]).localname
