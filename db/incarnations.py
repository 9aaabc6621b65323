"""Incarnations: who wrote a change, kept once per origin (models.changes).

Each time a node opens its database it draws a new random incarnation id, so a node whose file is new, wiped or
restored from a backup never stamps a change with an id the others already hold. Change rows refer to their
incarnation by a small local integer (the row id here): the 16 hex digits are stored once, not per change.
"""

import sqlite3
from dataclasses import dataclass

from models.changes import Origin, new_incarnation


@dataclass(frozen=True)
class Incarnation:
    key: int  # the local row id, what changes.origin_inc holds
    node: int
    text: str  # the cluster-wide id, what the wire carries


def begin_incarnation(conn: sqlite3.Connection, node_id: int) -> Incarnation:
    """Draw and store this node's incarnation for this run (inside a transaction of the caller's)."""
    text = new_incarnation()
    key = conn.execute("INSERT INTO incarnations (node, incarnation) VALUES (?, ?)", (node_id, text)).lastrowid
    return Incarnation(key, node_id, text)


def incarnation_key(conn: sqlite3.Connection, node: int, text: str, known: dict[tuple[int, str], int]) -> int:
    """The local key of (node, text), added when new; `known` is the caller's cache (node, text) -> key."""
    key = known.get((node, text))
    if key is None:
        row = conn.execute("SELECT id FROM incarnations WHERE node = ? AND incarnation = ?", (node, text)).fetchone()
        key = row[0] if row else conn.execute("INSERT INTO incarnations (node, incarnation) VALUES (?, ?)", (node, text)).lastrowid
        known[(node, text)] = key
    return key


def incarnations_by_key(conn: sqlite3.Connection) -> dict[int, tuple[int, str]]:
    """Every incarnation this file knows: key -> (node, text). A handful of rows per node."""
    return {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, node, incarnation FROM incarnations")}


_CHANGE_ORIGIN = ("SELECT i.node, c.origin_epoch, c.origin_seq, i.incarnation FROM changes c "
                  "JOIN incarnations i ON i.id = c.origin_inc WHERE c.kind = ? AND c.entity_id = ?")


def first_change(conn: sqlite3.Connection, kind: str, entity_id: str) -> Origin | None:
    """The origin of this node's first change of an entity (users and voids have an index for it: db.schema)."""
    row = conn.execute(f"{_CHANGE_ORIGIN} ORDER BY c.local_pos LIMIT 1", (kind, entity_id)).fetchone()
    return Origin(*row) if row else None


def labelled_change(conn: sqlite3.Connection, kind: str, entity_id: str, label: Origin) -> Origin | None:
    """The change of an entity whose (node, epoch, seq) is `label` (a sale keeps that of its content), or None."""
    row = conn.execute(f"{_CHANGE_ORIGIN} AND c.origin_inc IN (SELECT id FROM incarnations WHERE node = ?) "
                       "AND c.origin_epoch = ? AND c.origin_seq = ? LIMIT 1",
                       (kind, entity_id, label.node, label.epoch, label.seq)).fetchone()
    return Origin(*row) if row else None
