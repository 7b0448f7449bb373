"""Kept payloads: every payload's bytes exactly as received, kept until retention lets them go.

A small payload stored with others in one transaction (a drop folder's files, see
pipeline._ingest_group) is kept in the store, in ``kept_payload``, by that same transaction:
its bytes are then as safe as its row, with no file to create and sync of its own. Any other is
a file, ``payloads/<sha256>.xml``, written and synced before its row is committed
(pipeline._keep): a big payload is streamed, never held in memory. Whatever reads or deletes
kept bytes does it here, so that both places are always looked at.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ketenhub.store import bulk
from ketenhub.store.tables import kept_payload, payload


def file(folder: Path, sha256: str) -> Path:
    """Where a payload kept as a file is (the same bytes from two partners are one file)."""
    return folder / f"{sha256}.xml"


def keep_many(conn: Connection, payloads: list[tuple[int, bytes]]) -> None:
    """Keeps the bytes of new payload rows (payload id, bytes), in the caller's transaction."""
    bulk.insert_rows(conn, kept_payload, ("payload_id", "content"), [(i, bulk.blob(data)) for i, data in payloads])


def keep(conn: Connection, payload_id: int, data: bytes) -> None:
    """Keeps the bytes of a payload row that may have them already (received again, or taken
    again after a crash): then nothing changes."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(kept_payload).values(payload_id=payload_id, content=data).on_conflict_do_nothing())


def find(conn: Connection, folder: Path, payload_id: int, sha256: str) -> bytes | Path:
    """The payload's kept bytes, if in the store; else its file, which may be gone (deleted by
    retention, or lost): reading it then raises FileNotFoundError."""
    data = conn.scalar(select(kept_payload.c.content).where(kept_payload.c.payload_id == payload_id))
    return bytes(data) if data is not None else file(folder, sha256)


def is_kept(found: bytes | Path) -> bool:
    return isinstance(found, bytes) or found.is_file()


def read(conn: Connection, folder: Path, payload_id: int, sha256: str, limit: int) -> bytes | None:
    """The payload's bytes, unless no longer kept or larger than ``limit``."""
    found = find(conn, folder, payload_id, sha256)
    if isinstance(found, bytes):
        return found if len(found) <= limit else None
    try:
        with open(found, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None
    return data if len(data) <= limit else None


@contextmanager
def as_file(found: bytes | Path, folder: Path) -> Iterator[Path]:
    """The kept bytes as a file, for what reads a payload from a file (the pipeline): its own,
    or a private copy of those in the store, deleted afterwards."""
    if not isinstance(found, bytes):
        yield found
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="kept", suffix=".tmp", dir=folder)  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(found)
        yield Path(name)
    finally:
        os.unlink(name)


def discard(conn: Connection, folder: Path, sha256: str) -> None:
    """Deletes the file of bytes kept for a payload that got no row after all (a page read ahead
    of one that failed), unless a payload row of any partner has the same bytes."""
    if conn.scalar(select(payload.c.id).where(payload.c.sha256 == sha256).limit(1)) is None:
        file(folder, sha256).unlink(missing_ok=True)


def forget(conn: Connection, folder: Path, settled, partners: list[str], dry_run: bool) -> dict[str, int]:
    """Deletes the kept bytes of the payload rows ``settled`` selects (retention): those in the
    store, and each file whose every payload row (the same file can come from two partners) is
    among them. Counted per partner whose payload it was."""
    counts = {name: 0 for name in partners}
    in_store = set()
    for payload_id, partner in conn.execute(select(payload.c.id, payload.c.partner).join_from(
            kept_payload, payload, kept_payload.c.payload_id == payload.c.id).where(settled)):
        in_store.add(payload_id)
        counts[partner] += 1
    if in_store and not dry_run:
        conn.execute(delete(kept_payload).where(kept_payload.c.payload_id.in_(select(payload.c.id).where(settled))))
    rows = conn.execute(select(payload.c.id, payload.c.partner, payload.c.sha256).where(settled)).all()
    candidates = {sha for _, _, sha in rows}
    blocked = set()
    if candidates:
        blocked = set(conn.scalars(select(payload.c.sha256).distinct()
                                   .where(payload.c.sha256.in_(candidates), ~settled)))
    gone = set()
    for payload_id, partner, sha in rows:
        path = file(folder, sha)
        if sha in blocked or not (sha in gone or path.exists()):
            continue
        if not dry_run and sha not in gone:
            path.unlink()
        gone.add(sha)
        counts[partner] += payload_id not in in_store  # a payload kept in both places counts once
    return counts

