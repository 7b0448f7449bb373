"""Completion markers: a file is complete when ``<name>.sha256`` stands beside it, holding the
lowercase hex SHA-256 of the file, optionally followed by two spaces and the name, as
``sha256sum`` writes it. The OM's and the Schadefonds' files have them; the hub writes them
after its CJIB batches."""
from __future__ import annotations

import hashlib

SUFFIX = ".sha256"


def marker_name(name: str) -> str:
    return name + SUFFIX


def read_marker(text: str) -> str | None:
    """The hex digest from a marker's text, or None if it holds none."""
    parts = text.strip().split()
    if parts and len(parts[0]) == 64 and all(c in "0123456789abcdefABCDEF" for c in parts[0]):
        return parts[0].lower()
    return None


def marker_text(data: bytes, name: str) -> str:
    """The marker for ``data`` saved as ``name``."""
    return marker_line(hashlib.sha256(data).hexdigest(), name)


def marker_line(hexdigest: str, name: str) -> str:
    return f"{hexdigest}  {name}\n"
