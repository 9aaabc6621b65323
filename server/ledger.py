"""The one write path: every write runs in the database's group commit, stamped with this node's
epoch, and its answer waits until it is replicated as the cluster's rules ask.

Controllers hand the ledger a function write(conn, stamp) -> result and get (result, replicas):
there is no other way to write, so no write can forget to wait for its replicas. The epoch comes
from the cluster role at submission (the database writer never asks the election); a write
submitted by a node that is not the coordinator is refused before it touches the database.

tracking(call) runs one request's handler and tells which change-log position its last commit reached (on the
request's own thread): the dispatcher adds it to the answer as `position`, for read-your-writes from followers.

WriteGroup commits the writes of one kind that concurrent requests make (sales.record, sales.import) as ONE write of the group
commit: the first request of a group submits it, and requests that arrive before the writer starts it join it, so
a burst of sales is stored by one call (one run of positions, one set of totals' upserts) instead of one each.

StorageProbe is the smallest real write (a row of node_state, never replicated) read back: the storage
watch (server/storage_watch.py) runs it to learn whether this node can still write. A commit that changed a row since
the last probe is proof enough, so a long write ahead of the probe's in the queue is not taken for a hung disk.
"""

import itertools
import sqlite3
import threading
from typing import Any, Callable, Generic, Protocol, TypeVar

from db.changes import Stamp
from db.database import GATHER_MAX_S, WRITE_TIMEOUT_S, Database, DatabaseUnavailable
from models.changes import Origin
from runtime.clock import SystemClock

PROBE_KEY = "storage_probe"

Write = Callable[[sqlite3.Connection, Stamp], Any]
Item = TypeVar("Item")
Outcome = tuple[bool, Any]  # (True, a result) or (False, the exception its caller raises)
GROUP_WAIT_MARGIN_S = 5.0  # a request that joined a group waits this much longer than its leader's write may take
# How long a request of a durable group waits for the leader's answer on its replicas: far beyond any wait for them
# (REPLICATION_TIMEOUT_MS, twice when a stall moved its deadline); the leader always answers, this only bounds a bug.
GROUP_REPLICAS_WAIT_S = 300.0


class ClusterRole(Protocol):
    """What the ledger needs of this node's place in the cluster (server.cluster)."""

    def write_epoch(self) -> int:
        """The epoch this node writes in now; raises not_coordinator (an RpcError) when it may not write."""

    def await_replicated(self, epoch: int, origins: list[Origin]) -> int:
        """Block until the write may be acknowledged; the number of nodes holding it. Raises an RpcError otherwise."""


class Ledger:
    def __init__(self, node_id: int, database: Database, role: ClusterRole, position: Callable[[], int] | None = None):
        """position: the change log's position (db.changes.ChangeLog.position), read right after each commit; None: untracked."""
        self.node_id = node_id
        self.db = database
        self.role = role
        self.position = position
        self._calls = threading.local()  # .position: the position after the last commit of the call on this thread

    def commit(self, write: Write) -> tuple[Any, int]:
        """Run write(conn, stamp) durably and wait for its replicas: (its result, nodes holding it)."""
        epoch = self.role.write_epoch()
        stamp = Stamp(self.db.incarnation, epoch)
        result = self.db.write(lambda conn: write(conn, stamp))
        return result, self.committed(stamp)

    def committed(self, stamp: Stamp) -> int:
        """After a write stamped `stamp` is durable: note the position for this thread's call, wait for its replicas."""
        self.note_position()
        return self.replicas(stamp)

    def note_position(self) -> None:
        """This thread's call holds a write just made durable: the position it reached (the change log learns of it
        before the write returns)."""
        if self.position is not None:
            self._calls.position = self.position()

    def replicas(self, stamp: Stamp) -> int:
        """Wait until the changes of a durable write stamped `stamp` may be acknowledged: the nodes holding them."""
        return self.role.await_replicated(stamp.epoch, stamp.origins) if stamp.origins else 1

    def tracking(self, call: Callable[[], Any]) -> tuple[Any, int | None]:
        """(call()'s result, the position after the last commit it made, or None when it made none)."""
        self._calls.position = None
        result = call()
        return result, self._calls.position

    def commit_unawaited(self, write: Write) -> Any:
        """Run a write that nobody is waiting to see acknowledged (the demo data at take-over); replicated like any other."""
        stamp = Stamp(self.db.incarnation, self.role.write_epoch())
        return self.db.write(lambda conn: write(conn, stamp))


class _Gathered:
    """One group's items in arrival order, and once written its outcomes (or the error that sank them all)."""

    __slots__ = ("items", "callers", "outcomes", "error", "written", "replicas", "refusal", "done")

    def __init__(self):
        self.items: list = []
        self.callers: set[int] = set()  # the threads (connections) whose items these are
        self.outcomes: list[Outcome] | None = None
        self.error: BaseException | None = None  # the write failed: every item fails with it
        self.written = threading.Event()  # outcomes or error set
        self.replicas = 1  # once done: the nodes holding the group's changes (its leader waited for them once for all)
        self.refusal: BaseException | None = None  # once done: why they may not be acknowledged
        self.done = threading.Event()


