"""Where a change is kept in this node's log, and the one sequence of local positions.

A change is a row of `changes`, except the change that first brought a sale:
that one is the sale's own row in `sales` (db.schema, migration 6). Both tables
take their local_pos from one sequence (the highest in either, plus one). The
`vector` table (what this file holds) is kept in the same transaction: by a
trigger for `changes`, and by sales_logged for a batch of sales rows (a
trigger per sale row cost more than the row's own insert). `sale_marks` holds
where every 256th sale change of an origin is, and its first. Positions and sequence numbers are read from the file, not kept in
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


_VECTOR_UPSERT = ("INSERT INTO vector VALUES (?, ?, ?) "
                  "ON CONFLICT (origin_inc, origin_epoch) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)")
_FIRST_MARK = ("INSERT INTO sale_marks SELECT ?1, ?2, ?3, ?4 "
               "WHERE NOT EXISTS (SELECT 1 FROM sale_marks WHERE origin_inc = ?1 AND origin_epoch = ?2)")
MARK_EVERY = 256  # a sale change whose seq is 1 modulo this has its position in sale_marks


def sales_logged(conn: sqlite3.Connection, origins: list[tuple[int, int, int, int]]) -> None:
    """Sales rows just inserted, each (local_pos, inc, epoch, seq) in the order inserted: the vector takes their highest
    seq per (inc, epoch), and sale_marks each one whose seq is 1 modulo MARK_EVERY, and the first of an (inc, epoch)
    that has no mark yet."""
    last: dict[tuple[int, int], int] = {}
    first: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    marks = []
    for pos, inc, epoch, seq in origins:
        key = (inc, epoch)
        if key not in first:
            first[key] = (inc, epoch, seq, pos)
        if seq > last.get(key, 0):
            last[key] = seq
        if seq % MARK_EVERY == 1:
            marks.append((inc, epoch, seq, pos))
    conn.executemany(_VECTOR_UPSERT, [(inc, epoch, seq) for (inc, epoch), seq in last.items()])
    conn.executemany(_FIRST_MARK, first.values())
    conn.executemany("INSERT OR IGNORE INTO sale_marks VALUES (?, ?, ?, ?)", marks)


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
