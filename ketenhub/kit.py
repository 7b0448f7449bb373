"""The integration engineer's kit: ``ketenhub adapter new`` starts a partner from one of the
same kind, ``ketenhub adapter check`` says in plain words what it still lacks.

A new partner needs no Python (README, "Adding a partner"): its adapter, contract, mapping and
samples. ``new`` writes those from an existing partner, marked ``TODO`` where the engineer
must decide; ``check`` runs what the hub would run on the samples and compares it with what
the partner's files promise: the contract compiles, the samples are valid, the mapping makes
valid canonical events of a kind the canonical model has, the golden files are current, some
destination takes the kind, nothing about a suspect or convicted person reaches the victim
portal, and the partner can be received (a Connection or the folder default)."""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml
from lxml import etree

from ketenhub import adapters
from ketenhub.adapters import AdapterError, Destination, Partner
from ketenhub.clock import now
from ketenhub.normalise.canonical import NS as CANONICAL_NS, SCHEMA as CANONICAL, Normaliser, kind
from ketenhub.receive import kinds as receive_kinds
from ketenhub.route.router import compile_routes, route
from ketenhub.settings import Settings
from ketenhub.validate.payload import scan
from ketenhub.validate.rules import Rules, check_bsns
from ketenhub.xml import xslt
from ketenhub.xml.parsing import SAFE, parser
from ketenhub.xml.schema import compile_schema, validate

NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")  # DAG ids, Connection ketenhub_<name>, folder names
VICTIM_PORTALS = ("kbsp",)  # destinations that may hear nothing about a suspect or convicted person
PERSONS_KEPT_AWAY = ("Verdachte", "Veroordeelde")  # canonical and partner elements about them
GROW_THE_MODEL = ("a complexType for it (with a Soort, as every kind has) and its place in the Gebeurtenis choice "
                  "of schemas/canonical/gebeurtenis-v1.xsd, then its kind in the events: of the destinations that "
                  "take it (README, \"Adding a partner\")")


class KitError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# ketenhub adapter new NAME --like PARTNER


def _todo_yaml(text: str, name: str, like: Partner) -> str:
    """The like-partner's adapter as the new one's: its own names, TODO where only the engineer knows."""
    out = [f"# TODO: one line on what {name} sends (written by `ketenhub adapter new {name} --like {like.partner}`;",
           "# every TODO must go before `ketenhub adapter check " + name + "` passes)."]
    lines = text.splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)  # the like-partner's description
    todo = {  # (section, key): what the engineer decides there
        ("", "event"): f"TODO: the event element of {name}'s contract ({like.partner}'s now)",
        ("", "rules"): f"TODO: {like.partner}'s rules: keep those {name}'s contract needs, in its words",
        ("batch", "root"): "TODO: the batch root of its contract, or remove batch: for one event per document",
        ("batch", "count"): "TODO: the header element with the control count, or remove this line",
        ("batch", "sender"): "TODO: the header element with the sender's OIN, or remove this line",
        ("json", "events"): f"TODO: the member of {name}'s page that holds the events",
        ("json", "event_schema"): f"TODO: the definition of one event in {name}'s JSON Schema",
        ("json", "bericht_id"): "TODO: the member holding an event's id",
        ("receive", "pattern"): f"TODO: the names of {name}'s files",
        ("receive", "wsdl"): f"TODO: {name}'s WSDL under schemas/{name}/",
        ("receive", "operation"): f"TODO: the operation {name} calls",
        ("receive", "path"): f"TODO: where {name} calls the hub",
        ("receive", "feed"): f"TODO: {name}'s feed, after the Connection's base URL",
        ("receive", "token"): f"TODO: {name}'s token endpoint",
        ("receive", "scope"): f"TODO: the scope {name} grants",
        ("receive", "schedule"): f"TODO: when {name} delivers (Europe/Amsterdam)",
        ("receive", "deadline"): f"TODO: by when {name}'s file must have arrived, or remove this line",
    }
    section = ""
    for line in lines:
        key = line.strip().split(":", 1)[0]
        indent = line[:len(line) - len(line.lstrip())]
        if line[:1].isalpha():
            section = key if line.split("#", 1)[0].rstrip().endswith(":") else ""
        if line.startswith("partner:"):
            line = f"partner: {name}"
        elif line.startswith("name:"):
            line = f'name: "TODO: {name}\'s full name"'
        elif line.startswith("oin:"):
            line = f'oin: "TODO"                # TODO: {name}\'s OIN, 20 digits'
        elif line.startswith("schema:"):
            suffix = "".join(Path(like.schema).suffixes)  # .xsd, or .schema.json
            line = f"schema: {name}/TODO{suffix}    # TODO: {name}'s contract, copied unchanged under schemas/{name}/"
        elif line.startswith("mapping:"):
            line = f"mapping: {name}-to-canonical.xsl"
        elif (section if indent else "", key) in todo:
            value = line.split(":", 1)[1].split(" #", 1)[0].rstrip() if key != "rules" else ""
            line = f"{indent}{key}:{value}   # {todo[section if indent else '', key]}"
        elif key == "folder":
            line = f"{indent}folder: inbox/{name}   # without a Connection: a local folder with the same rules"
        line = re.sub(rf"\b(ketenhub_(?:deadline_)?){re.escape(like.partner)}\b", rf"\g<1>{name}", line)
        out.append(line)
    return "\n".join(out) + "\n"


