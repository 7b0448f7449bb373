"""Validating, normalising and routing the events of one partner: what happens to an event
between receiving and storing it. Nothing here touches the store, so that a worker process
(see workers) needs neither SQLAlchemy nor a database to do it, and starts in a fraction of
the time."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from lxml import etree

from ketenhub.adapters import Partner
from ketenhub.hub import Hub
from ketenhub.normalise.canonical import NS as CANONICAL, Normaliser, kind
from ketenhub.route.router import Outbound, compile_routes, route, route_many
from ketenhub.validate import jsonpage
from ketenhub.validate.payload import Region, event_spans, kept_event, under_root
from ketenhub.validate.rules import Rules, check_bsns, failing_bsns
from ketenhub.xml import jsonxml, parsing
from ketenhub.xml.problems import Problem, explain
from ketenhub.xml.schema import compile_schema, declared_names, validate
from ketenhub.xml.xslt import MappingError, serialised

MAX_BERICHT_ID = 200  # the store's key columns hold 255; outbound keys add a suffix


class AcceptedEvent(NamedTuple):
    bericht_id: str
    kind: str
    soort: str
    canonical: bytes
    outbound: list[Outbound]


class RejectedEvent(NamedTuple):
    bericht_id: str | None
    line: int | None
    reason: str
    raw: bytes | None  # None: too large to keep apart (it is in the kept payload)


class EventProcessor:
    """Validate, normalise and route the events of one partner: one at a time (``process``,
    which explains every problem), or a region of a batch at once (``process_region``)."""

    def __init__(self, hub: Hub, partner: Partner):
        s = hub.settings
        self.partner = partner
        self.bericht_id = f"{{{partner.namespace}}}BerichtId"
        self.names = frozenset()  # those the partner's XSD declares (xml.schema.declared_names)
        if partner.format == "json":  # each event is checked as JSON, then handed on as json-to-xml
            self.schema = None
            self.event_schema = jsonpage.validator(str(s.schemas_dir / partner.schema), partner.json.event_schema)
        else:
            self.schema = compile_schema(str(s.schemas_dir / partner.schema))
            self.names = declared_names(str(s.schemas_dir / partner.schema))
        self.rules = Rules(partner.rules, partner.namespace)
        self.normalise = Normaliser(partner, s.mappings_dir, s.schemas_dir)
        self.routes = compile_routes(list(hub.registry.destinations.values()), s.mappings_dir, s.schemas_dir)

    def process(self, el: etree._Element, line_offset: int = 0) -> AcceptedEvent | RejectedEvent:
        """``line_offset``: lines before the event in its file, when it was cut out of it."""
        bericht_id = _text(next(el.iterchildren(self.bericht_id), None))
        most = self.partner.limits.errors_per_event
        problems = validate(self.schema, el, most, self.names) or check_bsns(el) + self.rules(el)
        return self._mapped(el, bericht_id, problems, line_offset)

    def _mapped(self, el: etree._Element, bericht_id: str | None, problems: list[Problem], line_offset: int = 0,
                raw: bytes | None = None) -> AcceptedEvent | RejectedEvent:
        """An event with the problems its checks found: normalised and routed if there are none.
        ``raw``: its bytes as kept, where not the element's (a JSON event)."""
        if bericht_id and len(bericht_id) > MAX_BERICHT_ID:
            problems.append(Problem("bericht-id", f"the BerichtId is {len(bericht_id)} characters long; the hub "
                                    f"keeps at most {MAX_BERICHT_ID}", line=el.sourceline))
        if not problems:
            try:
                canonical, problems = self.normalise(el)
                if not problems:
                    k = kind(canonical)
                    outbound, problems = route(canonical, k, self.routes)
                    if not problems:
                        return _accepted(bericht_id, canonical, k, outbound)
            except MappingError as e:
                problems = [Problem("mapping", str(e))]
        bericht_id = self._naming(bericht_id, problems)  # at most MAX_BERICHT_ID long
        if raw is not None:
            return RejectedEvent(bericht_id, None, explain(problems), raw)
        if line_offset:
            problems = [replace(p, line=p.line + line_offset) if p.line else p for p in problems]
        return RejectedEvent(bericht_id, el.sourceline + line_offset, explain(problems),
                             etree.tostring(el, encoding="unicode", with_tail=False).encode())

    def _naming(self, bericht_id: str | None, problems: list[Problem]) -> str | None:
        """The BerichtId a rejected event is named by (reports, quarantine, task logs): none where
        the contract refused that value, or where it has a form no identifier has (see
        ``_IDENTIFIER``). What was refused may be anything, a name or a BSN put in the wrong place
        too; the reason says where it is."""
        name = self.partner.json.bericht_id if self.partner.format == "json" else "BerichtId"
        if any(p.element == name or (p.element or "").endswith(("/" + name, "." + name)) for p in problems):
            return None
        return bericht_id if bericht_id and _IDENTIFIER.fullmatch(bericht_id) else None

    def process_json(self, event: object, index: int | None = None, line: int | None = None,
                     raw: bytes | None = None) -> AcceptedEvent | RejectedEvent:
        """One event of a JSON partner (``index``: its place in the page, ``line`` its first line
        there, ``raw`` its bytes as sent): validated on its own against the schema's definition of
        an event, the BSNs by the elfproef, then as json-to-xml through the partner's rules,
        mapping and routes. A rejected event is kept with its bytes as sent."""
        p = self.partner
        at = [p.json.events, index] if index is not None else []
        if raw is None:
            raw = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        value = event.get(p.json.bericht_id) if isinstance(event, dict) else None
        bericht_id = value.strip() or None if isinstance(value, str) else None
        if len(raw) > p.limits.event_bytes:
            problems = [Problem("size", f"the event is {len(raw)} bytes long; the hub takes at most "
                                f"{p.limits.event_bytes} bytes per event from {p.name} (adapter setting "
                                "limits.event_bytes)", element=jsonpage.json_path(at))]
        else:
            problems = jsonpage.problems(self.event_schema, event, at, p.limits.errors_per_event) \
                or jsonpage.failing_bsns(event, at)
        if not problems:
            el = jsonxml.to_xml(event)
            problems = [replace(q, line=None, element=jsonpage.json_path(at)) for q in self.rules(el)]
            result = self._mapped(el, bericht_id, problems, raw=raw)
            if isinstance(result, AcceptedEvent):
                return result
            return result._replace(line=line)
        problems = [replace(q, line=line) for q in problems]
        return RejectedEvent(self._naming(bericht_id, problems), line, explain(problems), raw)

    def process_kept(self, raw: bytes, payload: Path | bytes, line: int | None = None) -> AcceptedEvent | RejectedEvent:
        """A quarantined event again, from its bytes as kept (``ketenhub quarantine reprocess``);
        ``payload``: its payload as kept (store.kept.find); ``line``: where it starts there."""
        if self.partner.format == "json":
            return self.process_json(json.loads(raw), raw=raw)
        if len(raw) > self.partner.limits.event_bytes:  # as the intake would refuse it: still too large
            return self._too_large(raw, line)
        return self.process(kept_event(raw, payload))

    def process_region(self, region: Region) -> list[tuple | AcceptedEvent | RejectedEvent]:
        """The events of a region of a payload, in file order: parsed, checked and mapped
        together. An event that fails anything here is done again on its own, to say why, and
        is kept with its bytes exactly as they are in the file.

        """
        if region.json:  # [index, line, the event as sent], in page order (validate.jsonpage.regions)
            return [self.process_json(json.loads(sent), index, line, sent.encode())
                    for index, line, sent in json.loads(region.data)]
        if region.oversize:
            return [self._too_large(region.data, region.line)]
        parser = parsing.parser()
        try:
            root = etree.fromstring(region.head + region.data + region.tail, parser)
        except etree.XMLSyntaxError as e:
            if region.tail:  # a batch's events were parsed by the scan already: this is not the partner's
                raise
            # A document of one event whose namespaces are wrong: the scan's check of its syntax does
            # not see those. Refused as any event is, with its bytes, in the hub's words only.
            problem = parsing.syntax_problem(e, self.names)
            return [RejectedEvent(None, problem.line, explain([problem]), region.data)]
        if not region.tail:  # a document of one event (the scan made sure the root is the event)
            result = self.process(root)
            if isinstance(result, RejectedEvent):
                result = result._replace(raw=region.data[slice(*self._spans(region)[0])])
            return [result]
        events = [el for el in root if el.tag == self.partner.event]
        if len(events) != region.events:  # the scan's cuts are wrong: stop rather than guess
            raise ValueError(f"a region holds {len(events)} events where the scan counted {region.events}")
        invalid = self._invalid(root, events)  # before the header goes: the region is a batch of its own
        for el in list(root):
            if el.tag != self.partner.event:
                root.remove(el)  # the batch's header, comments
        ids = [_text(next(el.iterchildren(self.bericht_id), None)) for el in events]
        suspect = set(self.rules.failing_events(root)) | failing_bsns(root) | invalid
        again = {i for i, el in enumerate(events) if el in suspect or (ids[i] and len(ids[i]) > MAX_BERICHT_ID)}
        raws = set(again)
        for i in again:
            root.remove(events[i])
        kept = [i for i in range(len(events)) if i not in again]
        results: list = [None] * len(events)
        if kept:
            canonicals_root, canonicals = self.normalise.many(root)
            kinds = [None if c is None else kind(c) for c in canonicals]
            routed = route_many(canonicals_root, kinds, self.routes)
            for i, canonical, k, outbound in zip(kept, canonicals, kinds, routed):
                results[i] = _accepted_or_none(ids[i], canonical, k, outbound)  # see xslt.for_each
                if results[i] is None:  # done again on its own below, which says why
                    raws.add(i)
        if not raws:
            return results
        spans = self._spans(region)
        first_line = region.line - region.head.count(b"\n")  # of the parsed text, in the file
        for i in raws:
            sent = region.data[slice(*spans[i])]
            # Parsed again from the bytes as sent, which keep the lines of the file, under the root's
            # namespace declarations: the element paths and lines in its problems are the file's.
            result = self.process(under_root(sent, root), line_offset=first_line + events[i].sourceline - 2)
            results[i] = result._replace(raw=sent) if isinstance(result, RejectedEvent) else result
        return results

    def process_documents(self, regions: list[Region]) -> list[list]:
        """Per region its results, as ``process_region`` gives them, for the regions of several
        small payloads at once (a drop folder's files of one event each): their events are
        checked by one XPath per rule set and mapped by one run of each mapping, as those of a
        region of a batch are. Any other region (JSON too), and a document whose event fails anything
        here, is done on its own by ``process_region``, which says why."""
        results: list = [None] * len(regions)
        group, placed = etree.Element("documents"), []
        for i, region in enumerate(regions):
            if region.json or region.oversize or region.tail or region.events != 1:
                results[i] = self.process_region(region)
                continue
            try:
                root = etree.fromstring(region.data, parsing.parser())
            except etree.XMLSyntaxError:  # its namespaces are wrong: on its own, which says why
                results[i] = self.process_region(region)
                continue
            if root.tag != self.partner.event or not self.schema.validate(root):
                results[i] = self.process_region(region)
                continue
            group.append(root)
            placed.append(i)
        events = list(group)
        ids = [_text(next(el.iterchildren(self.bericht_id), None)) for el in events]
        suspect = set(self.rules.failing_events(group)) | failing_bsns(group)
        kept = []
        for el, i, bericht_id in zip(events, placed, ids):
            if el in suspect or (bericht_id and len(bericht_id) > MAX_BERICHT_ID):
                group.remove(el)
                results[i] = self.process_region(regions[i])
            else:
                kept.append((i, bericht_id))
        if kept:
            canonicals_root, canonicals = self.normalise.many(group)
            kinds = [None if c is None else kind(c) for c in canonicals]
            routed = route_many(canonicals_root, kinds, self.routes)
            for (i, bericht_id), canonical, k, outbound in zip(kept, canonicals, kinds, routed):
                accepted = _accepted_or_none(bericht_id, canonical, k, outbound)
                results[i] = [accepted] if accepted else self.process_region(regions[i])  # on its own, which says why
        return results

    def _too_large(self, data: bytes, line: int | None) -> RejectedEvent:
        """An event larger than the partner's limit, refused without being parsed; its bytes stay
        in the kept payload, from which re-processing takes it."""
        found = _BERICHT_ID.search(data)  # only to name it: nothing else is read from it
        bericht_id = self._naming(found[1].decode(errors="replace").strip() if found else None, [])
        limit = self.partner.limits.event_bytes
        problem = Problem("size", f"the event is {len(data)} bytes long; the hub takes at most {limit} "
                          f"bytes per event from {self.partner.name} (adapter setting limits.event_bytes)", line=line)
        return RejectedEvent(bericht_id, problem.line, str(problem), None)

    def _spans(self, region: Region) -> list[tuple[int, int]]:
        spans = event_spans(region, self.partner.event)
        if len(spans) != region.events:
            raise ValueError(f"a region holds {len(spans)} events where the scan counted {region.events}")
        return spans

    def _invalid(self, root: etree._Element, events: list[etree._Element]) -> set[etree._Element]:
        """The events of a region that break the partner's XSD. A region is parsed as a batch of
        its own (with the batch's header, see validate.payload), validated at once, and each error
        put on the event its element is in, which costs less than validating each on its own.
        Every error names its element by path (``/*/*[3]/*[6]/*[1]``), whose second step is the
        root's child. An error on an event itself may be about its place in the batch, after which
        libxml2 skips the rest of it: then, or where a path names no event, each event is
        validated on its own."""
        if self.schema.validate(root):
            return set()
        children = [el for el in root if isinstance(el.tag, str)]  # elements, as paths count them
        found = set()
        for error in self.schema.error_log:
            el = _child(error.path, children)
            if el is None or el.tag != self.partner.event or error.path.count("/") < 3:
                return {el for el in events if not self.schema.validate(el)}
            found.add(el)
        return found


