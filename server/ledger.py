"""The one write path: every write runs in the database's group commit, stamped with this node's
epoch, and its answer waits until it is replicated as the cluster's rules ask.

Controllers hand the ledger a function write(conn, stamp) -> result and get (result, replicas):
there is no other way to write, so no write can forget to wait for its replicas. The epoch comes
from the cluster role at submission (the database writer never asks the election); a write
submitted by a node that is not the coordinator is refused before it touches the database.

tracking(call) runs one request's handler and tells which change-log position its last commit reached (on the
request's own thread): the dispatcher adds it to the answer as `position`, for read-your-writes from followers.

StorageProbe is the smallest real write (a row of node_state, never replicated) read back: the storage
watch (server/storage_watch.py) runs it to learn whether this node can still write.
"""

import itertools
import sqlite3
import threading
from typing import Any, Callable, Protocol

from db.changes import Stamp
from db.database import Database, DatabaseUnavailable
from models.changes import Origin

PROBE_KEY = "storage_probe"

Write = Callable[[sqlite3.Connection, Stamp], Any]


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
        if self.position is not None:
            self._calls.position = self.position()  # it holds this write (the change log learns of it before write returns)
        replicas = self.role.await_replicated(epoch, stamp.origins) if stamp.origins else 1
        return result, replicas

    def tracking(self, call: Callable[[], Any]) -> tuple[Any, int | None]:
        """(call()'s result, the position after the last commit it made, or None when it made none)."""
        self._calls.position = None
        result = call()
        return result, self._calls.position

    def commit_unawaited(self, write: Write) -> Any:
        """Run a write that nobody is waiting to see acknowledged (the demo data at take-over); replicated like any other."""
        stamp = Stamp(self.db.incarnation, self.role.write_epoch())
        return self.db.write(lambda conn: write(conn, stamp))



class StorageProbe:
    def __init__(self, database: Database):
        self.db = database
        self._values = itertools.count(1)

    def __call__(self, timeout_s: float) -> None:
        """Write a new value durably and read it back; DatabaseUnavailable (or sqlite3.Error) when storage fails."""
        value = next(self._values)
        self.db.write(lambda conn: conn.execute("INSERT INTO node_state (key, value) VALUES (?, ?) "
                                                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (PROBE_KEY, value)),
                      timeout=timeout_s)
        row = self.db.read(lambda conn: conn.execute("SELECT value FROM node_state WHERE key = ?", (PROBE_KEY,)).fetchone())
        if row is None or row[0] != value:
            raise DatabaseUnavailable("the storage probe read back another value")