def _format(partner: Partner) -> str:
    return getattr(partner, "format", "xml") or "xml"


def sample_files(folder: Path, partner: Partner) -> list[Path]:
    return sorted(folder.glob("*.json" if _format(partner) == "json" else "*.xml"))


def adapter_file(settings: Settings, partner: str) -> Path | None:
    """The file defining partner ``partner``: a destination may share its name."""
    return next((p for p in sorted(settings.adapters_dir.glob("*.yaml"))
                 if (yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("partner") == partner), None)


def _with_todo(xml: bytes, todo: str) -> bytes:
    """An XML file with a TODO comment after its declaration, where no parser minds it."""
    comment = f"<!-- TODO: {todo} -->\n".encode()
    if xml.startswith(b"<?xml"):
        end = xml.index(b"?>") + 2
        return xml[:end] + b"\n" + comment + xml[end:].lstrip(b"\r\n")
    return comment + xml


def new(settings: Settings, name: str, like: str) -> list[Path]:
    """Write the adapter, mapping and samples of partner ``name`` from partner ``like``'s."""
    registry = adapters.load(settings)
    model = registry.partner(like)
    if not NAME.match(name):
        raise KitError(f"{name!r} cannot name a partner: lower-case letters, digits and _, starting with a letter")
    if name in registry.partners or name in registry.destinations:
        raise KitError(f"{name} is already an adapter (adapters/{name}.yaml)")
    project = settings.project
    adapter = settings.adapters_dir / f"{name}.yaml"
    mapping = settings.mappings_dir / f"{name}-to-canonical.xsl"
    samples = project / "tests" / "data" / name
    for path in (adapter, mapping, samples):
        if path.exists():
            raise KitError(f"{path.relative_to(project)} exists already: nothing written")
    source = adapter_file(settings, model.partner)  # not adapters/cjib.yaml: that is the destination cjib
    written = [adapter, mapping]
    adapter.write_text(_todo_yaml(source.read_text(encoding="utf-8"), name, model), encoding="utf-8")
    mapping.write_bytes(_with_todo(
        (settings.mappings_dir / model.mapping).read_bytes(),
        f"{model.partner}'s mapping, as a start for {name}: its namespace (the partner's prefix) and paths "
        f"to {name}'s contract, Bron from the parameters; then remove this comment"))
    samples.mkdir(parents=True)
    replace_them = (f"{model.partner}'s sample: replace it by {name}'s own examples (its contract's, or made to it), "
                    "one file per situation; then remove this comment")
    for path in sample_files(project / "tests" / "data" / model.partner, model):
        copied = samples / path.name
        if _format(model) == "json":  # JSON has no comments: the TODO stands beside the samples
            copied.write_bytes(path.read_bytes())
            (samples / "TODO.txt").write_text(f"TODO: {replace_them.replace('this comment', 'this file')}\n")
        else:
            copied.write_bytes(_with_todo(path.read_bytes(), replace_them))
        if path.with_name(path.name + ".sha256").exists():  # a partner whose files come with a marker
            digest = hashlib.sha256(copied.read_bytes()).hexdigest()
            copied.with_name(copied.name + ".sha256").write_text(f"{digest}  {copied.name}\n")
        written.append(copied)
    return written


# ---------------------------------------------------------------------------------------------
# ketenhub adapter check NAME


@dataclass
class Check:
    what: str
    missing: list[str] = field(default_factory=list)
    skipped: str | None = None  # why it could not run
    notes: list[str] = field(default_factory=list)  # fine, but worth knowing

    @property
    def passed(self) -> bool:
        return not self.missing and self.skipped is None


@dataclass
class Event:
    sample: str
    bericht_id: str
    element: etree._Element
    canonical: etree._Element | None = None


def _todos(path: Path, project: Path) -> list[str]:
    if not path.is_file():
        return []
    return [f"{path.relative_to(project)} line {n}: {line.strip()[:120]}"
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if "TODO" in line]


def canonical_kinds(settings: Settings) -> list[str]:
    """The kinds of event the canonical model has: the Gebeurtenis choice."""
    xsd = etree.parse(str(settings.schemas_dir / CANONICAL), parser())
    xs = {"xs": "http://www.w3.org/2001/XMLSchema"}
    return xsd.xpath("/xs:schema/xs:element[@name='Gebeurtenis']//xs:choice/xs:element/@name", namespaces=xs)


def golden_key(settings: Settings) -> str:
    """The golden files' Ketenreferenties are made with the tests' key (tests/__init__.py)."""
    init = settings.project / "tests" / "__init__.py"
    found = re.search(r'^TEST_KEY\s*=\s*"([^"]+)"', init.read_text(), re.M) if init.exists() else None
    if not found:
        raise KitError(f"{init}: no TEST_KEY, with which the golden files are made")
    return found.group(1)


def _routes_of(registry: adapters.Registry) -> list[Destination]:
    """Every contract version of every destination, as regenerate.py writes their golden files."""
    return [d for whole in registry.destinations.values() for d in [v.destination for v in whole.versions] or [whole]]


def _c14n(root: etree._Element) -> bytes:
    quiet = etree.XMLParser(remove_blank_text=True, **SAFE)
    return etree.tostring(etree.fromstring(etree.tostring(root), quiet), method="c14n")


def _texts(root: etree._Element) -> set[str]:
    values = {t.strip() for t in root.itertext()}
    values |= {v.strip() for el in root.iter() if isinstance(el.tag, str) for v in el.attrib.values()}
    return {v for v in values if v}


def _about_persons_kept_away(*roots: etree._Element) -> set[str]:
    """Every value under a Verdachte or Veroordeelde element, of the partner's event or the canonical one."""
    found = set()
    for root in roots:
        for el in root.iter():
            named = etree.QName(el).localname if isinstance(el.tag, str) else ""
            if named in PERSONS_KEPT_AWAY or el.get("key", "").capitalize() in PERSONS_KEPT_AWAY:
                found |= _texts(el)
    return {v for v in found if len(v) >= 4}  # M, V, 1: too short to tell a leak from a coincidence


def _leaks(values: set[str], item: etree._Element) -> set[str]:
    sent = _texts(item)
    return {v for v in values if v in sent or (len(v) >= 8 and any(v in s for s in sent))}


def _as_the_files_are_now() -> None:
    """Schemas and mappings compiled again: the files as they are after the engineer's last edit."""
    for cached in (compile_schema, xslt.stylesheet, xslt.for_each, xslt.results_schema):
        cached.cache_clear()


def check(settings: Settings, name: str, connection=None) -> list[Check]:
    """Every conformance check of partner ``name``, in the order an engineer fixes them.
    ``connection(name)`` finds its Airflow Connection (``connections.endpoint``)."""
    project = settings.project
    checks: list[Check] = []
    _as_the_files_are_now()

    def step(what: str) -> Check:
        checks.append(Check(what))
        return checks[-1]

    c = step("the adapter loads")
    try:
        registry = adapters.load(settings)
        partner = registry.partner(name)
    except AdapterError as e:
        c.missing.append(str(e))
        return checks
    try:
        receive_kinds.declared_options(partner)
    except ValueError as e:  # names the setting its transport does not know
        c.missing.append(str(e))
    c = step("nothing left to do (TODO)")
    mapping_path = settings.mappings_dir / partner.mapping
    samples_dir = project / "tests" / "data" / name
    samples = sample_files(samples_dir, partner)
    for path in [adapter_file(settings, name), mapping_path, *samples, samples_dir / "TODO.txt"]:
        c.missing += [f"a TODO in {t}" for t in _todos(path, project)] if path else []

    c = step("the contract's schema compiles")
    schema_path = settings.schemas_dir / partner.schema
    schema = None
    if not schema_path.is_file():
        c.missing.append(f"schemas/{partner.schema} does not exist: copy {name}'s contract there, unchanged, "
                         "and name it in the adapter's schema:")
    else:
        try:
            if _format(partner) == "json":
                from ketenhub.validate import jsonpage
                schema = jsonpage.validator(str(schema_path), partner.json.event_schema)
            else:
                schema = compile_schema(str(schema_path))
        except Exception as e:  # lxml or jsonschema says what is wrong with the schema
            c.missing.append(f"schemas/{partner.schema} does not compile: {e}")

    c = step("the samples are valid")
    events: list[Event] = []
    if not samples:
        c.missing.append(f"no samples: put {name}'s example events under tests/data/{name}/ "
                         f"(*.{'json' if _format(partner) == 'json' else 'xml'})")
    elif schema is None:
        c.skipped = "the schema does not compile"
    else:
        reader = _json_events if _format(partner) == "json" else _xml_events
        for path in samples:
            events += reader(settings, partner, schema, path, c)
        if not events and not c.missing:
            c.missing.append(f"the samples under tests/data/{name}/ hold no events")

    c = step("the mapping makes valid canonical events")
    kinds_known = canonical_kinds(settings)
    if not mapping_path.is_file():
        c.missing.append(f"mappings/{partner.mapping} does not exist: write it (`ketenhub adapter new` starts one)")
    elif not events:
        c.skipped = "no valid sample events"
    else:
        xslt.use_key(golden_key(settings))
        try:
            normalise = Normaliser(partner, settings.mappings_dir, settings.schemas_dir)
        except Exception as e:  # lxml's XSLT compiler says what is wrong
            c.missing.append(f"mappings/{partner.mapping} does not compile: {e}")
            normalise = None
        for ev in events if normalise else []:
            try:
                ev.canonical, problems = normalise(ev.element)
            except Exception as e:
                c.missing.append(f"event {ev.bericht_id} ({ev.sample}): {e}")
                continue
            if problems:
                made = _raw_kind(settings, partner, ev.element)
                if made and made not in kinds_known:
                    c.missing.append(f"event {ev.bericht_id} ({ev.sample}): the mapping makes a {made}, a kind of "
                                     f"event the canonical model does not have yet (it has {', '.join(kinds_known)}): "
                                     f"the canonical model must grow for it: {GROW_THE_MODEL}")
                else:
                    c.missing += [f"event {ev.bericht_id} ({ev.sample}): {p.message}" for p in problems]
    mapped = [ev for ev in events if ev.canonical is not None]

    c = step("the golden files are current")
    if not mapped:
        c.skipped = "no sample event was mapped"
    else:
        _check_golden(settings, registry, partner, mapped, c)

    c = step("a destination takes each kind of event, and takes its items (routing rows)")
    if not mapped:
        c.skipped = "no sample event was mapped"
    else:  # each item as the destination's contract has it: what it would refuse, the intake rejects
        routes = compile_routes(list(registry.destinations.values()), settings.mappings_dir, settings.schemas_dir)
        for ev in mapped:
            c.missing += [f"event {ev.bericht_id} ({ev.sample}): {p.message}"
                          for p in route(ev.canonical, kind(ev.canonical), routes)[1]]
    for k in sorted({kind(ev.canonical) for ev in mapped}):
        taking = sorted({d.destination for d in _routes_of(registry) if k in d.events})
        if taking:
            c.notes.append(f"{k}: {', '.join(taking)}")
        else:
            c.missing.append(f"no destination takes a {k}: add it to the events: of the destinations that must "
                             f"hear of it (adapters/<destination>.yaml), with their mappings")

    c = step("nothing about a suspect or convicted person reaches the victim portal")
    if not mapped:
        c.skipped = "no sample event was mapped"
    else:
        _check_privacy(settings, registry, mapped, c)

    c = step("a Connection or the folder default")
    found = None
    if connection is not None:
        try:
            found = connection(name)
        except Exception as e:  # no Airflow configured: the folder default is what counts here
            c.notes.append(f"Airflow's Connections could not be read ({type(e).__name__})")
    r = partner.receive
    if found is not None:
        c.notes.append(f"Connection ketenhub_{name} ({found.conn_type})")
    elif r.folder:
        c.notes.append(f"no Connection ketenhub_{name}: the command line reads the folder {r.folder} under "
                       f"KETENHUB_HOME; its DAG needs the Connection"
                       + (" (for a folder: type fs, extra path)" if r.transport == "folder" else ""))
    else:
        c.missing.append(f"neither a Connection ketenhub_{name} nor a receive: folder: in the adapter")
    return checks


def check_destination(settings: Settings, name: str) -> list[Check]:
    """The checks of destination ``name`` of its own; the partners' checks route their samples
    through it (``check``)."""
    from ketenhub.deliver import transports

    checks: list[Check] = []
    _as_the_files_are_now()
    c = Check("the adapter loads")
    checks.append(c)
    try:
        dest = adapters.load(settings).destination(name)
    except AdapterError as e:
        c.missing.append(str(e))
        return checks
    versions = dest.each_version() or [dest]
    for d in versions:
        try:
            transports.declared_options(d)
        except ValueError as e:  # names the setting its transport does not know
            c.missing.append(str(e))
    c = Check("each of its events: is a kind of event the canonical model has")
    checks.append(c)
    kinds_known = canonical_kinds(settings)
    for d in versions:
        c.missing += [f"events: {k} is not a kind of event the canonical model has ({', '.join(kinds_known)})"
                      for k in d.events if k not in kinds_known]
    c = Check("the contract's schema and the mapping compile")
    checks.append(c)
    for d in versions:
        if not (settings.schemas_dir / d.schema).is_file():
            c.missing.append(f"schemas/{d.schema} does not exist: copy the destination's contract there, unchanged, "
                             "and name it in the adapter's schema:")
        elif not (settings.mappings_dir / d.mapping).is_file():
            c.missing.append(f"mappings/{d.mapping} does not exist: write it, and name it in the adapter's mapping:")
        else:
            try:
                compile_routes([d], settings.mappings_dir, settings.schemas_dir)
            except Exception as e:  # lxml says what is wrong with the schema or the mapping
                c.missing.append(f"schemas/{d.schema} or mappings/{d.mapping} does not compile: {e}")
    c.notes.append("the partners' checks (`ketenhub adapter check PARTNER`) route their samples through it")
    return checks


def _xml_events(settings: Settings, partner: Partner, schema, path: Path, c: Check) -> list[Event]:
    """A sample's valid events; what is wrong with it in ``c``, as ``ketenhub validate`` says it."""
    shown = f"tests/data/{partner.partner}/{path.name}"
    with open(path, "rb") as f:
        scanned = scan(partner, settings.schemas_dir / partner.schema, f, tuning=settings.tuning)
    c.missing += [f"{shown}: {p.message}" + (f" (line {p.line})" if p.line else "") for p in scanned.problems]
    if scanned.problems:
        return []
    rules = Rules(partner.rules, partner.namespace)
    root = etree.parse(str(path), parser()).getroot()
    events = []
    for el in [root] if root.tag == partner.event else root.findall(partner.event):
        bericht_id = el.findtext(f"{{{partner.namespace}}}BerichtId") or f"line {el.sourceline}"
        problems = validate(schema, el) or check_bsns(el) + rules(el)
        c.missing += [f"{shown}, event {bericht_id}: {p.message}" + (f" at {p.element}" if p.element else "")
                      for p in problems]
        if not problems:
            events.append(Event(path.name, bericht_id, copy.deepcopy(el)))
    return events


def _json_events(settings: Settings, partner: Partner, schema, path: Path, c: Check) -> list[Event]:
    """As ``_xml_events`` for a JSON partner: each event of the page on its own, then as json-to-xml."""
    import json

    from ketenhub.validate import jsonpage
    from ketenhub.xml import jsonxml

    shown = f"tests/data/{partner.partner}/{path.name}"
    with open(path, "rb") as f:
        scanned = scan(partner, settings.schemas_dir / partner.schema, f, tuning=settings.tuning)
    c.missing += [f"{shown}: {p.message}" + (f" at {p.element}" if p.element else "") for p in scanned.problems]
    if scanned.problems:
        return []
    rules = Rules(partner.rules, partner.namespace)
    events = []
    for i, event in enumerate(json.loads(path.read_text(encoding="utf-8"))[partner.json.events]):
        at = [partner.json.events, i]
        bericht_id = str(event.get(partner.json.bericht_id) or f"number {i + 1}")
        problems = jsonpage.problems(schema, event, at, partner.limits.errors_per_event) \
            or jsonpage.failing_bsns(event, at)
        el = jsonxml.to_xml(event) if not problems else None
        problems = problems or rules(el)
        c.missing += [f"{shown}, event {bericht_id}: {p.message}" + (f" at {p.element}" if p.element else "")
                      for p in problems]
        if not problems:
            events.append(Event(path.name, bericht_id, el))
    return events


def _raw_kind(settings: Settings, partner: Partner, el: etree._Element) -> str | None:
    """The kind of event the mapping makes, whether or not the canonical model has it."""
    try:
        out = xslt.transform(settings.mappings_dir / partner.mapping, el, partner=partner.partner.upper(),
                             oin=partner.oin).getroot()
    except Exception:
        return None
    if out is None or out.tag != f"{{{CANONICAL_NS}}}Gebeurtenis" or not len(out):
        return None
    return etree.QName(out[-1]).localname


def _check_golden(settings: Settings, registry, partner: Partner, mapped: list[Event], c: Check) -> None:
    golden = settings.project / "tests" / "mappings" / "golden"
    regenerate = ("run .venv/bin/python tests/mappings/regenerate.py, then read what it wrote "
                  "(git diff tests/mappings/golden)")
    outputs = []
    for ev in mapped:
        case = f"{partner.partner}-{ev.bericht_id}"
        canonical = xslt.transform(settings.mappings_dir / partner.mapping, ev.element,
                                   partner=partner.partner.upper(), oin=partner.oin).getroot()
        outputs.append((partner.mapping, case, canonical))
        k = kind(canonical)
        for d in _routes_of(registry):
            if k in d.events:
                outputs.append((d.mapping, case, xslt.transform(settings.mappings_dir / d.mapping, canonical).getroot()))
    for mapping, case, result in outputs:
        expected = golden / mapping.removesuffix(".xsl") / f"{case}.expected.xml"
        shown = expected.relative_to(settings.project)
        if not expected.is_file():
            c.missing.append(f"{shown} does not exist: {regenerate}")
        elif _c14n(etree.parse(str(expected), parser()).getroot()) != _c14n(result):
            c.missing.append(f"{shown} is stale: mappings/{mapping} now makes something else; {regenerate}")


def _check_privacy(settings: Settings, registry, mapped: list[Event], c: Check) -> None:
    portals = [registry.destinations[d] for d in VICTIM_PORTALS if d in registry.destinations]
    routes = compile_routes(portals, settings.mappings_dir, settings.schemas_dir)
    moments = {now()}  # and either side of every switch between contract versions
    for d in portals:
        for v in d.versions:
            moments |= {m for m in (v.start, v.until) if m is not None}
            moments |= {m - timedelta(seconds=1) for m in (v.start, v.until) if m is not None}
    items = 0
    for ev in mapped:
        values = _about_persons_kept_away(ev.element, ev.canonical)
        for at in sorted(moments):
            outbound, problems = route(ev.canonical, kind(ev.canonical), routes, at)
            c.missing += [f"event {ev.bericht_id} ({ev.sample}), routed at {at.isoformat()}: {p.message}"
                          for p in problems]
            for o in outbound:
                items += 1
                leaked = _leaks(values, etree.fromstring(o.document, parser()))
                if leaked:
                    # Not the values themselves: they are personal data.
                    c.missing.append(f"event {ev.bericht_id} ({ev.sample}): the {o.destination.upper()} item "
                                     f"{o.key} holds {len(leaked)} value(s) of a Verdachte or Veroordeelde, routed "
                                     f"at {at.isoformat()}: the mappings must not read them")
    c.missing = list(dict.fromkeys(c.missing))
    c.notes.append(f"{items} victim-portal item(s) looked at, on both sides of each switch between versions")


def report(name: str, checks: list[Check]) -> str:
    lines = [f"adapter {name}:"]
    for c in checks:
        mark = "ok" if c.passed else ("not checked" if c.skipped else "MISSING")
        lines.append(f"  {mark:11} {c.what}" + (f": {c.skipped}" if c.skipped else ""))
        lines += [f"              - {m}" for m in c.missing]
        lines += [f"                ({n})" for n in c.notes]
    failed = [c for c in checks if not c.passed]
    lines.append(f"{len(failed)} of {len(checks)} checks not passed" if failed else "every check passed")
    return "\n".join(lines)
