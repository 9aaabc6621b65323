"""The change log: what replication ships.

Every write logs one change per created entity (db.change_rows says where a change is kept), with an origin
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

from db.change_rows import Logged, insert_change, last_position, last_seq
from db.incarnations import Incarnation, incarnations_by_key
from db.kinds import KINDS
from db.sales import ship_sales_at
from models.changes import Origin, Vector, covers, position


@dataclass
class Stamp:
    """The origin of this node's writes, handed to each write by whoever submits it (the ledger).

    log() appends a local change as (node, incarnation, epoch, next seq); touch() notes a change the write
    found already stored (a retried sale). `origins` is what the write's answer must wait for."""

    incarnation: Incarnation
    epoch: int
    origins: list[Origin] = field(default_factory=list)

    def log(self, conn: sqlite3.Connection, kind: str, entity_id: str) -> Origin:
        """Append a local change as a row of `changes` inside the writer's transaction and return its origin."""
        logged = self.allocate(conn, 1)[0]
        insert_change(conn, logged, kind, entity_id)
        return logged.origin

    def allocate(self, conn: sqlite3.Connection, count: int) -> list[Logged]:
        """Places for `count` new local changes, which the caller stores (db.sales) before anything else is logged."""
        run = self.allocate_run(conn, count)
        return [Logged(run.pos + i, run.inc, Origin(run.node, run.epoch, run.seq + i, run.text)) for i in range(count)]

    def allocate_run(self, conn: sqlite3.Connection, count: int) -> "Run":
        """Like allocate, as one run: positions pos.., sequence numbers seq.. of this node's origin."""
        inc = self.incarnation
        run = Run(last_position(conn) + 1, inc.key, inc.node, inc.text, self.epoch, last_seq(conn, inc.key, self.epoch) + 1)
        # A holder of a change holds every earlier change of its origin (a gapless prefix): the run's last is enough.
        self.origins.append(Origin(inc.node, self.epoch, run.seq + count - 1, inc.text))
        return run

    def touch(self, origin: Origin) -> None:
        """The write found this change already stored: its answer waits for it too."""
        self.origins.append(origin)


@dataclass(frozen=True)
class Run:
    """Consecutive local changes of this node: local positions from `pos`, sequence numbers from `seq`."""

    pos: int
    inc: int
    node: int
    text: str
    epoch: int
    seq: int


def load_vector(conn: sqlite3.Connection) -> tuple[Vector, int]:
    """The vector of what this file holds (its `vector` table), and its last local position."""
    names = incarnations_by_key(conn)
    rows = conn.execute("SELECT origin_inc, origin_epoch, last_seq FROM vector").fetchall()
    return {(*names[r[0]], r[1]): r[2] for r in rows}, last_position(conn)


# The changes after a local position, from both tables, in local order: (pos, inc, epoch, seq, kind, entity, in_sales).
_AFTER = """SELECT local_pos, origin_inc, origin_epoch, origin_seq, 'sale', sale_id, 1 FROM sales WHERE local_pos > ?1
            UNION ALL
            SELECT local_pos, origin_inc, origin_epoch, origin_seq, kind, entity_id, 0 FROM changes WHERE local_pos > ?1
            ORDER BY 1 LIMIT ?2"""


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
        rows = conn.execute("SELECT origin_inc, origin_epoch, MAX(origin_seq), MAX(local_pos) FROM ("
                            "SELECT origin_inc, origin_epoch, origin_seq, local_pos FROM sales WHERE local_pos > ?1 UNION ALL "
                            "SELECT origin_inc, origin_epoch, origin_seq, local_pos FROM changes WHERE local_pos > ?1"
                            ") GROUP BY 1, 2", (self._last_pos,)).fetchall()
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
        rows = conn.execute(_AFTER, (cursor, limit * 2)).fetchall()
        if not rows:
            break
        for pos, inc, epoch, seq, kind, entity, in_sales in rows:
            cursor = pos
            node, text = names[inc]
            if seq > theirs.get((node, text, epoch), 0):
                picked.append((pos, Origin(node, epoch, seq, text), kind, entity, in_sales))
                if len(picked) == limit:
                    break
    more = conn.execute("SELECT EXISTS (SELECT 1 FROM changes WHERE local_pos > ?1) OR EXISTS (SELECT 1 FROM sales WHERE local_pos > ?1)",
                        (cursor,)).fetchone()[0] == 1
    return _with_data(conn, picked), more


def _first_missing_pos(conn: sqlite3.Connection, mine: Vector, theirs: Vector, keys: dict[tuple[int, str], int]) -> int | None:
    """A local position at or before the earliest change the holder of `theirs` lacks, or None when it lacks none.

    Within one origin, positions grow with sequence numbers. `changes` is indexed by origin; sales have a mark every
    256 changes of an origin and at its first (db.schema), so the answer may be up to 255 of that origin's sales early."""
    positions = []
    for (node, text, epoch), seq in mine.items():
        held = theirs.get((node, text, epoch), 0)
        if seq <= held or (node, text) not in keys:
            continue
        inc = keys[(node, text)]
        found = [conn.execute("SELECT local_pos FROM changes WHERE origin_inc = ? AND origin_epoch = ? AND origin_seq > ? "
                              "ORDER BY origin_seq LIMIT 1", (inc, epoch, held)).fetchone(),
                 conn.execute("SELECT local_pos FROM sale_marks WHERE origin_inc = ? AND origin_epoch = ? AND origin_seq <= ? "
                              "ORDER BY origin_seq DESC LIMIT 1", (inc, epoch, held + 1)).fetchone()
                 or conn.execute("SELECT local_pos FROM sale_marks WHERE origin_inc = ? AND origin_epoch = ? "
                                 "ORDER BY origin_seq LIMIT 1", (inc, epoch)).fetchone()]
        positions += [row[0] for row in found if row]
    return min(positions) if positions else None


def _with_data(conn: sqlite3.Connection, rows: list[tuple]) -> list[dict]:
    """The wire form of these changes: each with its entity's row, read as its kind says (db.kinds); a sale kept
    as its own log entry is read by its position."""
    ids_by_kind: dict[str, list[str]] = {}
    for _, _, kind, entity_id, in_sales in rows:
        if not in_sales:
            ids_by_kind.setdefault(kind, []).append(entity_id)
    data: dict[tuple[str, str], dict] = {}
    for kind, ids in ids_by_kind.items():
        for entity in KINDS[kind].ship(conn, ids):
            data[(kind, entity["id"])] = entity
    at = ship_sales_at(conn, [pos for pos, _, _, _, in_sales in rows if in_sales])
    return [{"origin": origin.to_wire(), "kind": kind, "data": at[pos] if in_sales else data[(kind, entity_id)]}
            for pos, origin, kind, entity_id, in_sales in rows]