class WriteGroup(Generic[Item]):
    """Writes of one kind from concurrent requests, committed together: write_all(conn, stamp, items) runs once for
    every item gathered until the writer starts it and gives each item's outcome, in order. Each caller's answer
    waits for the group's replicas (its changes are shipped together): its leader waits for them once for all.

    Callers answered by the last two groups usually come straight back with their next item: the writer, once it
    starts a group, waits for them to join it (at most GATHER_MAX_S, never longer than the last group's write took),
    so that they share its fsync instead of splitting into groups that take turns; a lone caller never waits."""

    def __init__(self, ledger: Ledger, write_all: Callable[[sqlite3.Connection, Stamp, list[Item]], list[Outcome]], clock=None):
        self.ledger = ledger
        self.write_all = write_all
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._joined = threading.Condition(self._lock)  # an item joined the open group while the writer waits for it
        self._open: _Gathered | None = None  # the group new items join, until the writer starts it
        self._expected = 0  # while the writer waits: how many callers the open group should hold
        self._recent: tuple[set[int], set[int]] = (set(), set())  # the callers of the last two groups
        self._last_write_s = 0.0  # how long the last group took from its start in the writer until durable

    def commit(self, item: Item) -> tuple[Any, int]:
        """Write `item` durably with the others of its group and wait for the replicas: (its result, nodes holding it)."""
        epoch = self.ledger.role.write_epoch()  # not_coordinator before anything, as for any write
        with self._lock:
            group = self._open
            leading = group is None
            if leading:
                group = self._open = _Gathered()
            index = len(group.items)
            group.items.append(item)
            group.callers.add(threading.get_ident())
            if len(group.callers) == self._expected and not leading:
                self._joined.notify()
        if leading:
            self._write(group, epoch)
        elif not group.written.wait(WRITE_TIMEOUT_S + GROUP_WAIT_MARGIN_S):
            raise DatabaseUnavailable("the write did not complete in time")
        if group.error is not None:
            raise group.error
        ok, value = group.outcomes[index]
        if not ok:
            raise value
        self.ledger.note_position()
        if not group.done.wait(GROUP_REPLICAS_WAIT_S):
            raise DatabaseUnavailable("no answer on the write's replicas in time")
        if group.refusal is not None:
            raise group.refusal
        return value, group.replicas

    def _write(self, group: _Gathered, epoch: int) -> None:
        """The leader's part: the group's write, then (once durable) the one wait for its replicas."""
        stamp = Stamp(self.ledger.db.incarnation, epoch)
        started: list[float] = []

        def write(conn: sqlite3.Connection) -> list[Outcome]:
            started.append(self.clock.monotonic_s())
            self._gather(group, started[0])  # then closed: new items start the next group
            return self.write_all(conn, stamp, group.items)
        try:
            try:
                group.outcomes = self.ledger.db.write(write, caller=self)
                self._last_write_s = self.clock.monotonic_s() - started[0]
            except BaseException as exc:  # every item of the group fails as the write did
                self._close(group)
                group.error = exc
                return
            finally:
                group.written.set()
            group.replicas = self.ledger.replicas(stamp)
        except BaseException as exc:
            group.refusal = exc
        finally:
            group.done.set()

    def _gather(self, group: _Gathered, now_s: float) -> None:
        """On the writer's thread: wait for the recent callers to join the group, then close it."""
        deadline = now_s + min(GATHER_MAX_S, self._last_write_s)
        with self._lock:
            self._expected = len(self._recent[0] | self._recent[1])
            while len(group.callers) < self._expected:
                wait_s = deadline - self.clock.monotonic_s()
                if wait_s <= 0 or not self._joined.wait(wait_s):
                    break
            self._expected = 0
            self._recent = (group.callers, self._recent[0])
            if self._open is group:
                self._open = None

    def _close(self, group: _Gathered) -> None:
        with self._lock:
            if self._open is group:
                self._open = None


def write_alone(conn: sqlite3.Connection, stamp: Stamp, write: Callable[[], Any]) -> Outcome:
    """One item of a group written on its own, in a savepoint: a failure rolls back only this item, and the answers
    wait for none of the changes it had logged. An error of the file or the disk (an sqlite3.DatabaseError other than
    a constraint's) is the whole write's, raised after the rollback: the writer reports it (db.database) as it would
    for a write alone."""
    origins = len(stamp.origins)
    conn.execute("SAVEPOINT write_alone")
    try:
        outcome = (True, write())
        conn.execute("RELEASE write_alone")
        return outcome
    except Exception as exc:
        conn.execute("ROLLBACK TO write_alone")
        conn.execute("RELEASE write_alone")
        del stamp.origins[origins:]
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
            raise
        return False, exc


class StorageProbe:
    def __init__(self, database: Database):
        self.db = database
        self._values = itertools.count(1)
        self._commits_seen: int | None = None  # the writer's commits_written when the last probe passed

    def __call__(self, timeout_s: float) -> None:
        """Pass at once if the writer committed a changed row since the last probe passed (a group of imports can take
        longer than timeout_s to commit at ten million sales: the probe's write, queued behind it, would time out on a
        working disk; a commit of nothing but failed or idle writes writes no page, and proves nothing). Else write a
        new value durably and read it back; DatabaseUnavailable (or sqlite3.Error) when storage fails, or when a write
        ahead of the probe's does not commit in time (a hung disk)."""
        commits = self.db.commits_written
        if self._commits_seen is not None and commits != self._commits_seen:
            self._commits_seen = commits
            return
        value = next(self._values)
        self.db.write(lambda conn: conn.execute("INSERT INTO node_state (key, value) VALUES (?, ?) "
                                                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (PROBE_KEY, value)),
                      timeout=timeout_s)
        row = self.db.read(lambda conn: conn.execute("SELECT value FROM node_state WHERE key = ?", (PROBE_KEY,)).fetchone())
        if row is None or row[0] != value:
            raise DatabaseUnavailable("the storage probe read back another value")
        self._commits_seen = self.db.commits_written