_BERICHT_ID = re.compile(rb"<(?:[\w.-]+:)?BerichtId>([^<]{1,%d})</" % MAX_BERICHT_ID)
# The form of every identifier the partners use: a code of letters and a hyphen first (POL-,
# OM-T-, SF-GB-, shn-), then letters, digits and a few separators, a digit among them, no white
# space. A rejected event's BerichtId of another form is not shown: a word or a number alone
# (a name, a BSN), or one with a BSN, a name, a postcode or a number plate in front.
_IDENTIFIER = re.compile(r"(?=.*[0-9])[A-Za-z]{2,}-[A-Za-z0-9._:/+-]{1,%d}" % (MAX_BERICHT_ID - 3))


def _child(path: str, children: list[etree._Element]) -> etree._Element | None:
    """The root's child that a libxml2 node path leads through: its second step is ``*[n]``
    (the n-th element; elements in a default namespace), ``p:Name[n]`` or ``Name[n]`` (the
    n-th of that name), without ``[n]`` where it is the only one."""
    steps = (path or "").split("/")
    if len(steps) < 3 or steps[0]:
        return None
    name, _, n = steps[2].partition("[")
    same = children if name == "*" else [el for el in children if _step_name(el) == name]
    n = int(n.rstrip("]")) if n else 1
    return same[n - 1] if 0 < n <= len(same) else None


