"""The serving side of peer.snapshot: consistent copies of this node's database, served in chunks to a node that has
no database file (replication/snapshot_join.py is the other side; messages in replication/snapshot_messages.py).

- begin: only the serving coordinator starts a copy (any other node refuses at once, with its position: see
  server/cluster.py); one whose change log is empty answers `empty` (nothing to copy: a new cluster). A peer has at most one copy
  here: its new begin drops its previous one. The copy is made on a thread of its own (db/snapshot_file.make_copy:
  the writer is not blocked), so begin answers `preparing` at once; `status` then answers `ready`, with size and sha256.
- read: up to SNAPSHOT_CHUNK_BYTES at an offset, with the chunk's sha256. A node that holds the copy serves it even
  after it stopped coordinating: a copy is consistent whoever made it, and the joiner catches up from the log after.
- A copy is removed when its peer says `done`, when it failed, when nobody asked for it for SNAPSHOT_IDLE_S, and when
  the node stops; copies left by an earlier run (kill -9) are removed at start.
"""

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from db.snapshot_file import COPY_INFIX, leftovers, make_copy, remove
from models.errors import ValidationError
from replication.snapshot_messages import BEGIN, DONE, EMPTY, FAILED, PREPARING, READ, READY, SnapshotChunk, SnapshotInfo, SnapshotRequest
from runtime.events import event
from wire.errors import NOT_FOUND, app_error

log = logging.getLogger("onsell.snapshot")

SWEEPS_PER_IDLE = 4  # how often, per SNAPSHOT_IDLE_S, idle copies are looked for


@dataclass
class _Copy:
    id: str
    peer: int
    path: Path
    last_used_s: float
    state: str = PREPARING
    size: int = 0
    sha256: str = ""
    position: int = 0
    reason: str = ""
    sent: int = 0  # the furthest byte served

    def info(self, chunk: int) -> SnapshotInfo:
        return SnapshotInfo(self.id, self.state, self.size, self.sha256, self.position, self.reason, chunk)


