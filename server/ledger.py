"""The one write path: every write runs in the database's group commit, stamped with this node's
epoch, and its answer waits until it is replicated as the cluster's rules ask.

Controllers hand the ledger a function write(conn, stamp) -> result and get (result, replicas):
there is no other way to write, so no write can forget to wait for its replicas. The epoch comes
from the cluster role at submission (the database writer never asks the election); a write
submitted by a node that is not the coordinator is refused before it touches the database.
"""

import sqlite3
from typing import Any, Callable, Protocol

from db.changes import Stamp
from db.database import Database
from models.changes import Origin

Write = Callable[[sqlite3.Connection, Stamp], Any]


class ClusterRole(Protocol):
    """What the ledger needs of this node's place in the cluster (server.cluster)."""

    def write_epoch(self) -> int:
        """The epoch this node writes in now; raises not_coordinator (an RpcError) when it may not write."""

    def await_replicated(self, epoch: int, origins: list[Origin]) -> int:
        """Block until the write may be acknowledged; the number of nodes holding it. Raises an RpcError otherwise."""


class Ledger:
    def __init__(self, node_id: int, database: Database, role: ClusterRole):
        self.node_id = node_id
        self.db = database
        self.role = role

    def commit(self, write: Write) -> tuple[Any, int]:
        """Run write(conn, stamp) durably and wait for its replicas: (its result, nodes holding it)."""
        epoch = self.role.write_epoch()
        stamp = Stamp(self.db.incarnation, epoch)
        result = self.db.write(lambda conn: write(conn, stamp))
        replicas = self.role.await_replicated(epoch, stamp.origins) if stamp.origins else 1
        return result, replicas

    def commit_unawaited(self, write: Write) -> Any:
        """Run a write that nobody is waiting to see acknowledged (the demo data at take-over); replicated like any other."""
        stamp = Stamp(self.db.incarnation, self.role.write_epoch())
        return self.db.write(lambda conn: write(conn, stamp))

