"""What a node keeps about itself: the highest epoch it has seen, and the CPF merges it applied."""

import sqlite3

EPOCH_KEY = "epoch"


def load_epoch(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM node_state WHERE key = ?", (EPOCH_KEY,)).fetchone()
    return row[0] if row else 0


def save_epoch(conn: sqlite3.Connection, epoch: int) -> None:
    """Persist the epoch (it only ever grows)."""
    conn.execute("INSERT INTO node_state (key, value) VALUES (?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)", (EPOCH_KEY, epoch))


def list_merges(conn: sqlite3.Connection) -> list[dict]:
    """CPF registered twice and merged (see db.merge), oldest first; the CPF is masked."""
    rows = conn.execute("SELECT cpf, loser_id, winner_id, merged_at FROM user_merges ORDER BY merged_at").fetchall()
    return [{"cpf": f"***.***.*{r[0][6:9]}-{r[0][9:]}", "merged_user": r[1], "into_user": r[2], "at": r[3]} for r in rows]
