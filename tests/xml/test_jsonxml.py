"""JSON read safely and shown in the W3C json-to-xml vocabulary."""
import json
import re

import pytest
from hypothesis import given, settings, strategies as st
from lxml import etree

from ketenhub.xml.jsonxml import MAX_DEPTH, NS, parse, to_xml


def test_every_json_kind_has_its_element_and_members_their_key():
    el = to_xml({"s": "tekst", "n": 12.5, "i": 3, "b": False, "z": None, "a": [1, "x"], "m": {"k": True}})
    assert el.tag == f"{{{NS}}}map" and el.nsmap == {None: NS}
    kinds = [(etree.QName(c).localname, c.get("key"), c.text) for c in el]
    assert kinds == [("string", "s", "tekst"), ("number", "n", "12.5"), ("number", "i", "3"),
                     ("boolean", "b", "false"), ("null", "z", None), ("array", "a", None), ("map", "m", None)]
    assert [(etree.QName(c).localname, c.get("key"), c.text) for c in el[5]] == [("number", None, "1"),
                                                                                ("string", None, "x")]
    assert el[6][0].text == "true"


def test_characters_xml_cannot_hold_are_escaped_as_the_vocabulary_says():
    el = to_xml({"a\u0001": "x\u0000y\\z", "plain": "back\\slash"})
    first, second = el
    assert first.get("escaped-key") == "true" and first.get("key") == "a\\u0001"
    assert first.get("escaped") == "true" and first.text == "x\\u0000y\\\\z"
    assert second.get("escaped") is None and second.text == "back\\slash"  # unescaped: taken literally


@pytest.mark.parametrize("data,rule,words", [
    (b"", "empty", "empty"),
    (b"\xef\xbb\xbf{}", "encoding", "byte order mark"),
    (b'{"a": "\xff"}', "encoding", "not UTF-8"),
    (b'{"a": 1, "a": 2}', "well-formed", "same member name twice"),
    (b'{"a": NaN}', "well-formed", "NaN is not a JSON number"),
    (b'{"a": [1, 2,]}', "well-formed", "not JSON"),
    (b"<html>busy</html>", "well-formed", "not JSON"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "depth", "nests"),
])
def test_what_json_allows_but_the_hub_does_not_take_is_refused_in_plain_words(data, rule, words):
    value, problems = parse(data)
    assert value is None and [p.rule for p in problems] == [rule] and words in problems[0].message


def test_a_refusal_names_the_line_never_the_value():
    _, (problem,) = parse(b'{\n"bsn": "628194821",\n"naam": Jansen}')
    assert problem.line == 3 and "Jansen" not in str(problem) and "628194821" not in str(problem)


def test_brackets_inside_strings_do_not_count_as_nesting():
    value, problems = parse(json.dumps({"t": "[" * 500}).encode())
    assert problems == [] and value == {"t": "[" * 500}


def _back(el):
    """XPath 3.1 xml-to-json's reading of the vocabulary, enough to check nothing is lost."""
    kind = etree.QName(el).localname

    def unescape(text, flag):
        if flag != "true":
            return text
        return re.sub(r"\\(u[0-9a-f]{4}|\\)", lambda m: "\\" if m[1] == "\\" else chr(int(m[1][1:], 16)), text)
    if kind == "map":
        return {unescape(c.get("key"), c.get("escaped-key")): _back(c) for c in el}
    if kind == "array":
        return [_back(c) for c in el]
    if kind == "string":
        return unescape(el.text or "", el.get("escaped"))
    if kind == "number":
        return json.loads(el.text)
    if kind == "boolean":
        return el.text == "true"
    return None


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=5))
def test_every_json_object_survives_the_vocabulary_and_serialises_as_xml(value):
    el = to_xml(value)
    again = etree.fromstring(etree.tostring(el))  # any text at all is XML once escaped
    assert _back(again) == value
