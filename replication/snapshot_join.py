"""A node that starts with no database file (a new machine, a replaced disk, a damaged file set aside) first copies
the coordinator's (replication/snapshot_source.py serves it), then starts and catches up from the log as any node.

This runs before the node is built (server/__main__.py): no port is open yet, so while it has no file the node serves
nothing, answers nobody, and takes no part in elections. Then:

1. Find the coordinator: every peer is asked at once to `begin` a snapshot; one that does not coordinate (or is still
   taking over) refuses, saying its own position.
   - Every peer refuses the connection (a new cluster starting, or all down), or every peer that answers holds
     nothing (position 0), or the coordinator answers `empty`: the node starts on an empty file, as before.
   - Peers answer but none coordinates (an election, a partition): asked again every RETRY_PAUSE_S, until
     SNAPSHOT_WAIT_S pass without any progress (or FAILED_TRANSFERS_MAX transfers failed in a row); then the node
     starts on an empty file and catches up from the log.
2. Wait until the copy is `ready`, then read it chunk by chunk (READS_IN_FLIGHT at once, written in order) into
   `node-N.db.part-<peer>-<id>` beside the database (mode 0600). Each chunk is checked against its sha256: a corrupt
   chunk is refused, the part removed, the copy dropped, and the transfer begins again with a new copy. So does any
   other failure, e.g. the serving node dying mid-transfer: the next begin goes to whoever coordinates by then.
3. The whole file's sha256 is checked, the sender's node-local state cleared (db/snapshot_file.make_own), and the
   file renamed into place (db/snapshot_file.install). Only then does a database file exist.

Killed (kill -9) mid-transfer and started again, the node resumes the part it left when the serving node still holds
that copy (else removes it and begins again); nothing is in place before the rename, so nothing is lost or doubled.
"""

import itertools
import logging
import re
import secrets
import sqlite3
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from db.snapshot_file import PART_INFIX, install, leftovers, make_own, new_file, remove, sha256_of
from replication.snapshot_messages import (
    BEGIN,
    DONE,
    EMPTY,
    PREPARING,
    READ,
    READY,
    STATUS,
    SnapshotChunk,
    SnapshotInfo,
    SnapshotRequest,
)
from runtime.events import event
from wire.peer_auth import PeerAuth
from wire.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.snapshot")

METHOD = "peer.snapshot"
CALL_TIMEOUT_S = 30.0  # one call of the transfer (a chunk on a slow link); a silent peer is given up after it
CONNECT_TIMEOUT_S = 2.0  # finding the coordinator: a peer that does not answer this fast is passed over this round
RETRY_PAUSE_S = 0.5  # between two attempts to find the coordinator, or to begin again after a failed transfer
PREPARE_POLL_S = 0.2  # how often a copy being made is asked whether it is ready
PREPARE_MAX_S = 900.0  # a copy still being made after this long counts as a failed transfer (10 M sales: about a minute)
FAILED_TRANSFERS_MAX = 5  # transfers failing in a row (a disk full here, a copy corrupt there) before starting on an empty file
READS_IN_FLIGHT = 3  # chunks asked for at once, each on a link of its own: the sender encodes one while this node writes another


@dataclass(frozen=True)
class Joined:
    """What the node's file was made from: `peer`'s snapshot of `size` bytes, received in `seconds`."""

    peer: int
    size: int
    seconds: float


@dataclass(frozen=True)
class _Part:
    peer: int
    id: str
    path: Path


class _Restart(Exception):
    """The transfer failed; str() says why. The part is removed and a new copy asked for."""


