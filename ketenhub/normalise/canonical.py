"""Partner event to canonical Gebeurtenis, validated against schemas/canonical."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from ketenhub.adapters import Partner
from ketenhub.xml.problems import Problem
from ketenhub.xml.schema import compile_schema, validate
from ketenhub.xml.xslt import MappingError, expect, for_each, results_schema, stylesheet

NS = "urn:ketenhub:canoniek:v1"
SCHEMA = "canonical/gebeurtenis-v1.xsd"


class Normaliser:
    """One partner's mapping to the canonical model, compiled once per process."""

    def __init__(self, partner: Partner, mappings: Path, schemas: Path):
        self.partner = partner
        self.mapping = stylesheet(str(mappings / partner.mapping))
        self.each = for_each(str(mappings / partner.mapping))
        self.schema = compile_schema(str(schemas / SCHEMA))
        self.results_schema = results_schema(str(schemas / SCHEMA), f"{{{NS}}}Gebeurtenis")
        self.params = dict(partner=etree.XSLT.strparam(partner.partner.upper()), oin=etree.XSLT.strparam(partner.oin))

    def __call__(self, event: etree._Element) -> tuple[etree._Element | None, list[Problem]]:
        try:
            root = self.mapping(event, **self.params).getroot()
        except etree.XSLTApplyError as e:
            raise MappingError(f"mapping {self.partner.mapping} failed: {e}") from None
        if root is None:
            return None, [Problem("mapping", f"mapping {self.partner.mapping} produced no document")]
        problems = validate(self.schema, root)
        if problems:
            # The partner's event was valid, so this is a mapping problem: say so.
            return None, [Problem("canonical", f"mapping {self.partner.mapping} produced an invalid canonical "
                                  f"document: {p.message} at {p.element}") for p in problems]
        return root, []

    def many(self, events: etree._Element) -> tuple[etree._Element | None, list[etree._Element | None]]:
        """Every child of ``events`` (valid partner events) in one run of the mapping: the
        result's root, whose children hold one event's result each, and per event its valid
        canonical Gebeurtenis, or None where ``__call__`` must say what is wrong."""
        expect(events)
        try:
            result = self.each(events, **self.params).getroot()
        except etree.XSLTApplyError:
            return None, [None] * len(events)
        canonicals = []
        all_valid = self.results_schema.validate(result)
        for each in result:
            docs = list(each)
            if len(docs) == 1 and (all_valid or self.schema.validate(docs[0])):
                canonicals.append(docs[0])
            else:
                each.clear()  # nothing to route
                canonicals.append(None)
        return result, canonicals


def kind(canonical: etree._Element) -> str:
    """Zaakgebeurtenis or Beroepgebeurtenis."""
    return canonical[-1].tag.rpartition("}")[2]
