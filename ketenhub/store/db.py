"""Engine and migrations. SQLite (WAL, busy timeout) is the embedded default; PostgreSQL
through KETENHUB_DATABASE_URL is the production store."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "ketenhub_alembic_version"
HEAD = "0016"  # the newest migration; a test keeps this equal to Alembic's head
PAGE_SIZE = 16384


def _sqlite_pragmas(dbapi_connection, _record):
    dbapi_connection.isolation_level = None  # transactions begin in _sqlite_begin, not in pysqlite
    cur = dbapi_connection.cursor()
    # 16 KB pages, not 4 KB (for a new database; an existing one keeps its own): a checkpoint
    # copies the WAL into the database a page at a time, and at a million events it copies
    # gigabytes. With a quarter of the pages, a checkpoint takes about half the time.
    cur.execute(f"PRAGMA page_size={PAGE_SIZE}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # FULL: a commit is on disk before the hub confirms a page, moves a file or settles a delivery
    # (NORMAL in WAL mode may lose the last commits to a power cut or an OS crash).
    cur.execute("PRAGMA synchronous=FULL")
    # A checkpoint every 256 MB of WAL, not SQLite's 1,000 pages (4 MB at 4 KB pages): a big
    # ingest rewrites the same index pages at every checkpoint, and at 4 MB that was a fifth
    # of its storing time.
    (page_size,) = cur.execute("PRAGMA page_size").fetchone()
    cur.execute(f"PRAGMA wal_autocheckpoint={(256 << 20) // page_size}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    # One writer at a time, decided when the transaction starts: a transaction that read
    # first and wrote later could find its snapshot stale and fail ("database is locked").
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _private_database(path: Path) -> None:
    """The SQLite file made (or left) readable by the hub's user only: it holds personal data.
    SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            os.chmod(p, 0o600)
        except (FileNotFoundError, PermissionError):  # another user's file keeps its mode
            pass


@lru_cache(maxsize=None)
def engine(url: str) -> Engine:
    """One engine per database per process, migrated to head on first use."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _private_database(Path(path))
        eng = create_engine(url, connect_args={"timeout": 30})
        event.listen(eng, "connect", _sqlite_pragmas)
        event.listen(eng, "begin", _sqlite_begin)
    else:
        eng = create_engine(url, pool_pre_ping=True)
    migrate(eng)
    return eng


def alembic_config():
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def current_revision(eng: Engine) -> str | None:
    try:
        with eng.connect() as conn:
            return conn.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    except DBAPIError:
        return None


def migrate(eng: Engine) -> None:
    """Upgrade to head. Alembic is imported only when there is something to do: it costs a
    second at every start of the CLI and of every Airflow task otherwise."""
    if current_revision(eng) == HEAD:
        return
    from alembic import command
    cfg = alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
