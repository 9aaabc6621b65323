"""What a node keeps about itself: the highest epoch it has seen, the merges it applied, and whether its file came from
another node's snapshot. Everything in node_state is this node's own: a snapshot's is cleared when it is received."""

import sqlite3

EPOCH_KEY = "epoch"
CONFLICTS_KEY = "conflicting_changes"  # changes refused because their id is held here for another entity (db.merge)


def load_epoch(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM node_state WHERE key = ?", (EPOCH_KEY,)).fetchone()
    return row[0] if row else 0


def save_epoch(conn: sqlite3.Connection, epoch: int) -> None:
    """Persist the epoch (it only ever grows)."""
    conn.execute("INSERT INTO node_state (key, value) VALUES (?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)", (EPOCH_KEY, epoch))


def count_conflicts(conn: sqlite3.Connection, count: int) -> None:
    conn.execute("INSERT INTO node_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                 (CONFLICTS_KEY, count))


def load_conflicts(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM node_state WHERE key = ?", (CONFLICTS_KEY,)).fetchone()
    return row[0] if row else 0


def list_merges(conn: sqlite3.Connection) -> list[dict]:
    """What this node merged (see db.merge), oldest first: CPFs registered twice (masked), and networks or stores
    created on two sides of a partition."""
    merges = [(r[3], {"kind": "user", "cpf": f"***.***.*{r[0][6:9]}-{r[0][9:]}", "merged_user": r[1], "into_user": r[2], "at": r[3]})
              for r in conn.execute("SELECT cpf, loser_id, winner_id, merged_at FROM user_merges")]
    keys = {"store": "cnpj", "network": "name"}
    merges += [(r[3], {"kind": r[0], keys[r[0]]: r[2], r[0]: r[1], "at": r[3]})
               for r in conn.execute("SELECT kind, entity_id, key, merged_at FROM catalogue_merges")]
    return [entry for _, entry in sorted(merges, key=lambda m: m[0])]


SNAPSHOT_FROM_KEY = "snapshot_from"  # the node whose snapshot this file was made from (replication/snapshot_join.py)
SNAPSHOT_BYTES_KEY = "snapshot_bytes"  # and how many bytes that snapshot had


def reset_node_state(conn: sqlite3.Connection) -> None:
    """Forget what another node kept about itself here (a snapshot of its file): every key is node-local by definition."""
    conn.execute("DELETE FROM node_state")


def save_snapshot_origin(conn: sqlite3.Connection, node: int, size: int) -> None:
    conn.executemany("INSERT INTO node_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     [(SNAPSHOT_FROM_KEY, node), (SNAPSHOT_BYTES_KEY, size)])


def load_snapshot_origin(conn: sqlite3.Connection) -> dict | None:
    """{"from": node, "bytes": size} when this file was made from another node's snapshot, else None."""
    rows = dict(conn.execute("SELECT key, value FROM node_state WHERE key IN (?, ?)", (SNAPSHOT_FROM_KEY, SNAPSHOT_BYTES_KEY)).fetchall())
    if SNAPSHOT_FROM_KEY not in rows:
        return None
    return {"from": rows[SNAPSHOT_FROM_KEY], "bytes": rows.get(SNAPSHOT_BYTES_KEY, 0)}
