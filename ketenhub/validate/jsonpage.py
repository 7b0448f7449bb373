"""Reading a JSON partner's payload (``format: json``): a page of events, as SHN's feed answers.

The same two passes as an XML payload (validate.payload). The first keeps the bytes, hashes
them and checks the page as a whole: size, UTF-8, JSON, and the page against the schema's root,
with the events left to themselves (an event that breaks its part of the schema is that
event's problem, not the page's). The second hands the events on as regions, each event
validated on its own against the schema's definition of one event (``json.event_schema``), so
that one bad event does not block the others.

Problems name the event's JSON path (``$.gebeurtenissen[2].tijdstip``) and the rule in plain
words, never the value: values are personal data and end up in logs and reports."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import IO, Iterator

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ketenhub.adapters import Partner
from ketenhub.settings import Tuning
from ketenhub.validate.rules import elfproef
from ketenhub.xml.jsonxml import parse
from ketenhub.xml.parsing import NOT_IN_CONTRACT, shown_name
from ketenhub.xml.problems import Problem

CHUNK = 1 << 20


@lru_cache(maxsize=None)
def _schema(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=None)
def validator(path: str, pointer: str = "#") -> jsonschema.protocols.Validator:
    """The schema at ``path`` (JSON Schema 2020-12), or its definition at ``pointer``, with its own
    references resolved inside it: nothing is fetched. Formats are checked where jsonschema can."""
    schema = _schema(path)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    uri = schema.get("$id", "urn:ketenhub:schema")
    registry = Registry().with_resource(uri, Resource.from_contents(schema, default_specification=DRAFT202012))
    target = schema if pointer == "#" else {"$ref": f"{uri}{pointer}"}
    return cls(target, registry=registry, format_checker=_FORMATS)


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """A real moment (month 13 is not), which jsonschema checks only with a package the hub does
    not need otherwise; the contracts' patterns say the rest (seconds, an offset)."""
    if isinstance(value, str):
        datetime.fromisoformat(value)
    return True


def json_path(parts) -> str:
    path = "$"
    for p in parts:
        path += f"[{p}]" if isinstance(p, int) else f".{p}"
    return path


_TYPES = {"object": "an object", "array": "a list", "string": "a text", "integer": "a whole number",
          "number": "a number", "boolean": "true or false", "null": "null"}


def _plain(error: jsonschema.ValidationError) -> str:
    """The rule an error broke, in plain words, without the value that broke it."""
    v, rule, instance = error.validator, error.validator_value, error.instance
    if v == "required":
        missing = [name for name in rule if isinstance(instance, dict) and name not in instance]
        if len(missing) == 1:
            return f"the member {missing[0]} is required and missing"
        return f"the members {', '.join(missing)} are required and missing"
    if v == "additionalProperties":
        allowed = frozenset(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed) if isinstance(instance, dict) else []
        # Named only where nearly one the contract has (a typo): any other name may be a value put there.
        named = list(islice((k for k in extra if shown_name(k, allowed) != NOT_IN_CONTRACT), 5))
        listed = f": {', '.join(named)}" + (" and others" if len(extra) > len(named) else "") if named else ""
        return (f"{len(extra)} member{'s' if len(extra) != 1 else ''} not in the contract{listed} "
                "(no other members are allowed here)")
    if v == "anyOf" and all(set(s) == {"required"} for s in rule):
        options = " or ".join(", ".join(s["required"]) for s in rule)
        return f"at least one of these members is required: {options}"
    if v == "type":
        kinds = rule if isinstance(rule, list) else [rule]
        return f"must be {' or '.join(_TYPES.get(k, k) for k in kinds)}"
    if v == "pattern":
        return f"does not have the form the contract requires (pattern {rule})"
    if v == "format":
        return f"is not a valid {rule}"
    if v in ("enum", "const"):
        values = rule if v == "enum" else [rule]
        return f"is not a value the contract allows ({', '.join(map(str, values))})"
    if v == "minLength":
        return f"is shorter than {rule} characters"
    if v == "maxLength":
        return f"is longer than {rule} characters"
    if v == "maxItems":
        return f"holds more than {rule} items"
    if v == "minItems":
        return f"holds fewer than {rule} items"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"breaks the contract's {v} of {rule}"
    return f"breaks the contract's rule {v}"


