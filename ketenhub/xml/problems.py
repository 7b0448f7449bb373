"""A validation failure a partner can act on: where (line, element), which rule, in plain words.

Messages never quote the offending value: they end up in logs and reports, and values are
personal data (BSNs, names). Line and element are enough to find it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    rule: str  # short name of the rule: well-formed, schema, elfproef, control-count, ...
    message: str  # plain words
    line: int | None = None
    element: str | None = None  # path of local names: /Zaakgebeurtenis/Verdachte/Bsn; in JSON: $.a[2].b

    def __str__(self) -> str:
        where = []
        if self.line:
            where.append(f"line {self.line}")
        if self.element:
            where.append(f"{'at' if self.element.startswith('$') else 'element'} {self.element}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message} (rule: {self.rule})" if prefix else f"{self.message} (rule: {self.rule})"


class Rejected(Exception):
    """A whole payload cannot be processed; carries its problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def explain(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def element_path(element) -> str:
    """Path of local names from the outermost element we still hold to ``element``."""
    names = []
    node = element
    while node is not None:
        tag = node.tag
        if isinstance(tag, str):
            names.append(tag.rsplit("}", 1)[-1])
        node = node.getparent()
    return "/" + "/".join(reversed(names))
