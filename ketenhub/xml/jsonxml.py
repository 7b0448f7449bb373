"""JSON read safely, and shown as XML in the W3C json-to-xml vocabulary (XPath and XQuery
Functions 3.1, section 17.5: ``map``, ``array``, ``string``, ``number``, ``boolean`` and
``null`` elements in the namespace http://www.w3.org/2005/xpath-functions, a member's name in
its ``key`` attribute). The mappings are XSLT 1.0 over XML, whatever a partner sends: a JSON
partner's event becomes such an element, and its mapping reads it like any other event.

Reading refuses what JSON allows but a partner's data never needs and a parser may read two
ways: a byte order mark, text that is not UTF-8, duplicate member names, NaN and Infinity,
and nesting deeper than ``MAX_DEPTH``. Errors name the line and column and the rule, never a
value (values are personal data)."""
from __future__ import annotations

import json
import re

from lxml import etree

from ketenhub.xml.problems import Problem

NS = "http://www.w3.org/2005/xpath-functions"
MAX_DEPTH = 64  # a partner's events nest a few levels; Python's parser recurses per level


class _Refused(ValueError):
    pass


def _members(pairs: list[tuple[str, object]]) -> dict:
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise _Refused("an object has the same member name twice")
    return dict(pairs)


def _constant(name: str):
    raise _Refused(f"{name} is not a JSON number")


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def _depth(data: bytes) -> int:
    """The deepest nesting of objects and arrays, outside strings: checked before parsing. The
    strings and everything but brackets are dropped first, in C, so that Python walks brackets only."""
    depth = deepest = 0
    for byte in _STRING.sub(b"", data).translate(None, _NOT_BRACKET):
        if byte in (0x7B, 0x5B):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse(data: bytes) -> tuple[object, list[Problem]]:
    """The JSON value of ``data``, or None with the problems that stop it being read."""
    if not data.strip():
        return None, [Problem("empty", "the body is empty")]
    if data.startswith(b"\xef\xbb\xbf"):
        return None, [Problem("encoding", "the body starts with a byte order mark; JSON is sent without one")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, [Problem("encoding", f"the body is not UTF-8 (byte {e.start + 1})")]
    if _depth(data) > MAX_DEPTH:
        return None, [Problem("depth", f"the body nests objects and arrays more than {MAX_DEPTH} deep")]
    try:
        return json.loads(text, object_pairs_hook=_members, parse_constant=_constant), []
    except json.JSONDecodeError as e:
        return None, [Problem("well-formed", f"the body is not JSON: {e.msg} (column {e.colno})", line=e.lineno)]
    except _Refused as e:
        return None, [Problem("well-formed", f"the body is not JSON the hub takes: {e}")]


# Characters XML 1.0 cannot hold: json-to-xml writes them as JSON escapes, with escaped="true".
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escaped(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m[0]):04x}", text.replace("\\", "\\\\"))


def _put(parent: etree._Element | None, value: object, key: str | None = None) -> etree._Element:
    if isinstance(value, dict):
        tag = "map"
    elif isinstance(value, list):
        tag = "array"
    elif isinstance(value, bool):  # before int: True is an int in Python
        tag = "boolean"
    elif isinstance(value, (int, float)):
        tag = "number"
    elif value is None:
        tag = "null"
    else:
        tag = "string"
    name = f"{{{NS}}}{tag}"
    el = etree.Element(name, nsmap={None: NS}) if parent is None else etree.SubElement(parent, name)
    if key is not None:
        if _NOT_XML.search(key) or "\\" in key:
            el.set("escaped-key", "true")
            key = _escaped(key)
        el.set("key", key)
    if tag == "map":
        for k, v in value.items():
            _put(el, v, k)
    elif tag == "array":
        for v in value:
            _put(el, v)
    elif tag == "boolean":
        el.text = "true" if value else "false"
    elif tag == "number":
        el.text = json.dumps(value)
    elif tag == "string":
        if _NOT_XML.search(value):
            el.set("escaped", "true")
            el.text = _escaped(value)
        else:
            el.text = value
    return el


def to_xml(value: object) -> etree._Element:
    """``value`` (as ``json.loads`` gives it) as the root element of its json-to-xml document."""
    return _put(None, value)
