"""The change log: what replication ships.

Every write appends one row per created entity to `changes`, with an origin
(node, epoch, seq) (see models.changes). A node applies each origin's changes
in sequence order with no gaps, so what it holds is summed up by a vector
{(node, epoch): last seq}. "What does a peer lack" is then "every change
beyond its vector", read here in this node's local order (parents before
children: a user before that user's sales), each change with its row as
db.kinds reads it for shipping.

The epoch a write is stamped with is handed in (Stamp), by the ledger that
submits the write: nothing here asks the election.
"""

import sqlite3
import threading
from dataclasses import dataclass, field

from db.kinds import KINDS
from db.where_in import rows_where_in
from models.changes import Origin, Vector, covers, position

_INSERT_CHANGE = "INSERT INTO changes (origin_node, origin_epoch, origin_seq, kind, entity_id) VALUES (?, ?, ?, ?, ?)"


@dataclass
class Stamp:
    """The origin of this node's writes, handed to each write by whoever submits it (the ledger).

    log() appends a local change as (node_id, epoch, next seq); touch() notes a change the write
    found already stored (a retried sale). `origins` is what the write's answer must wait for."""

    node_id: int
    epoch: int
    origins: list[Origin] = field(default_factory=list)

    def log(self, conn: sqlite3.Connection, kind: str, entity_id: str) -> Origin:
        """Append a local change inside the writer's transaction and return its origin."""
        seq = conn.execute("SELECT COALESCE(MAX(origin_seq), 0) + 1 FROM changes WHERE origin_node = ? AND origin_epoch = ?",
                           (self.node_id, self.epoch)).fetchone()[0]
        origin = Origin(self.node_id, self.epoch, seq)
        insert_changes(conn, kind, [(origin, entity_id)])
        self.origins.append(origin)
        return origin

    def touch(self, origin: Origin) -> None:
        """The write found this change already stored: its answer waits for it too."""
        self.origins.append(origin)


def load_vector(conn: sqlite3.Connection) -> tuple[Vector, int]:
    """The vector of what this file holds, and its last local position."""
    rows = conn.execute("SELECT origin_node, origin_epoch, MAX(origin_seq) FROM changes GROUP BY 1, 2").fetchall()
    last = conn.execute("SELECT COALESCE(MAX(local_pos), 0) FROM changes").fetchone()[0]
    return {(r[0], r[1]): r[2] for r in rows}, last


class ChangeLog:
    """The committed vector, kept up to date after each commit; waiters are woken by news."""

    def __init__(self):
        self._vector: Vector = {}
        self._last_pos = 0
        self._changed = threading.Condition()

    def load(self, conn: sqlite3.Connection) -> None:
        with self._changed:
            self._vector, self._last_pos = load_vector(conn)

    def on_commit(self, conn: sqlite3.Connection) -> None:
        """Called by the writer after each COMMIT: take in the new changes and wake waiters."""
        rows = conn.execute("SELECT origin_node, origin_epoch, MAX(origin_seq), MAX(local_pos) FROM changes "
                            "WHERE local_pos > ? GROUP BY 1, 2", (self._last_pos,)).fetchall()
        if not rows:
            return
        with self._changed:
            for node, epoch, seq, pos in rows:
                self._vector[(node, epoch)] = max(seq, self._vector.get((node, epoch), 0))
                self._last_pos = max(self._last_pos, pos)
            self._changed.notify_all()

    def vector(self) -> Vector:
        with self._changed:
            return dict(self._vector)

    def position(self) -> int:
        """How many changes this node holds: one number to compare nodes by."""
        with self._changed:
            return position(self._vector)

    def holds(self, origin: Origin) -> bool:
        with self._changed:
            return covers(self._vector, origin)

    def wait_for_news(self, last_seen_pos: int, timeout_s: float) -> int:
        """Block until a commit beyond last_seen_pos or the timeout; the current last position."""
        with self._changed:
            self._changed.wait_for(lambda: self._last_pos > last_seen_pos, timeout_s)
            return self._last_pos

    @property
    def last_pos(self) -> int:
        with self._changed:
            return self._last_pos


def insert_changes(conn: sqlite3.Connection, kind: str, changes: list[tuple[Origin, str]]) -> None:
    """Append changes of one kind, given as (origin, entity id), in this local order."""
    conn.executemany(_INSERT_CHANGE, [(origin.node, origin.epoch, origin.seq, kind, entity_id) for origin, entity_id in changes])


def read_after(conn: sqlite3.Connection, mine: Vector, theirs: Vector, limit: int) -> tuple[list[dict], bool]:
    """Up to `limit` changes (with their data) that a holder of `theirs` lacks, in local order; and whether more remain.

    `mine` is this node's vector (ChangeLog.vector()): it says where to start looking."""
    start = _first_missing_pos(conn, mine, theirs)
    if start is None:
        return [], False
    picked: list[tuple] = []
    cursor = start - 1
    while len(picked) < limit:
        rows = conn.execute("SELECT local_pos, origin_node, origin_epoch, origin_seq, kind, entity_id FROM changes "
                            "WHERE local_pos > ? ORDER BY local_pos LIMIT ?", (cursor, limit * 2)).fetchall()
        if not rows:
            break
        for row in rows:
            cursor = row[0]
            if row[3] > theirs.get((row[1], row[2]), 0):
                picked.append(row)
                if len(picked) == limit:
                    break
    more = conn.execute("SELECT 1 FROM changes WHERE local_pos > ? LIMIT 1", (cursor,)).fetchone() is not None
    return _with_data(conn, picked), more


def _first_missing_pos(conn: sqlite3.Connection, mine: Vector, theirs: Vector) -> int | None:
    """The local position of the earliest change the holder of `theirs` lacks, or None."""
    positions = []
    for (node, epoch), seq in mine.items():
        if seq > theirs.get((node, epoch), 0):
            row = conn.execute("SELECT local_pos FROM changes WHERE origin_node = ? AND origin_epoch = ? AND origin_seq = ?",
                               (node, epoch, theirs.get((node, epoch), 0) + 1)).fetchone()
            if row:
                positions.append(row[0])
    return min(positions) if positions else None


def _with_data(conn: sqlite3.Connection, rows: list[tuple]) -> list[dict]:
    """The wire form of these change rows: each with its entity's row, read as its kind says (db.kinds)."""
    ids_by_kind: dict[str, list[str]] = {}
    for row in rows:
        ids_by_kind.setdefault(row[4], []).append(row[5])
    data: dict[tuple[str, str], dict] = {}
    for kind, ids in ids_by_kind.items():
        for entity in rows_where_in(conn, KINDS[kind].ship_sql, ids):
            data[(kind, entity["id"])] = dict(entity)
    return [{"origin": [r[1], r[2], r[3]], "kind": r[4], "data": data[(r[4], r[5])]} for r in rows]
