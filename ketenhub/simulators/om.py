"""The OM's side: nightly batch files in an SFTP outbox, the marker written after the file."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ketenhub.markers import marker_line, marker_name
from ketenhub.simulators.generate import Generator


def publish(outbox: Path, date: str, sequence: int, events: int, start: int = 1, invalid_share: float = 0.0,
            seed: int = 1, marker: bool = True) -> Path:
    """Write OM_ZAAKGEBEURTENISSEN_<date>_<NNN>.xml (streamed) and then its .sha256 marker."""
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"OM_ZAAKGEBEURTENISSEN_{date}_{sequence:03d}.xml"
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for chunk in Generator(seed).om_batch(start, events, invalid_share):
            f.write(chunk)
            digest.update(chunk)
    if marker:
        path.with_name(marker_name(path.name)).write_text(marker_line(digest.hexdigest(), path.name))
    return path
