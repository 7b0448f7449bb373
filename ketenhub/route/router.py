"""The routing table lives in the destination adapters (which canonical events they take) and
their mappings (which items an event yields: per informed victim, per compensation order, ...).
This module runs them and checks every item against the destination's XSD.

A destination with several contract versions has a route per version; which one takes a kind of
event depends on the moment (``Destination.taking``): the clock's now, when the event is routed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from lxml import etree

from ketenhub.adapters import Destination
from ketenhub.clock import now
from ketenhub.xml.problems import Problem
from ketenhub.xml.schema import compile_schema, validate
from ketenhub.xml.xslt import for_each, results_schema, serialised, standalone, stylesheet


class Outbound(NamedTuple):
    destination: str
    key: str  # idempotency key: the item's BerichtId or OpdrachtId, stable across resends
    recipient: str
    document: bytes  # one item, e.g. a Zaakstatus element


@lru_cache(maxsize=None)
def _xpath(expr: str, namespace: str) -> etree.XPath:
    # Plain str results: cheap to pickle. No EXSLT regular expressions, which no prefix here can name:
    # lxml would register them again at each of these calls, two per outbound item.
    return etree.XPath(expr, namespaces={"d": namespace}, smart_strings=False, regexp=False)


@dataclass(frozen=True)
class Route:
    """One destination's row of the routing table, compiled once per process."""
    destination: Destination
    mapping: etree.XSLT
    each: etree.XSLT  # the mapping over many events in one call
    schema: etree.XMLSchema
    results_schema: etree.XMLSchema  # of ``each``'s results, items in <Uitgaand xmlns="">
    key: etree.XPath
    recipient: etree.XPath
    whole: Destination  # as the registry has it: with its versions, if it has several


def compile_routes(destinations: list[Destination], mappings: Path, schemas: Path) -> list[Route]:
    each = [(v, d) for d in destinations for v in d.each_version()] + [(d, d) for d in destinations if not d.versions]
    return [Route(d, stylesheet(str(mappings / d.mapping)), for_each(str(mappings / d.mapping)),
                  compile_schema(str(schemas / d.schema)), results_schema(str(schemas / d.schema), d.item, "Uitgaand"),
                  _xpath(d.key, d.namespace), _xpath(d.recipient, d.namespace), whole) for d, whole in each]


def _taking(routes: list[Route], at: datetime | None) -> list[frozenset[str]]:
    """Per route, the kinds of event it takes at ``at`` (now)."""
    at = at or now()
    chosen: dict[tuple[str, str | None], frozenset[str]] = {}
    for r in routes:
        if r.whole.destination not in {d for d, _ in chosen}:
            chosen.update({(d.destination, d.version): kinds for d, kinds in r.whole.taking(at)})
    return [chosen.get((r.destination.destination, r.destination.version), frozenset()) for r in routes]


def _items(wrapper: etree._Element | None) -> list[etree._Element]:
    """The items a destination mapping produced. In a wrapper that declares no namespace
    (``<Uitgaand xmlns="">``) an item serialises in place exactly as on its own; in any other
    it would carry the wrapper's declarations, so it is copied out first."""
    if wrapper is None:
        return []
    in_place = not any(wrapper.nsmap.values())  # xmlns="" shows as {None: ''}
    return list(wrapper) if in_place else [standalone(item) for item in wrapper]


def _outbound(r: Route, item: etree._Element) -> Outbound:
    return Outbound(r.destination.destination, r.key(item), r.recipient(item), serialised(item))


def route(canonical: etree._Element, kind: str, routes: list[Route], at: datetime | None = None) \
        -> tuple[list[Outbound], list[Problem]]:
    items: list[Outbound] = []
    problems: list[Problem] = []
    for r, takes in zip(routes, _taking(routes, at)):
        dest = r.destination
        if kind not in takes:
            continue
        result = r.mapping(canonical).getroot()
        for item in _items(result):
            if item.tag != dest.item:
                problems.append(Problem("mapping", f"mapping {dest.mapping} produced {item.tag}, expected {dest.item}"))
                continue
            for p in validate(r.schema, item):
                problems.append(Problem("destination-schema", f"mapping {dest.mapping} produced an item "
                                        f"{dest.destination.upper()} would refuse: {p.message} at {p.element}"))
            items.append(Outbound(*_outbound(r, item)))
    keys = [(o.destination, o.key) for o in items]
    for destination, key in sorted({k for k in keys if keys.count(k) > 1}):
        # E.g. the same victim listed twice in one event: two messages with one key cannot both arrive.
        problems.append(Problem("duplicate-recipient", f"the event yields two {destination.upper()} messages with "
                                f"the same key {key}; is a person listed twice?"))
    return items, problems


def route_many(canonicals: etree._Element, kinds: list[str | None], routes: list[Route],
               at: datetime | None = None) -> list[list[Outbound] | None]:
    """``route`` for many events in one run of each mapping: ``canonicals`` is the result of
    ``Normaliser.many`` (one child per event), ``kinds`` says which events to route. Per
    event its items, or None where ``route`` must say what is wrong."""
    items: list[list[Outbound] | None] = [[] if k else None for k in kinds]
    for r, takes in zip(routes, _taking(routes, at)):
        dest = r.destination
        wanted = [k in takes and items[i] is not None for i, k in enumerate(kinds)]
        if not any(wanted):
            continue
        try:
            result = r.each(canonicals).getroot()
        except etree.XSLTApplyError:
            items = [None if w else got for w, got in zip(wanted, items)]
            continue
        all_valid = r.results_schema.validate(result)  # then every item is a dest.item, valid
        for i, each in enumerate(result):
            if not wanted[i]:
                continue
            if len(each) != 1:
                items[i] = None
                continue
            for item in _items(each[0]):
                if not all_valid and (item.tag != dest.item or not r.schema.validate(item)):
                    items[i] = None
                    break
                items[i].append(_outbound(r, item))
    for i, outbound in enumerate(items):
        if outbound and len({(destination, key) for destination, key, *_ in outbound}) < len(outbound):
            items[i] = None  # duplicate-recipient
    return items