class SnapshotSource:
    def __init__(self, database_path: Path, position: Callable[[], int], require_coordinator: Callable[[], None], chunk_bytes: int,
                 idle_s: float, clock, new_id: Callable[[], str]):
        """require_coordinator() raises (not_coordinator, unavailable) unless this node serves as coordinator."""
        self.database_path = database_path
        self.position = position
        self.require_coordinator = require_coordinator
        self.chunk_bytes = chunk_bytes
        self.idle_s = idle_s
        self.clock = clock
        self.new_id = new_id
        self._copies: dict[str, _Copy] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="snapshot-sweeper", daemon=True)

    def start(self) -> None:
        for path in leftovers(self.database_path, COPY_INFIX):
            remove(path)
            log.info("%s", event("snapshot_removed", "removed a copy left by an earlier run", file=path.name).line())
        self._sweeper.start()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            copies, self._copies = list(self._copies.values()), {}
        for copy in copies:
            remove(copy.path)

    def handle(self, sender: int, body) -> dict:
        """peer.snapshot."""
        try:
            request = SnapshotRequest.from_json(body)
        except ValueError as exc:
            raise ValidationError("body", str(exc)) from None
        if request.op == BEGIN:
            return self._begin(sender).to_json()
        with self._lock:
            copy = self._copies.get(request.id)
            if copy is None or copy.peer != sender:
                raise app_error(NOT_FOUND, "No such snapshot here", reason="unknown_snapshot")
            copy.last_used_s = self.clock.monotonic_s()
            if request.op == DONE:
                del self._copies[copy.id]
        if request.op == DONE:
            remove(copy.path)
            log.info("%s", event("snapshot_served", f"node {sender} is done with snapshot {copy.id}", peer=sender, id=copy.id,
                                 bytes=copy.size).line())
            return {"removed": True}
        if request.op == READ:
            return self._read(copy, request.offset).to_json()
        return copy.info(self.chunk_bytes).to_json()

    def status(self) -> list[dict]:
        """For cluster.status: the copies held here for peers."""
        with self._lock:
            return [{"peer": c.peer, "id": c.id, "state": c.state, "size": c.size, "sent": c.sent} for c in self._copies.values()]

    def _begin(self, sender: int) -> SnapshotInfo:
        self.require_coordinator()
        position = self.position()
        if position == 0:
            return SnapshotInfo(None, EMPTY)
        copy_id = self.new_id()
        copy = _Copy(copy_id, sender, self.database_path.with_name(self.database_path.name + COPY_INFIX + copy_id),
                     self.clock.monotonic_s(), position=position)
        with self._lock:
            if self._stopped.is_set():
                raise app_error(NOT_FOUND, "This node is stopping", reason="unknown_snapshot")
            previous = [c for c in self._copies.values() if c.peer == sender]
            for old in previous:
                del self._copies[old.id]
            self._copies[copy_id] = copy
        for old in previous:
            remove(old.path)
        log.info("%s", event("snapshot_preparing", f"making a snapshot for node {sender}", peer=sender, id=copy_id,
                             position=position).line())
        threading.Thread(target=self._make, args=(copy,), name=f"snapshot-{sender}", daemon=True).start()
        return copy.info(self.chunk_bytes)

    def _make(self, copy: _Copy) -> None:
        started = self.clock.monotonic_s()
        try:
            size, sha256 = make_copy(self.database_path, copy.path)
        except Exception as exc:  # a full disk, the node stopping: the peer is told and begins again
            with self._lock:
                copy.state, copy.reason = FAILED, f"{exc.__class__.__name__}: {exc}"
                copy.last_used_s = self.clock.monotonic_s()
            remove(copy.path)
            log.warning("%s", event("snapshot_failed", f"could not make the snapshot for node {copy.peer}: {exc}", peer=copy.peer,
                                    id=copy.id).line())
            return
        with self._lock:
            copy.state, copy.size, copy.sha256 = READY, size, sha256
            copy.last_used_s = self.clock.monotonic_s()
            dropped = self._copies.get(copy.id) is not copy
        if dropped:  # done, replaced or stopped while being made
            remove(copy.path)
            return
        log.info("%s", event("snapshot_ready", f"snapshot for node {copy.peer} ready: {size} bytes", peer=copy.peer, id=copy.id,
                             bytes=size, ms=round((self.clock.monotonic_s() - started) * 1000)).line())

    def _read(self, copy: _Copy, offset: int) -> SnapshotChunk:
        if copy.state != READY:
            raise app_error(NOT_FOUND, f"The snapshot is {copy.state}", reason="snapshot_not_ready")
        if offset > copy.size:
            raise ValidationError("offset", f"is past the end of the snapshot ({copy.size} bytes)")
        try:
            with open(copy.path, "rb") as f:
                f.seek(offset)
                data = f.read(self.chunk_bytes)
        except FileNotFoundError:  # removed meanwhile (done, idle, stopping)
            raise app_error(NOT_FOUND, "No such snapshot here", reason="unknown_snapshot") from None
        with self._lock:
            copy.sent = max(copy.sent, offset + len(data))
        return SnapshotChunk(copy.id, offset, data, hashlib.sha256(data).hexdigest())

    def _sweep_loop(self) -> None:
        while not self._stopped.wait(self.idle_s / SWEEPS_PER_IDLE):
            now = self.clock.monotonic_s()
            with self._lock:
                idle = [c for c in self._copies.values() if c.state != PREPARING and now - c.last_used_s > self.idle_s]
                for copy in idle:
                    del self._copies[copy.id]
            for copy in idle:
                remove(copy.path)
                log.info("%s", event("snapshot_removed", f"removed the unused snapshot for node {copy.peer}", peer=copy.peer,
                                     id=copy.id).line())
