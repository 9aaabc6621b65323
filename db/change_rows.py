"""Where a change is kept in this node's log, and the one sequence of local positions.

A change is a row of `changes`, except the change that first brought a sale:
that one is the sale's own row in `sales` (db.schema, migration 6). Both tables
take their local_pos from one sequence (the highest in either, plus one), and
triggers keep the `vector` table (what this file holds) in the same
transaction. Positions and sequence numbers are read from the file, not kept in
memory, so a write rolled back leaves no gap in any origin's sequence.
"""

import sqlite3
from dataclasses import dataclass

from models.changes import Origin

_INSERT_CHANGE = ("INSERT INTO changes (local_pos, origin_inc, origin_epoch, origin_seq, kind, entity_id) "
                  "VALUES (?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class Logged:
    """A change's place here: its local position, its incarnation's local key and its origin."""

    pos: int
    inc: int
    origin: Origin


def last_position(conn: sqlite3.Connection) -> int:
    """The highest local position held in either table (0 when empty)."""
    changes = conn.execute("SELECT MAX(local_pos) FROM changes").fetchone()[0] or 0
    sales = conn.execute("SELECT MAX(local_pos) FROM sales").fetchone()[0] or 0
    return max(changes, sales)


def last_seq(conn: sqlite3.Connection, inc: int, epoch: int) -> int:
    row = conn.execute("SELECT last_seq FROM vector WHERE origin_inc = ? AND origin_epoch = ?", (inc, epoch)).fetchone()
    return row[0] if row else 0


def insert_change(conn: sqlite3.Connection, logged: Logged, kind: str, entity_id: str) -> None:
    """Keep a change as a row of `changes`."""
    conn.execute(_INSERT_CHANGE, (logged.pos, logged.inc, logged.origin.epoch, logged.origin.seq, kind, entity_id))
