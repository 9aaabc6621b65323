"""The change log: what replication ships.

Every write appends one row per created entity to `changes`, with an origin
(node, incarnation, epoch, seq) (see models.changes; the incarnation is kept
once in its own table, db.incarnations). A node applies each origin's changes
in sequence order with no gaps, so what it holds is summed up by a vector
{(node, incarnation, epoch): last seq}. "What does a peer lack" is then "every
change beyond its vector", read here in this node's local order (parents before
children: a user before that user's sales), each change with its row as
db.kinds reads it for shipping.

The epoch a write is stamped with is handed in (Stamp), by the ledger that
submits the write: nothing here asks the election.
"""

import sqlite3
import threading
from dataclasses import dataclass, field

from db.incarnations import Incarnation, incarnations_by_key
from db.kinds import KINDS
from db.where_in import rows_where_in
from models.changes import Origin, Vector, covers, position

_INSERT_CHANGE = "INSERT INTO changes (origin_inc, origin_epoch, origin_seq, kind, entity_id) VALUES (?, ?, ?, ?, ?)"


@dataclass
class Stamp:
    """The origin of this node's writes, handed to each write by whoever submits it (the ledger).

    log() appends a local change as (node, incarnation, epoch, next seq); touch() notes a change the write
    found already stored (a retried sale). `origins` is what the write's answer must wait for."""

    incarnation: Incarnation
    epoch: int
    origins: list[Origin] = field(default_factory=list)

    def log(self, conn: sqlite3.Connection, kind: str, entity_id: str) -> Origin:
        """Append a local change inside the writer's transaction and return its origin."""
        inc = self.incarnation
        seq = conn.execute("SELECT COALESCE(MAX(origin_seq), 0) + 1 FROM changes WHERE origin_inc = ? AND origin_epoch = ?",
                           (inc.key, self.epoch)).fetchone()[0]
        origin = Origin(inc.node, self.epoch, seq, inc.text)
        insert_change(conn, inc.key, origin, kind, entity_id)
        self.origins.append(origin)
        return origin

    def touch(self, origin: Origin) -> None:
        """The write found this change already stored: its answer waits for it too."""
        self.origins.append(origin)


def load_vector(conn: sqlite3.Connection) -> tuple[Vector, int]:
    """The vector of what this file holds, and its last local position."""
    names = incarnations_by_key(conn)
    rows = conn.execute("SELECT origin_inc, origin_epoch, MAX(origin_seq) FROM changes GROUP BY 1, 2").fetchall()
    last = conn.execute("SELECT COALESCE(MAX(local_pos), 0) FROM changes").fetchone()[0]
    return {(*names[r[0]], r[1]): r[2] for r in rows}, last


class ChangeLog:
    """The committed vector, kept up to date after each commit; waiters are woken by news."""

    def __init__(self):
        self._vector: Vector = {}
        self._last_pos = 0
        self._names: dict[int, tuple[int, str]] = {}  # incarnation key -> (node, text), read by the writer thread only
        self._changed = threading.Condition()

    def load(self, conn: sqlite3.Connection) -> None:
        with self._changed:
            self._vector, self._last_pos = load_vector(conn)

    def on_commit(self, conn: sqlite3.Connection) -> None:
        """Called by the writer after each COMMIT: take in the new changes and wake waiters."""
        rows = conn.execute("SELECT origin_inc, origin_epoch, MAX(origin_seq), MAX(local_pos) FROM changes "
                            "WHERE local_pos > ? GROUP BY 1, 2", (self._last_pos,)).fetchall()
        if not rows:
            return
        if any(r[0] not in self._names for r in rows):
            self._names = incarnations_by_key(conn)
        with self._changed:
            for inc, epoch, seq, pos in rows:
                key = (*self._names[inc], epoch)
                self._vector[key] = max(seq, self._vector.get(key, 0))
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


def insert_change(conn: sqlite3.Connection, incarnation_key: int, origin: Origin, kind: str, entity_id: str) -> None:
    """Append a change, its incarnation given by its local key (db.incarnations)."""
    conn.execute(_INSERT_CHANGE, (incarnation_key, origin.epoch, origin.seq, kind, entity_id))


def read_after(conn: sqlite3.Connection, mine: Vector, theirs: Vector, limit: int) -> tuple[list[dict], bool]:
    """Up to `limit` changes (with their data) that a holder of `theirs` lacks, in local order; and whether more remain.

    `mine` is this node's vector (ChangeLog.vector()): it says where to start looking."""
    names = incarnations_by_key(conn)
    start = _first_missing_pos(conn, mine, theirs, {name: key for key, name in names.items()})
    if start is None:
        return [], False
    picked: list[tuple] = []
    cursor = start - 1
    while len(picked) < limit:
        rows = conn.execute("SELECT local_pos, origin_inc, origin_epoch, origin_seq, kind, entity_id FROM changes "
                            "WHERE local_pos > ? ORDER BY local_pos LIMIT ?", (cursor, limit * 2)).fetchall()
        if not rows:
            break
        for row in rows:
            cursor = row[0]
            node, text = names[row[1]]
            if row[3] > theirs.get((node, text, row[2]), 0):
                picked.append((row[0], Origin(node, row[2], row[3], text), row[4], row[5]))
                if len(picked) == limit:
                    break
    more = conn.execute("SELECT 1 FROM changes WHERE local_pos > ? LIMIT 1", (cursor,)).fetchone() is not None
    return _with_data(conn, picked), more


def _first_missing_pos(conn: sqlite3.Connection, mine: Vector, theirs: Vector, keys: dict[tuple[int, str], int]) -> int | None:
    """The local position of the earliest change the holder of `theirs` lacks, or None."""
    positions = []
    for (node, text, epoch), seq in mine.items():
        if seq > theirs.get((node, text, epoch), 0) and (node, text) in keys:
            row = conn.execute("SELECT local_pos FROM changes WHERE origin_inc = ? AND origin_epoch = ? AND origin_seq = ?",
                               (keys[(node, text)], epoch, theirs.get((node, text, epoch), 0) + 1)).fetchone()
            if row:
                positions.append(row[0])
    return min(positions) if positions else None


def _with_data(conn: sqlite3.Connection, rows: list[tuple]) -> list[dict]:
    """The wire form of these change rows: each with its entity's row, read as its kind says (db.kinds)."""
    ids_by_kind: dict[str, list[str]] = {}
    for _, _, kind, entity_id in rows:
        ids_by_kind.setdefault(kind, []).append(entity_id)
    data: dict[tuple[str, str], dict] = {}
    for kind, ids in ids_by_kind.items():
        for entity in rows_where_in(conn, KINDS[kind].ship_sql, ids):
            data[(kind, entity["id"])] = dict(entity)
    return [{"origin": origin.to_wire(), "kind": kind, "data": data[(kind, entity_id)]} for _, origin, kind, entity_id in rows]
