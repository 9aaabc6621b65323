"""Small local integer keys for sellers and stores, used by the sales and the totals inside one node (migration 6).

A key is this node's own: it never leaves the file (the wire carries UUIDs). A
sale may name a seller or store not held yet (db.schema), so a key is made on
first use, whatever the UUID names.
"""

import sqlite3
from typing import Iterable

from db.where_in import rows_where_in

KEY_OF = "SELECT key FROM local_keys WHERE id = ?"  # a keys_sql for one UUID (db.reports)


def keys_of(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, int]:
    """The key of each UUID, made for those that have none yet (inside the writer's transaction)."""
    wanted = set(ids)
    keys = find_keys(conn, wanted)
    for missing in sorted(wanted - keys.keys()):
        keys[missing] = conn.execute("INSERT INTO local_keys (id) VALUES (?)", (missing,)).lastrowid
    return keys


def find_keys(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, int]:
    """The keys of the UUIDs that have one."""
    return {row[1]: row[0] for row in rows_where_in(conn, "SELECT key, id FROM local_keys WHERE id IN ({})", sorted(set(ids)))}
