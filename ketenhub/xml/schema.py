"""XSD validation with lxml (the fast path), failures put in plain words."""
from __future__ import annotations

import re
from itertools import islice
from functools import lru_cache
from pathlib import Path

from lxml import etree

from ketenhub.xml.parsing import parse_trusted, shown_name
from ketenhub.xml.problems import Problem, element_path


@lru_cache(maxsize=None)
def compile_schema(path: str) -> etree.XMLSchema:
    """Compiled once per process: compiling is the slow part. lxml keeps one error log per
    schema, so threads that validate with one at once take a lock (deliver.run._CHECKING); the
    intakes of a process run one at a time."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"schema {path} does not exist")
    return etree.XMLSchema(parse_trusted(path))


_XS = "{http://www.w3.org/2001/XMLSchema}"


@lru_cache(maxsize=None)
def declared_names(path: str) -> frozenset[str]:
    """The local names of every element and attribute the XSD at ``path`` declares, with those of
    the local schemas it includes or imports: what a message may quote of a partner's document,
    as any other name in it is the partner's free text."""
    names, todo, seen = set(), [Path(path).resolve()], set()
    while todo:
        xsd = todo.pop()
        if xsd in seen or not xsd.is_file():
            continue
        seen.add(xsd)
        root = parse_trusted(str(xsd)).getroot()
        names.update(el.get("name") for el in root.iter(f"{_XS}element", f"{_XS}attribute") if el.get("name"))
        todo += [xsd.parent / el.get("schemaLocation") for el in root.iter(f"{_XS}include", f"{_XS}import")
                 if el.get("schemaLocation") and "://" not in el.get("schemaLocation")]
    return frozenset(names)


_NS = re.compile(r"\{[^}]*[:/][^}]*\}")  # namespace URIs, not pattern quantifiers like {9}
_ELEMENT = re.compile(r"^Element '([^']+)'(?:, attribute '([^']+)')?: ")

# libxml2's messages, rewritten so that they name the rule and never quote a value.
_PLAIN = [
    (re.compile(r"\[facet 'pattern'\] The value .* is not accepted by the pattern '(.*)'\.$", re.S),
     "pattern", lambda m: f"the value does not have the required form (pattern {m[1]})"),
    (re.compile(r"\[facet 'enumeration'\] The value .* is not an element of the set \{(.*)\}\.$", re.S),
     "allowed-values", lambda m: f"the value is not one of the allowed values: {m[1].replace(chr(39), '')}"),
    (re.compile(r"\[facet '(\w+)'\] The value .* (?:has|is|exceeds|must).*?([\d.]+)\D*$", re.S),
     "facet", lambda m: f"the value breaks the {m[1]} limit of {m[2]}"),
    (re.compile(r"\[facet '(\w+)'\].*$", re.S), "facet", lambda m: f"the value breaks the {m[1]} restriction"),
    (re.compile(r".* is not a valid value of the (?:atomic|local atomic|list) type '(?:xs:)?([^']+)'\.$", re.S),
     "datatype", lambda m: f"the value is not a valid {m[1]}"),
    (re.compile(r"This element is not expected\. Expected is(?: one of)? \( (.*) \)\.$"),
     "structure", lambda m: f"this element is not allowed here; expected: {m[1]}"),
    (re.compile(r"This element is not expected\.$"), "structure", lambda m: "this element is not allowed here"),
    (re.compile(r"Missing child element\(s\)\. Expected is(?: one of)? \( (.*) \)\.$"),
     "structure", lambda m: f"a required element is missing: {m[1]}"),
    (re.compile(r"The attribute '([^']+)' is required but missing\.$"),
     "structure", lambda m: f"the required attribute {m[1]} is missing"),
    (re.compile(r"The attribute '([^']+)' is not allowed\.$"),
     "structure", lambda m: f"the attribute {m[1]} is not allowed here"),
    (re.compile(r"No matching global declaration available for the validation root\.$"),
     "root", lambda m: "this element is not one the contract's schema declares as a document"),
    (re.compile(r"Element content is not allowed, because the content type is a simple type definition\.$"),
     "structure", lambda m: "this element takes a value, not child elements"),
]


def plain(message: str) -> tuple[str, str]:
    """(rule, plain words) for one libxml2 schema message."""
    message = _NS.sub("", message.strip())
    rest = _ELEMENT.sub("", message)
    for pattern, rule, words in _PLAIN:
        m = pattern.match(rest)
        if m:
            return rule, words(m)
    # Unknown message: keep libxml2's words up to any value it quotes.
    return "schema", re.split(r"The value|'", rest, maxsplit=1)[0].strip() or "the element is not valid here"


def _locate(root: etree._Element, line: int, name: str | None) -> etree._Element | None:
    for el in root.iter(etree.Element):  # not its comments and processing instructions
        if el.sourceline == line and (name is None or etree.QName(el).localname == name):
            return el
    return None


MAX_PROBLEMS = 20


def validate(schema: etree.XMLSchema, element: etree._Element, most: int = MAX_PROBLEMS,
             names: frozenset[str] | None = None) -> list[Problem]:
    """Validate an element (a document root or an event cut from a batch); ``names``: those its
    contract declares, for a partner's document (see ``problems_of``)."""
    if schema.validate(element):
        return []
    # Never none for what failed: the error log is the schema's, and another thread's check may
    # have emptied it meanwhile (callers that share a schema between threads hold a lock).
    return problems_of(element, schema.error_log, most, names) or [
        Problem("schema", "the document is not valid against the contract's schema")]


def problems_of(element: etree._Element, entries, most: int = MAX_PROBLEMS,
                names: frozenset[str] | None = None) -> list[Problem]:
    """libxml2's schema errors about ``element`` or what it holds, in plain words: the first
    ``most`` of them, and how many more there are (an event with 200,000 attributes it may not
    have would otherwise give a reason of megabytes). ``names``: those the contract declares;
    any other name of the document in a path or a message is replaced (a value may be written
    as a name)."""
    problems = []
    for entry in islice(entries, most):
        rule, words = plain(entry.message)
        m = _ELEMENT.match(_NS.sub("", entry.message))
        name = m[1] if m else None
        found = _locate(element, entry.line, name) if entry.line else None
        path = element_path(found) if found is not None else name
        if m and m[2]:
            path = f"{path}/@{m[2]}"
            if names is not None:
                words = words.replace(f"attribute {m[2]} ", f"attribute {shown_name(m[2], names)} ")
        if names is not None and path:
            path = "/".join(step and ("@" if step.startswith("@") else "") + shown_name(step.lstrip("@"), names)
                            for step in path.split("/"))
        problems.append(Problem(rule, words, line=entry.line or None, element=path))
    if len(entries) > most:
        problems.append(Problem("schema", f"and {len(entries) - most} more problems, not listed"))
    return problems
