"""The OM's side: nightly batch files in an SFTP outbox, the marker written after the file. The
Schadefonds delivers under the same rules (``publish_schadefonds``)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence

from ketenhub.markers import marker_line, marker_name
from ketenhub.simulators.generate import Generator


def _write(path: Path, chunks: Iterable[bytes], marker: bool) -> Path:
    """The file streamed, then (if asked) its .sha256 marker beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
            digest.update(chunk)
    if marker:
        path.with_name(marker_name(path.name)).write_text(marker_line(digest.hexdigest(), path.name))
    return path


def publish(outbox: Path, date: str, sequence: int, events: int, start: int = 1, invalid_share: float = 0.0,
            seed: int = 1, marker: bool = True, first: Sequence[str] = ()) -> Path:
    """Write OM_ZAAKGEBEURTENISSEN_<date>_<NNN>.xml (streamed) and then its .sha256 marker;
    ``first``: events given whole, before the made-up ones."""
    return _write(outbox / f"OM_ZAAKGEBEURTENISSEN_{date}_{sequence:03d}.xml",
                  Generator(seed).om_batch(start, events, invalid_share, first), marker)


def publish_schadefonds(outbox: Path, date: str, sequence: int, events: int, start: int = 1,
                        invalid_share: float = 0.0, seed: int = 1, marker: bool = True,
                        first: Sequence[str] = ()) -> Path:
    """Write SCHADEFONDS_AANVRAGEN_<date>_<NNN>.xml and then its .sha256 marker."""
    return _write(outbox / f"SCHADEFONDS_AANVRAGEN_{date}_{sequence:03d}.xml",
                  Generator(seed).schadefonds_batch(start, events, invalid_share, first), marker)
