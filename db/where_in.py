"""Running a query for many ids at once, in chunks that stay under SQLite's limit on bound variables."""

import sqlite3
from typing import Iterator

SQL_VARIABLES_PER_QUERY = 500


def rows_where_in(conn: sqlite3.Connection, sql: str, ids: list[str]) -> Iterator[sqlite3.Row]:
    """The rows of `sql`, whose `IN ({})` is filled with placeholders for each chunk of `ids`."""
    for i in range(0, len(ids), SQL_VARIABLES_PER_QUERY):
        chunk = ids[i : i + SQL_VARIABLES_PER_QUERY]
        yield from conn.execute(sql.format(",".join("?" * len(chunk))), chunk)
