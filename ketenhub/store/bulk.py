"""Many rows at once, straight to the database driver.

At a million events SQLAlchemy's per-row parameter handling cost more than the inserts
themselves. Rows here are tuples in column order;
a value that needs its column type's conversion (a timestamp on SQLite) is converted once,
with ``value``, and reused for every row.
"""
from __future__ import annotations

import io
import struct
from itertools import chain, repeat
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from sqlalchemy import BigInteger, Column, Connection, DateTime, Integer, LargeBinary, String, Table


def value(conn: Connection, column: Column, v: Any) -> Any:
    """``v`` as the driver must receive it for ``column``."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(v) if process else v


def blob(v: bytes) -> bytearray:
    """``v`` for a BLOB column. Python's sqlite3 (3.11) looks for an adapter for every value
    that is not an int, float, str or bytearray, and not finding one for bytes (or None) costs
    an exception raised and cleared: more than this copy."""
    return bytearray(v)


def blobs(conn: Connection) -> type:
    """What makes many values for BLOB columns, called without ``blob``'s call: its bytearray on
    SQLite; on PostgreSQL ``bytes``, which gives bytes back as they are (COPY writes them out
    whole, so a copy would be work for nothing)."""
    return bytearray if conn.dialect.name == "sqlite" else bytes


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
            data = _copy_binary(table, columns, rows, same)
            cursor.copy_expert(f"COPY {table.name} ({names}) FROM STDIN (FORMAT binary)", io.BytesIO(data), len(data))
            return ids
        names = ", ".join([*columns, *same])
        marks = "(" + ", ".join(["?"] * len(columns) + [_literal(v) for v in same.values()]) + ")"
        insert_many(cursor, f"INSERT INTO {table.name} ({names}) VALUES ", marks, rows)
        (last,) = cursor.execute("SELECT last_insert_rowid()").fetchone()
        return range(last - len(rows) + 1, last + 1)
    finally:
        cursor.close()


_ROWS = 100  # rows in one INSERT on SQLite: at 10 columns, far below its limit of 32,766 parameters


def insert_many(cursor, head: str, marks: str, rows: Sequence[tuple]) -> None:
    """``head`` (``INSERT ... VALUES ``) with ``marks`` (a row's ``(?, ...)``) for ``rows`` on
    SQLite, _ROWS rows a statement and the rest one by one: SQLite's work to start and end a
    statement (its cursors on the table and every index, its transaction checks) is then done
    once for them, not per row. The rows go in in their order, so their ids follow each other."""
    whole = len(rows) - len(rows) % _ROWS
    if whole:
        cursor.executemany(head + ", ".join([marks] * _ROWS),
                           [tuple(chain.from_iterable(rows[i:i + _ROWS])) for i in range(0, whole, _ROWS)])
    if whole < len(rows):
        cursor.executemany(head + marks, rows[whole:])


def _literal(v: Any) -> str:
    """``v`` as an SQLite literal: binding a value costs at every row, a literal once a statement."""
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, str) and "\0" not in v:
        return "'" + v.replace("'", "''") + "'"
    raise TypeError(f"no literal for a {type(v).__name__}")


_NULL, _END = b"\xff\xff\xff\xff", b"\xff\xff"
_HEADER = b"PGCOPY\n\xff\r\n\0" + bytes(8)  # the signature, no flags, no header extension
_LENGTH, _INT4, _INT8 = struct.Struct(">i").pack, struct.Struct(">ii").pack, struct.Struct(">iq").pack
_PG_EPOCH, _MICROSECOND = datetime(2000, 1, 1, tzinfo=timezone.utc), timedelta(microseconds=1)


def _copy_binary(table: Table, columns: Sequence[str], rows: Sequence[tuple], same: dict[str, Any]) -> bytes:
    """``rows`` and the ``same`` values in COPY's binary format. Not its text format: there the
    server reads every character of a document twice its length in hex, which cost it more than
    storing the row. Made a column at a time, each in one comprehension, and then woven into
    rows: a function call per value cost more than the encoding."""
    count = struct.pack(">h", len(columns) + len(same))
    tail = b"".join([b"".join(part) for name, v in same.items() for part in _fields(table.c[name], [v])])
    parts = [part for name, values in zip(columns, zip(*rows)) for part in _fields(table.c[name], values)]
    return b"".join([_HEADER, *chain.from_iterable(zip(repeat(count), *parts, repeat(tail))), _END])


def _fields(column: Column, values: Sequence[Any]) -> list[list[bytes]]:
    """``values`` of ``column`` in COPY's binary format, each its length and then its bytes as
    the column's type receives them: one list, or two (the lengths, the bytes) for a variable
    length, which spares joining them value by value."""
    kind = column.type
    if isinstance(kind, BigInteger):
        return [[_NULL if v is None else _INT8(8, v) for v in values]]
    if isinstance(kind, Integer):
        return [[_NULL if v is None else _INT4(4, v) for v in values]]
    if isinstance(kind, DateTime):  # microseconds since 2000-01-01 UTC; a naive time fails here
        return [[_NULL if v is None else _INT8(8, (v - _PG_EPOCH) // _MICROSECOND) for v in values]]
    if isinstance(kind, String):
        values = [None if v is None else v.encode() for v in values]
    elif not isinstance(kind, LargeBinary):
        raise TypeError(f"no binary COPY for {column.table.name}.{column.name}")
    return [[_NULL if v is None else _LENGTH(len(v)) for v in values], [b"" if v is None else v for v in values]]


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


def execute_many(conn: Connection, sql: str, rows: Sequence[tuple]) -> None:
    """``execute`` once for each of ``rows`` (a group's payloads, say), in one call to the
    driver; on PostgreSQL ``_ROWS_A_TRIP`` statements a round trip, where psycopg2's
    ``executemany`` makes a round trip per row."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            from psycopg2.extras import execute_batch  # only where PostgreSQL is the store

            execute_batch(cursor, sql.replace("?", "%s"), rows, page_size=_ROWS_A_TRIP)
        else:
            cursor.executemany(sql, rows)
    finally:
        cursor.close()


_ROWS_A_TRIP = 256


def select_in(conn: Connection, sql: str, params: tuple, values: Sequence) -> list[tuple]:
    """Rows of ``sql``, which ends in ``IN`` and has its other parameters as ``?``, for
    ``values`` (text): the key lookups that follow a bulk insert. ``sql`` may also be an
    INSERT ... SELECT, which returns no rows."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":  # one statement, not one per 500: each is a round trip
        return execute(conn, sql.removesuffix("IN") + "= ANY(CAST(? AS text[]))", (*params, array(values)))
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        rows = []
        for i in range(0, len(values), 500):
            part = values[i:i + 500]
            cursor.execute(sql + f" ({', '.join(['?'] * len(part))})", (*params, *part))
            if cursor.description:
                rows += cursor.fetchall()
        return rows
    finally:
        cursor.close()
