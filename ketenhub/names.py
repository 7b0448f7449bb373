"""Partners' file names: which the hub takes, and how it shows them. A name is used as one
path component only, and shown so that no terminal or log reader acts on it."""
from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 240  # a file system's 255 less room for the .error.txt or .sha256 beside it
# Control characters (terminal escape sequences), format characters (bidi overrides), lone
# surrogates (bytes that are not UTF-8), line separators and unassigned code points.
_UNSAFE = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp", "Cn"))


def shown(name: str) -> str:
    """A partner's file name as it may be printed, logged or written: every character that a
    terminal or log reader would act on is escaped as Python writes it (``\\x1b``, ``\\u202e``);
    a backslash is doubled, so the escaped form is unambiguous."""
    if name.isascii() and name.isprintable() and "\\" not in name:
        return name  # the usual name: of printable ASCII only the backslash is escaped
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if c == "\\" or unicodedata.category(c) in _UNSAFE else c for c in name)


def name_problem(name: str) -> str | None:
    """Why a name given by a partner is not a plain file name, or None. The hub uses a name as
    one path component only: no separators, no '..', nothing a terminal would act on."""
    if not name or "/" in name or "\\" in name or ".." in name or "\0" in name:
        return "is not a plain file name (it holds a path separator or '..')"
    if shown(name) != name:
        return "holds control or invisible characters, or bytes that are not UTF-8"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None
