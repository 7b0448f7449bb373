"""Every destination's keys tell partners apart. A partner that sends another one's kind of event
(one added with `ketenhub adapter new --like ...`) has its items keyed with its own name first,
so that a BerichtId both use never gives one key twice, which the destination would take as a
repeat (and the store quarantines the second: one key per destination)."""
from pathlib import Path

import pytest
from lxml import etree

from ketenhub import adapters, settings
from ketenhub.route.router import compile_routes

SETTINGS = settings.load()
ROUTES = compile_routes(list(adapters.load(SETTINGS).destinations.values()), SETTINGS.mappings_dir,
                        SETTINGS.schemas_dir)
GOLDEN = Path(__file__).parent / "golden"
PARTNER = "{urn:ketenhub:canoniek:v1}Bron/{urn:ketenhub:canoniek:v1}Partner"
CASES = [(route, case) for route in ROUTES
         for case in sorted((GOLDEN / route.destination.mapping.removesuffix(".xsl")).glob("*.input.xml"))]


def keys(route, canonical) -> list[str]:
    return [route.key(item) for item in route.mapping(canonical).getroot()]


@pytest.mark.parametrize("route, case", CASES,
                         ids=[f"{r.destination.mapping.removesuffix('.xsl')}-{c.name.removesuffix('.input.xml')}"
                              for r, c in CASES])
def test_another_partners_event_of_the_same_kind_gets_keys_of_its_own(route, case):
    canonical = etree.parse(str(case))
    theirs = keys(route, canonical)
    partner = canonical.find(PARTNER)
    own, partner.text = partner.text, "RECLASSERING"
    assert keys(route, canonical) == ["RECLASSERING." + key.removeprefix(f"{own}.") for key in theirs]


def test_every_destination_has_cases_with_items():
    with_items = {route.destination.mapping for route, case in CASES if keys(route, etree.parse(str(case)))}
    assert with_items == {route.destination.mapping for route in ROUTES}