def _step_name(el: etree._Element) -> str:
    local = etree.QName(el).localname
    return f"{el.prefix}:{local}" if el.prefix else local


def _text(el: etree._Element | None) -> str | None:
    """An element's text, stripped; None if there is no element or no text."""
    if el is None:
        return None
    return (el.text or "").strip() or None


_SOORT = f"{{{CANONICAL}}}Soort"


def _accepted(bericht_id: str, canonical: etree._Element, k: str, outbound: list) -> AcceptedEvent:
    # iterchildren, not findtext: twice as fast, at every event
    soort = next(canonical[-1].iterchildren(_SOORT), None)
    if soort is None:
        raise MappingError(f"the canonical {k} has no Soort: each kind of event in the canonical model needs one "
                           "(schemas/canonical/gebeurtenis-v1.xsd), the hub stores and shows it")
    return AcceptedEvent(bericht_id, k, soort.text, serialised(canonical), outbound)


def _accepted_or_none(bericht_id: str, canonical: etree._Element, k: str, outbound: list | None) \
        -> AcceptedEvent | None:
    """An event of a region mapped and routed with the others, or None where something failed
    (its outbound None, or ``_accepted`` refused it): then it is done again on its own."""
    if outbound is None:
        return None
    try:
        return _accepted(bericht_id, canonical, k, outbound)
    except MappingError:
        return None


def to_pipe(results: tuple[list[AcceptedEvent], list[RejectedEvent]]) -> tuple[list, list]:
    """A region's results as plain tuples, for the pipe from a worker: pickling named tuples
    costs at both ends. ``from_pipe`` takes them back."""
    accepted, rejected = results
    return [(*a[:4], [tuple(o) for o in a.outbound]) for a in accepted], [tuple(r) for r in rejected]


def from_pipe(results: tuple[list, list]) -> tuple[list[tuple], list[RejectedEvent]]:
    """The accepted events stay plain tuples in AcceptedEvent's field order, as the store reads
    them by position and they are many; the rejected, few, are named again."""
    accepted, rejected = results
    return accepted, [RejectedEvent._make(r) for r in rejected]


def split(results: list) -> tuple[list, list[RejectedEvent]]:
    """Results in file order as (accepted, rejected) events, the form the store takes."""
    accepted, rejected = [], []
    for r in results:
        (rejected if isinstance(r, RejectedEvent) else accepted).append(r)
    return accepted, rejected
