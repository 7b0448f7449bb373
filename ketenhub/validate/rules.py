"""Checks the XSDs cannot express: BSN elfproef, and each adapter's XPath rules."""
from __future__ import annotations

import re

from lxml import etree

from ketenhub.adapters import Rule
from ketenhub.xml.problems import Problem, element_path


def elfproef(bsn: str) -> bool:
    """9×d1 + 8×d2 + … + 2×d8 − 1×d9 divisible by 11, and not 000000000."""
    if len(bsn) != 9 or not (bsn.isascii() and bsn.isdigit()) or bsn == "000000000":
        return False
    d = bsn.encode()  # character codes: each digit plus 48, taken off at once below (48 × 43)
    return (9 * d[0] + 8 * d[1] + 7 * d[2] + 6 * d[3] + 5 * d[4] + 4 * d[5] + 3 * d[6] + 2 * d[7] - d[8]
            - 2064) % 11 == 0


def check_bsns(event: etree._Element) -> list[Problem]:
    """Every element named Bsn, in any partner's format, must pass the elfproef."""
    return [
        Problem("elfproef", "the BSN fails the elfproef (11-test)", line=el.sourceline, element=element_path(el))
        for el in event.iter("{*}Bsn")
        if not elfproef((el.text or "").strip())
    ]


def failing_bsns(chunk: etree._Element) -> set[etree._Element]:
    """The children of ``chunk`` (events) that hold a BSN failing the elfproef."""
    events = set()
    for el in chunk.iter("{*}Bsn"):
        if not elfproef((el.text or "").strip()):
            while el.getparent() is not chunk:
                el = el.getparent()
            events.add(el)
    return events


REGEXP = "http://exslt.org/regular-expressions"  # re:test, which lxml provides in XPath
# In a for_each rule's message, {Name}: the text of that child of the element when it is a code
# (such as a Soort); any other text, a name or a number, may be personal data and is not shown.
_NAMED = re.compile(r"\{([A-Za-z_][\w.-]*)\}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


def _code_of(el: etree._Element, tag: str) -> str:
    text = (el.findtext(tag) or "").strip()
    return text if not text or _CODE.fullmatch(text) else "a value not shown"


def _on_event(rule: Rule) -> str:
    """The rule as a test on the whole event."""
    return f"not({rule.for_each}[not({rule.test})])" if rule.for_each else f"({rule.test})"


class Rules:
    """A partner's XPath rules (adapter definition), compiled once per process."""

    def __init__(self, rules: tuple[Rule, ...], namespace: str):
        ns = {"p": namespace, "re": REGEXP}
        self.ns = ns
        self.each = [(rule, etree.XPath(f"boolean({_on_event(rule)})", namespaces=ns)) for rule in rules]
        # A for_each rule's test on one element, to name each element that breaks it.
        self.on_element = {rule: etree.XPath(f"boolean({rule.test})", namespaces=ns) for rule in rules if rule.for_each}
        # Nearly every event passes them all: one XPath for all of them first.
        every = " and ".join(_on_event(r) for r in rules) or "true()"
        self.all = etree.XPath(f"boolean({every})", namespaces=ns)
        self.failing = etree.XPath(f"*[not({every})]", namespaces=ns)

    def failing_events(self, chunk: etree._Element) -> list[etree._Element]:
        """The children of ``chunk`` (events) that break a rule: one XPath for them all."""
        return self.failing(chunk)

    def __call__(self, event: etree._Element) -> list[Problem]:
        if self.all(event):
            return []
        problems = []
        for rule, test in self.each:
            if test(event):
                continue
            if not rule.for_each:
                problems.append(Problem("adapter-rule", rule.message, line=event.sourceline,
                                        element=element_path(event)))
                continue
            passes = self.on_element[rule]
            for n, el in enumerate(event.xpath(rule.for_each, namespaces=self.ns), 1):
                if not passes(el):
                    message = _NAMED.sub(lambda m: _code_of(el, f"{{{self.ns['p']}}}{m[1]}"),
                                         rule.message.replace("{n}", str(n)))
                    problems.append(Problem("adapter-rule", message, line=el.sourceline, element=element_path(el)))
        return problems