def problems(validator: jsonschema.protocols.Validator, value: object, at: list, most: int,
             skip: str | None = None) -> list[Problem]:
    """What ``value`` (at JSON path ``at``) breaks, at most ``most`` problems and a count of the
    rest. ``skip``: a member whose items are left out (a page's events, validated on their own)."""
    found = []
    for e in validator.iter_errors(value):
        path = list(e.absolute_path)
        if skip is not None and len(path) >= 2 and path[0] == skip and isinstance(path[1], int):
            continue
        found.append(Problem("schema", _plain(e), element=json_path(at + path)))
    found = sorted(set(found), key=lambda p: (p.element or "", p.message))  # two rules may say the same
    if len(found) > most:
        found = found[:most] + [Problem("schema", f"and {len(found) - most} more problems")]
    return found


def failing_bsns(value: object, at: list) -> list[Problem]:
    """Every member named bsn, in any partner's JSON, must pass the elfproef (as every Bsn element)."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k.lower() == "bsn" and isinstance(v, str) and not elfproef(v):
                found.append(Problem("elfproef", "the BSN fails the elfproef (11-test)", element=json_path(at + [k])))
            else:
                found += failing_bsns(v, at + [k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += failing_bsns(v, at + [i])
    return found


def scan(partner: Partner, schema_path: Path, source: IO[bytes], copy_to: IO[bytes] | None = None,
         tuning: Tuning = Tuning()):
    """The first pass over a JSON page: kept, hashed, and checked as a whole (see the module)."""
    from ketenhub.validate.payload import Scan

    digest, size, data = hashlib.sha256(), 0, bytearray()
    limit = partner.limits.payload_bytes
    while chunk := source.read(CHUNK):
        size += len(chunk)
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        if size <= limit:
            data += chunk
    result = Scan(digest.hexdigest(), size, json_events=partner.json.events)
    if size > limit:
        result.problems.append(Problem("size", f"the body is {size} bytes long; the hub takes at most {limit} "
                                       f"from {partner.name} (adapter setting limits.payload_bytes)"))
        return result
    page, result.problems = parse(bytes(data))
    if result.problems:
        return result
    most = partner.limits.errors_per_event
    result.problems = problems(validator(str(schema_path)), page, [], most, skip=partner.json.events)
    events = page.get(partner.json.events) if isinstance(page, dict) else None
    if not result.problems and not isinstance(events, list):
        result.problems.append(Problem("schema", "the page holds no list of events", element=json_path(
            [partner.json.events])))
    if not result.problems:
        result.events, result.batch = len(events), True
    return result


_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def _skip(text: str, i: int, separator: str = "") -> int:
    """Past white space, then past ``separator`` if it stands there, and white space again."""
    while i < len(text) and text[i] in _SPACE:
        i += 1
    if separator and i < len(text) and text[i] == separator:
        i += 1
        while i < len(text) and text[i] in _SPACE:
            i += 1
    return i


def event_spans(text: str, member: str) -> list[tuple[int, int]]:
    """Where each event of the page's ``member`` list stands in ``text`` (character offsets), by
    decoding the page a member at a time: a rejected event is kept exactly as it was sent. Only
    for a page the first pass took (an object, no member twice, not nested too deep)."""
    i = _skip(text, _skip(text, 0) + 1)  # past the object's {
    while i < len(text) and text[i] != "}":
        key, i = _DECODER.raw_decode(text, i)
        i = _skip(text, i, ":")
        if key == member:
            spans, i = [], _skip(text, i + 1)  # past the list's [
            while text[i] != "]":
                _, end = _DECODER.raw_decode(text, i)
                spans.append((i, end))
                i = _skip(text, end, ",")
            return spans
        _, i = _DECODER.raw_decode(text, i)
        i = _skip(text, i, ",")
    return []


def regions(path: Path | bytes, scanned, tuning: Tuning = Tuning()) -> Iterator:
    """The page's events, ``tuning.region_events`` at a time. A region's data is a JSON list of
    [index in the page, line, the event's text exactly as sent]; its ``line`` is the index of its
    first event."""
    from ketenhub.validate.payload import Region

    data = path if isinstance(path, bytes) else path.read_bytes()  # checked whole by the first pass: within the limit
    text = data.decode("utf-8")
    events, line, last = [], 1, 0
    for index, (a, b) in enumerate(event_spans(text, scanned.json_events)):
        line += text.count("\n", last, a)
        last = a
        events.append([index, line, text[a:b]])
    step = max(1, tuning.region_events)
    for at in range(0, len(events), step):
        part = events[at:at + step]
        yield Region(json.dumps(part, ensure_ascii=False).encode(), at, len(part), b"", b"", json=True)
