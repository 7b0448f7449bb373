"""What a destination writes back (KbSP's Reden, a SOAP faultstring, DLV's error body, CJIB's
reason file, an error message quoting any of these) is personal data: it may name the victim or
quote their BSN. The hub keeps it, for those who may see personal data, apart from its own words
(the state, a code it knows, the HTTP status, the type of an error), which everyone may see.

A delivery's ``last_error`` holds the whole text and ``error_summary`` the hub's own words. An
audit detail holds ``<hub's words> SEP <label> SEP <the rest>``; a detail without SEP on a
delivery outcome was written before this split, and is hidden whole."""
from __future__ import annotations

import builtins
import re

from ketenhub.protocols import errors

SEP = "\x1e"  # ASCII record separator: never in the hub's own words
# How transports begin a reason: "<label>: <code>: <text>", with the destination's label (its
# adapter's) and a code its contract knows (the adapter's outcomes), an HTTP status or an error type:
# "KbSP: AFGEWEZEN: <Reden>", "DLV: HTTP 422: <body>", "DLV: ReadTimeout".
_CODE = r": (HTTP [1-5][0-9][0-9]|[A-Za-z_]+)(?=: |$)"
# How deliver.run writes an error raised while sending: "<type of the error>: <its message>". Only the
# hub writes the start of a reason; a peer's text comes after it.
_ERROR = re.compile(r"([A-Z][A-Za-z0-9]*)(?=: |$)")
# Reasons deliver.run writes in its own words only (validation messages never quote a value).
HUB_REASONS = ("the outbound document is invalid against the destination's XSD", "no result for this item")
OUTCOMES = ("failed", "dead", "refused", "pending")  # delivery and batch actions whose detail may quote a peer
_HUB_PENDING = ("key ", "did not fit in the batch")  # pending details the hub writes itself


def _known(word: str, codes) -> bool:
    """A code from the destination's contract, an HTTP status, or the name of an error type: never
    free text, so never a name or a number a peer chose."""
    if word.startswith("HTTP ") or word in codes:
        return True
    if errors.named(word):
        return True
    kind = getattr(builtins, word, None)
    return isinstance(kind, type) and issubclass(kind, BaseException)


def clean(text: str) -> str:
    return text.replace("\x00", "\ufffd")  # PostgreSQL refuses NUL in text; a peer may send one


def split(reason: str, label: str, codes=()) -> tuple[str, str]:
    """A transport's reason as (the hub's words at its start, the rest), for a destination with
    this label and these result codes. Nothing recognised: all of it is the rest."""
    if reason.startswith(HUB_REASONS):
        return reason, ""
    m = re.compile(re.escape(label) + _CODE).match(reason)
    if m and _known(m.group(1), codes):
        return m.group(0), reason[m.end():]
    m = _ERROR.match(reason)  # a SoapFault's message holds the faultstring, a ConnectionError's the status line
    if m:
        return m.group(1), reason[m.end():]
    return "", reason


def hidden(destination_label: str, rest: str) -> str:
    """How long the peer's text is, without the ": " that joins it to the hub's words."""
    return f"[text from {destination_label} hidden: {len(rest.removeprefix(': '))} characters]" if rest else ""


def public(summary: str | None, full: str | None, label: str) -> str:
    """A delivery's last error for who may not see personal data; ``label`` names its destination."""
    if not full:
        return ""
    if summary is None:  # no summary: written before the split, or by code that did not split
        return hidden(label, full)
    rest = full[len(summary):] if full.startswith(summary) else full
    return " ".join(filter(None, (summary, hidden(label, rest))))


def detail(hub_words: str, label: str, rest: str) -> str:
    """An audit detail that keeps the peer's text apart from the hub's words."""
    return f"{hub_words}{SEP}{label}{SEP}{clean(rest)}"


def public_detail(subject: str, action: str, text: str | None) -> str | None:
    """An audit detail for who may not see personal data."""
    if text is None:
        return None
    if SEP in text:
        hub_words, who, rest = text.split(SEP, 2)
        return " ".join(filter(None, (hub_words, hidden(who, rest))))
    if subject in ("delivery", "batch") and action in OUTCOMES and " " in text \
            and not text.startswith(_HUB_PENDING):
        return f"[text hidden: {len(text)} characters]"
    return text


def full_detail(text: str | None) -> str | None:
    """An audit detail in full, for who may see personal data: as it read before the split."""
    if text is None or SEP not in text:
        return text
    hub_words, _, rest = text.split(SEP, 2)
    return hub_words + rest
