"""Users' SQL: queries only, on a read-only connection.

Two guards: every statement's type must be a query (so ``COPY … TO``, ``ATTACH`` or
``INSTALL`` are refused even though a read-only connection would let them touch files),
and the connection itself is opened read-only.
"""

from __future__ import annotations

from typing import Any

import duckdb

from imitkit.registry.errors import QueryError, ReadOnlyQueryError

_ALLOWED = {"SELECT", "EXPLAIN", "PRAGMA"}


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise QueryError(f"cannot parse SQL: {str(e).splitlines()[0]}") from e
    if not statements:
        raise QueryError("no SQL statement given")
    for statement in statements:
        kind = statement.type.name
        if kind not in _ALLOWED:
            raise ReadOnlyQueryError(
                f"imitkit sql is read-only: {kind} statements are refused "
                "(change the registry through imitkit commands)"
            )
    return statements


def run_user_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    """Run the user's statements; return the column names and rows of the last one."""
    statements = check_read_only(con, sql)
    cursor = None
    try:
        for statement in statements:
            cursor = con.execute(statement.query)
    except duckdb.Error as e:
        first = str(e).splitlines()[0]
        if "read-only" in first.lower():
            raise ReadOnlyQueryError(f"imitkit sql is read-only: {first}") from e
        raise QueryError(first) from e
    if cursor is None or cursor.description is None:
        return [], []
    return [d[0] for d in cursor.description], cursor.fetchall()
