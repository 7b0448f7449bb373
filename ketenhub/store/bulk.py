"""Many rows at once, straight to the database driver.

At a million events SQLAlchemy's per-row parameter handling cost more than the inserts
themselves. Rows here are tuples in column order;
a value that needs its column type's conversion (a timestamp on SQLite) is converted once,
with ``value``, and reused for every row.
"""
from __future__ import annotations

import io
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Column, Connection, Table


def value(conn: Connection, column: Column, v: Any) -> Any:
    """``v`` as the driver must receive it for ``column``."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(v) if process else v


def blob(v: bytes) -> bytearray:
    """``v`` for a BLOB column. Python's sqlite3 (3.11) looks for an adapter for every value
    that is not an int, float, str or bytearray, and not finding one for bytes (or None) costs
    an exception raised and cleared: more than this copy."""
    return bytearray(v)


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple],
                same: dict[str, Any] | None = None) -> Sequence[int] | None:
    """Inserts ``rows``; ``same`` gives the columns that hold one value in every row, already
    as ``value`` makes it, written once for all rows rather than handed over with each.

    Returns their ids in order. On SQLite a new row gets the table's highest id plus one, and
    a transaction here holds the only write lock from its start (see store.db), so the ids of
    one statement's rows follow each other. On PostgreSQL a sequence is shared by concurrent
    writers: the ids are taken from it first, in one statement, and written with the rows
    (unless ``columns`` has the ids already, or the table has no id: then None), which spares
    looking them up by key."""
    if not rows:
        return range(0)
    same = same or {}
    cursor = conn.connection.dbapi_connection.cursor()  # in the connection's transaction
    try:
        if conn.dialect.name == "postgresql":
            ids = None
            if "id" not in columns and "id" in table.c:
                # The sequence found once (a subquery), not at every row: that lookup cost more than nextval.
                cursor.execute("SELECT nextval((SELECT CAST(pg_get_serial_sequence(%s, 'id') AS regclass))) "
                               "FROM generate_series(1, %s)", (table.name, len(rows)))
                ids = [i for (i,) in cursor.fetchall()]
                columns, rows = ("id", *columns), [(i, *row) for i, row in zip(ids, rows)]
            names = ", ".join([*columns, *same])
            data = _copy_text(rows, "".join(["\t" + _copy_field(v, {}) for v in same.values()]) + "\n")
            cursor.copy_expert(f"COPY {table.name} ({names}) FROM STDIN", io.StringIO(data), len(data))
            return ids
        names = ", ".join([*columns, *same])
        marks = ", ".join(["?"] * len(columns) + [_literal(v) for v in same.values()])
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        (last,) = cursor.execute("SELECT last_insert_rowid()").fetchone()
        return range(last - len(rows) + 1, last + 1)
    finally:
        cursor.close()


def _literal(v: Any) -> str:
    """``v`` as an SQLite literal: binding a value costs at every row, a literal once a statement."""
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, str) and "\0" not in v:
        return "'" + v.replace("'", "''") + "'"
    raise TypeError(f"no literal for a {type(v).__name__}")


def _copy_field(v: Any, stamps: dict) -> str:
    """``v`` in COPY's text format."""
    if isinstance(v, str):  # replace() hands back the string itself where there is nothing
        # to escape; escaping with str.translate took seven times as long
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if v is None:
        return "\\N"
    if isinstance(v, (bytes, bytearray)):
        return "\\\\x" + v.hex()  # bytea's hex form, its backslash escaped for COPY
    if isinstance(v, datetime):
        text = stamps.get(v)
        if text is None:
            text = stamps[v] = str(v)  # with its offset, as PostgreSQL reads it
        return text
    return str(v)  # int


def _copy_text(rows: Sequence[tuple], end: str = "\n") -> str:
    """``rows`` in COPY's text format, each line ending in ``end``. COPY rather than multi-row
    INSERTs (``execute_values``): the server parses no statement per page of rows, and neither
    side handles parameters."""
    stamps: dict = {}  # a call's rows share their timestamps: each is formatted once
    return "".join(["\t".join([_copy_field(v, stamps) for v in row]) + end for row in rows])


def array(values: Sequence[str | int]) -> str:
    """``values`` as one PostgreSQL array literal, for ``CAST(? AS text[])``: the server reads it
    as one value, where a list handed to psycopg2 becomes an expression of as many constants
    for it to parse and plan."""
    return "{" + ",".join(['"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"


def execute(conn: Connection, sql: str, params: tuple = ()) -> list[tuple]:
    """One statement with ``?`` parameters, straight to the driver: for the few statements
    made per payload, which a drop folder of small files makes thousands of times, where
    SQLAlchemy's building and caching of each cost more than the statement."""
    if conn.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()


def select_in(conn: Connection, sql: str, params: tuple, values: Sequence) -> list[tuple]:
    """Rows of ``sql``, which ends in ``IN`` and has its other parameters as ``?``, for
    ``values``: the key lookups that follow a bulk insert. ``sql`` may also be an INSERT ...
    SELECT, which returns no rows."""
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        rows = []
        for i in range(0, len(values), 500):
            part = values[i:i + 500]
            cursor.execute(sql.replace("?", mark) + f" ({', '.join([mark] * len(part))})", (*params, *part))
            if cursor.description:
                rows += cursor.fetchall()
        return rows
    finally:
        cursor.close()