class SnapshotJoin:
    def __init__(self, database_path: Path, links: dict[int, list[PeerLink]], clock, wait_s: float, stop: threading.Event):
        """links: per peer, READS_IN_FLIGHT links (the first also asks begin, status and done)."""
        self.database_path = database_path
        self.links = links
        self.clock = clock
        self.wait_s = wait_s
        self.stop = stop
        self._deadline = 0.0

    def run(self) -> Joined | None:
        """Make the database file from a snapshot: what it was made from, or None when the node is to start on an empty
        file (or was asked to stop: the caller looks at its stop event)."""
        started = self.clock.monotonic_s()
        self._progress()
        part = self._leftover()
        failed = 0
        while not self.stop.is_set():
            if part is None:
                part = self._begin()
                if part is None:
                    return None
                if part is _RETRY:
                    part = None
                    if self._out_of_time("no coordinator to copy from"):
                        return None
                    self.stop.wait(RETRY_PAUSE_S)
                    continue
            try:
                size = self._transfer(part)
            except (_Restart, PeerUnavailable, PeerRefused, ValueError, OSError, sqlite3.Error) as exc:
                log.warning("%s", event("snapshot_restarted", f"the snapshot from node {part.peer} failed ({exc})",
                                        peer=part.peer, id=part.id).line())
                self._drop(part)
                part = None
                failed += 1
                if failed >= FAILED_TRANSFERS_MAX:
                    self._deadline = 0.0
                if self._out_of_time(f"{failed} transfer(s) failed in a row"):
                    return None
                self.stop.wait(RETRY_PAUSE_S)
                continue
            if size is None:  # asked to stop: the part stays, to be resumed
                return None
            joined = Joined(part.peer, size, self.clock.monotonic_s() - started)
            log.info("%s", event("snapshot_joined", f"database made from node {part.peer}'s snapshot: {size} bytes in "
                                 f"{joined.seconds:.1f} s; catching up from the log", peer=part.peer, bytes=size,
                                 ms=round(joined.seconds * 1000)).line())
            return joined
        return None

    # -- finding the coordinator -------------------------------------------------------------------
    def _ask_begin(self, peer: int):
        """A peer's answer to begin: a SnapshotInfo, or the PeerRefused, PeerUnavailable or ValueError it came to."""
        try:
            return SnapshotInfo.from_json(self.links[peer][0].call(METHOD, SnapshotRequest(BEGIN).to_json(), CONNECT_TIMEOUT_S))
        except (PeerRefused, PeerUnavailable, ValueError) as exc:
            return exc

    def _begin(self):
        """Ask every peer at once (a node starting must not wait for them in turn); a new copy's part, None (start on an
        empty file) or _RETRY (ask again)."""
        peers = sorted(self.links, reverse=True)
        with ThreadPoolExecutor(len(peers), thread_name_prefix="snapshot-begin") as pool:
            answers = dict(zip(peers, pool.map(self._ask_begin, peers)))
        copies = [_Part(p, a.id, self._part_path(p, a.id)) for p, a in answers.items()
                  if isinstance(a, SnapshotInfo) and a.state in (PREPARING, READY)]
        for extra in copies[1:]:  # two coordinators for a moment: the highest id's copy is taken
            self._tell_done(extra)
        if copies:
            self._progress()
            log.info("%s", event("snapshot_begun", f"no database file: copying node {copies[0].peer}'s", peer=copies[0].peer,
                                 id=copies[0].id).line())
            return copies[0]
        empty = [p for p, a in answers.items() if isinstance(a, SnapshotInfo) and a.state == EMPTY]
        if empty:
            log.info("%s", event("snapshot_none", f"node {empty[0]} coordinates and holds nothing: starting on an empty file",
                                 peer=empty[0]).line())
            return None
        # A refusal says how much the peer holds; a peer that does not answer holds nothing this node could copy now.
        if all(isinstance(a, PeerUnavailable) or (isinstance(a, PeerRefused) and isinstance(a.data, dict) and a.data.get("position") == 0)
               for a in answers.values()):
            log.info("%s", event("snapshot_none", "no peer holds anything yet: starting on an empty file").line())
            return None
        return _RETRY

    def _part_path(self, peer: int, copy_id: str) -> Path:
        return self.database_path.with_name(f"{self.database_path.name}{PART_INFIX}{peer}-{copy_id}")

    def _leftover(self) -> _Part | None:
        """The part an earlier run left (kill -9), to resume; any other is removed."""
        pattern = re.compile(re.escape(self.database_path.name + PART_INFIX) + r"(\d+)-([0-9a-zA-Z]+)$")
        found = None
        for path in leftovers(self.database_path, PART_INFIX):
            match = pattern.match(path.name)
            if found is None and match and int(match.group(1)) in self.links:
                found = _Part(int(match.group(1)), match.group(2), path)
            else:
                remove(path)
        if found is not None:
            log.info("%s", event("snapshot_resuming", f"resuming the snapshot from node {found.peer} at "
                                 f"{found.path.stat().st_size} bytes", peer=found.peer, id=found.id).line())
        return found

    # -- the transfer ------------------------------------------------------------------------------
    def _call(self, part: _Part, request: SnapshotRequest):
        answer = self.links[part.peer][0].call(METHOD, request.to_json(), CALL_TIMEOUT_S)
        self._progress()
        return answer

    def _read(self, link, part: _Part, offset: int):
        answer = link.call(METHOD, SnapshotRequest(READ, part.id, offset).to_json(), CALL_TIMEOUT_S)
        self._progress()
        return answer

    def _transfer(self, part: _Part) -> int | None:
        """Receive the copy into its part and put it in place; its size, or None when asked to stop."""
        info = SnapshotInfo.from_json(self._call(part, SnapshotRequest(STATUS, part.id)))
        prepared_by = self.clock.monotonic_s() + PREPARE_MAX_S
        while info.state == PREPARING:
            if self.stop.wait(PREPARE_POLL_S):
                return None
            if self.clock.monotonic_s() > prepared_by:
                raise _Restart(f"the copy was still being made after {PREPARE_MAX_S:.0f} s")
            info = SnapshotInfo.from_json(self._call(part, SnapshotRequest(STATUS, part.id)))
        if info.state != READY:
            raise _Restart(f"the copy {info.state}: {info.reason}")
        if not part.path.exists():
            new_file(part.path)
        offset = part.path.stat().st_size
        if offset > info.size:
            raise _Restart("the part is longer than the copy")
        with open(part.path, "r+b") as f, ThreadPoolExecutor(len(self.links[part.peer]), thread_name_prefix="snapshot-read") as pool:
            f.seek(offset)
            f.truncate()
            asked = iter(range(offset, info.size, info.chunk))
            links = itertools.cycle(self.links[part.peer])
            in_flight: deque = deque()
            while True:
                while len(in_flight) < len(self.links[part.peer]) and (at := next(asked, None)) is not None:
                    in_flight.append((at, pool.submit(self._read, next(links), part, at)))
                if not in_flight:
                    break
                at, answer = in_flight.popleft()
                chunk = SnapshotChunk.from_json(answer.result())
                if chunk.id != part.id or chunk.offset != at or len(chunk.data) != min(info.chunk, info.size - at):
                    raise _Restart("an answer that is not the chunk asked for")
                if not chunk.intact:
                    log.warning("%s", event("snapshot_chunk_refused", f"a chunk at {at} does not match its checksum",
                                            peer=part.peer, offset=at).line())
                    raise _Restart(f"the chunk at {at} does not match its checksum")
                f.write(chunk.data)
                if self.stop.is_set():
                    return None
        if sha256_of(part.path) != info.sha256:
            raise _Restart("the whole file does not match its checksum")
        make_own(part.path, part.peer)
        install(part.path, self.database_path)
        self._tell_done(part)
        return info.size

    def _drop(self, part: _Part) -> None:
        remove(part.path)
        self._tell_done(part)

    def _tell_done(self, part: _Part) -> None:
        """The serving node may remove its copy (if it is not told, it does after SNAPSHOT_IDLE_S)."""
        try:
            self.links[part.peer][0].call(METHOD, SnapshotRequest(DONE, part.id).to_json(), CONNECT_TIMEOUT_S)
        except (PeerUnavailable, PeerRefused):
            pass

    def _progress(self) -> None:
        self._deadline = self.clock.monotonic_s() + self.wait_s

    def _out_of_time(self, why: str) -> bool:
        if self.clock.monotonic_s() < self._deadline:
            return False
        log.warning("%s", event("snapshot_given_up", f"no snapshot ({why}): starting on an empty file, which catches up from the "
                                "log").line())
        return True


_RETRY = _Part(0, "", Path())  # _begin: peers answer, but none coordinates yet


def join_from_snapshot(config, clock, stop: threading.Event, peer_tls=None) -> Joined | None:
    """For server/__main__.py: make config.database_path (which must not exist) from the coordinator's snapshot."""
    auth = PeerAuth(config.secret, config.node_id, set(config.cluster), lambda: secrets.token_hex(16))
    links = {n: [PeerLink(n, a, auth, CALL_TIMEOUT_S, peer_tls) for _ in range(READS_IN_FLIGHT)]
             for n, a in config.cluster.items() if n != config.node_id}
    try:
        return SnapshotJoin(config.database_path, links, clock, config.snapshot_wait_s, stop).run()
    finally:
        for link in itertools.chain(*links.values()):
            link.close()
