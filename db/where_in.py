"""Running a query for many ids at once, in chunks that stay under SQLite's limit on bound variables; and walking the
values a column holds in a range, one seek each."""

import sqlite3
from typing import Iterator

SQL_VARIABLES_PER_QUERY = 500


def rows_where_in(conn: sqlite3.Connection, sql: str, ids: list[str]) -> Iterator[sqlite3.Row]:
    """The rows of `sql`, whose `IN ({})` is filled with placeholders for each chunk of `ids`."""
    for i in range(0, len(ids), SQL_VARIABLES_PER_QUERY):
        chunk = ids[i : i + SQL_VARIABLES_PER_QUERY]
        yield from conn.execute(sql.format(",".join("?" * len(chunk))), chunk)


OPEN_LOW, OPEN_HIGH = -(2**62), 2**62  # the open ends of a range of held_values


def held_values(table: str, column: str) -> str:
    """A SELECT of the distinct values of an indexed integer column in [?, ?] (its two params), each found from the one
    before by a seek: as many steps as values held, however far apart (a stray sale dated in year 1 adds one step, not
    seven hundred thousand). Join on it to seek (value, key) in an index led by the column."""
    return (f"WITH RECURSIVE h(value, last) AS (SELECT (SELECT MIN({column}) FROM {table} WHERE {column} >= ?), ? UNION ALL "
            f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > h.value), last FROM h WHERE value < last) "
            "SELECT value FROM h WHERE value <= last")
