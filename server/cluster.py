"""What a node is in its cluster: the glue between the election, replication and the server.

SingleNode is a cluster of one: always the coordinator of epoch 1, nothing to
replicate. ClusterNode builds, in this order, the peer links, the election
runner, the replication runner (which is given the election), and registers
replication as the election's role listener; only its coordinator serves
clients, every other node answers not_coordinator naming the coordinator it
knows; report methods excepted: a follower in sync answers those too
(read_gate: lag within REPORT_MAX_LAG_MS and the asked min_position held),
with `as_of`, on FOLLOWER_REPORT_THREADS threads of its own at the lowest CPU
priority, so its replication (and, on a shared machine, the coordinator) comes
first. Its storage watch (server/storage_watch.py) keeps it out of the
coordinator's role while its storage fails. Both give the ledger the epoch to
write in and the wait for replicas, and both refuse new work with
`unavailable` once stopping.
"""

import logging
import secrets
import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any, Callable

from db.changes import ChangeLog
from db.database import Database
from db.node_state import list_merges, load_conflicts, load_epoch, load_snapshot_origin, save_epoch
from election.bully import COORDINATOR, FOLLOWER, BullyMachine, ElectionView
from election.messages import from_json, to_json
from election.runner import ElectionRunner
from models.changes import Origin, highest_epoch
from models.cluster import format_address
from models.errors import ValidationError
from replication.anti_entropy_runner import AntiEntropyRunner
from replication.runner import NotAcknowledged, ReplicationRunner
from replication.snapshot_source import SnapshotSource
from replication.state import IN_SYNC, Freshness
from runtime.threads import lower_this_thread
from server.config import Config
from server.dispatch import PEER, Method
from server.ledger import StorageProbe
from server.quorum import Quorum
from server.storage_watch import StorageWatch
from wire.errors import NOT_COORDINATOR, UNAVAILABLE, app_error
from wire.jsonrpc import RpcError
from wire.peer_auth import HELLO, PeerAuth
from wire.peer_link import PeerLink, PeerReceiver

log = logging.getLogger("onsell.cluster")

SINGLE_NODE_EPOCH = 1
TAKEOVER_WAIT_S = 3.0  # how long a client request waits for a new coordinator to finish its take-over sync


def _stopping_error():
    return app_error(UNAVAILABLE, "This node is stopping; try again")


def as_of(node_id: int, position: int, fresh: Freshness | None) -> dict:
    """What a report's answer was read at: this node's position, its coordinator's (as last heard: a follower), and how
    long ago at most the coordinator held nothing this node lacks (0: this node is the coordinator; None: unknown)."""
    if fresh is None:
        return {"node_id": node_id, "position": position, "coordinator_position": position, "lag_ms": 0}
    return {"node_id": node_id, "position": position, "coordinator_position": fresh.coordinator_position, "lag_ms": fresh.lag_ms}


class SingleNode:
    peer_receiver = None

    def __init__(self, node_id: int, address: tuple[str, int], changes: ChangeLog):
        self.node_id = node_id
        self.address = address
        self.changes = changes
        self._stopping = threading.Event()
        self._serving_hooks: list = []
        self.quorum = Quorum(node_id, 1, {}, lambda: None, lambda: True, None)  # a single node is its own majority

    def start(self) -> None:
        for hook in self._serving_hooks:
            hook()  # a single node serves from its start

    def stop(self, writes_deadline_s: float, threads_deadline_s: float) -> None:
        self._stopping.set()

    def on_serving(self, hook) -> None:
        self._serving_hooks.append(hook)

    def use_ledger(self, ledger) -> None:
        """Nothing to repair: a single node has no peer to differ from."""

    def write_epoch(self) -> int:
        if self._stopping.is_set():
            raise _stopping_error()
        return SINGLE_NODE_EPOCH

    def await_replicated(self, epoch: int, origins: list[Origin]) -> int:
        return 1

    def require_coordinator(self) -> None:
        if self._stopping.is_set():
            raise _stopping_error()

    def read_gate(self, min_position: int) -> tuple[dict, None]:
        """A report may be answered here, on the caller's thread: its as_of (a single node is its own coordinator)."""
        self.require_coordinator()
        return as_of(self.node_id, self.changes.position(), None), None

    def peer_methods(self) -> list[Method]:
        return []

    def status(self) -> dict:
        position = self.changes.position()
        return {
            "node_id": self.node_id,
            "role": "coordinator",
            "epoch": SINGLE_NODE_EPOCH,
            "coordinator_id": self.node_id,
            "position": position,
            "nodes": [{"id": self.node_id, "address": format_address(self.address), "role": "coordinator", "alive": True,
                       "epoch": SINGLE_NODE_EPOCH, "position": position, "behind": 0}],
            "merges": [],
            "conflicting_changes": 0,
            "stepped_down": None,
            "under_replicated_acks": 0,
            "refused_too_few": 0,
        }


class ClusterNode:
    def __init__(self, config: Config, database: Database, changes: ChangeLog, clock, now_iso, peer_tls=None):
        """peer_tls: the ssl context of the links to the other nodes (wire/tls.py), None for plaintext."""
        self.config = config
        self.node_id = config.node_id
        self.db = database
        self.changes = changes
        self._stopping = threading.Event()
        peers = {n: a for n, a in config.cluster.items() if n != config.node_id}
        timing = config.timing
        self.peer_auth = PeerAuth(config.secret, config.node_id, set(config.cluster), lambda: secrets.token_hex(16))
        self.peer_receiver = PeerReceiver(self.peer_auth)  # opens peers' envelopes on the server's threads
        timeout_s = timing.failure_ms / 1000
        election_links = {n: PeerLink(n, a, self.peer_auth, timeout_s, peer_tls) for n, a in peers.items()}
        replication_links = {n: PeerLink(n, a, self.peer_auth, timeout_s, peer_tls) for n, a in peers.items()}
        self.service_links = {n: PeerLink(n, a, self.peer_auth, timeout_s, peer_tls) for n, a in peers.items()}  # quorum, throttle
        # The epoch to start from is the highest this file has seen, in node_state or in its log: a file restored or
        # copied may hold changes of later epochs than it persisted, and a node alone must not take one of those again.
        start_epoch = max(database.read(load_epoch), highest_epoch(changes.vector()))
        machine = BullyMachine(config.node_id, sorted(peers), start_epoch, timing)
        self.election = ElectionRunner(machine, election_links, self._persist_epoch, changes.position, clock)
        self.replication = ReplicationRunner(config.node_id, replication_links, database, changes, self.election, clock,
                                             timing.heartbeat_ms, config.replication_acks, config.replication_timeout_ms, now_iso,
                                             config.replication_strict)
        self.election.listen(self.replication.follow_role)
        self.storage = StorageWatch(StorageProbe(database), self.election, clock, config.storage_stepdown_s * 1000)
        self.quorum = Quorum(config.node_id, len(config.cluster), self.service_links, self.election.view,
                             self.is_coordinator, clock)  # for creating accounts
        anti_entropy_links = {n: PeerLink(n, a, self.peer_auth, timeout_s, peer_tls) for n, a in peers.items()}
        self.anti_entropy = AntiEntropyRunner(anti_entropy_links, database, clock, config.anti_entropy_interval_s, now_iso,
                                              self._may_compare, lambda: changes.last_pos)
        self._report_threads = ThreadPoolExecutor(config.follower_report_threads, "follower-report", initializer=lower_this_thread)
        self.snapshots = SnapshotSource(config.database_path, changes.position, self._require_serving_for_snapshot,
                                        config.snapshot_chunk_bytes, config.snapshot_idle_s, clock, lambda: secrets.token_hex(8))

    def on_serving(self, hook) -> None:
        """Run hook() each time this node finishes taking over, before it serves clients."""
        self.replication.on_serving(hook)

    def use_ledger(self, ledger) -> None:
        """Anti-entropy ships its repairs through the ledger (before start)."""
        self.anti_entropy.use_ledger(ledger.commit_unawaited)

    def _may_compare(self, peer: int) -> bool:
        """Anti-entropy compares only as the serving coordinator, and with a follower replication counts as in sync."""
        if not (self.election.view().is_coordinator and self.replication.serving.is_set()):
            return False
        return self.replication.members().get(str(peer), {}).get("state") == IN_SYNC

    def start(self) -> None:
        t = self.config.timing
        log.info("cluster of %d nodes; heartbeat %d ms, failure timeout %d ms, election timeout %d ms, %d replication ack(s)",
                 len(self.config.cluster), t.heartbeat_ms, t.failure_ms, t.election_ms, self.config.replication_acks)
        self.replication.start()
        self.election.start()
        self.storage.start()
        self.anti_entropy.start()
        self.snapshots.start()

    def stop(self, writes_deadline_s: float, threads_deadline_s: float) -> None:
        """Refuse new writes, let waiting ones be acknowledged until writes_deadline_s, then stop replication and the
        election (their threads get until threads_deadline_s). Replication stops first: it waits for followers'
        answers, which the election's heartbeats keep coming; once stopped it begins no new term."""
        self._stopping.set()
        self._report_threads.shutdown(wait=False, cancel_futures=True)
        self.anti_entropy.stop(threads_deadline_s)
        self.storage.stop(threads_deadline_s)
        self.quorum.stop()
        self.replication.stop(writes_deadline_s, threads_deadline_s)
        self.election.stop(threads_deadline_s)
        self.snapshots.stop()

    def _persist_epoch(self, epoch: int) -> None:
        self.db.write(lambda c: save_epoch(c, epoch))

    # -- serving clients ---------------------------------------------------------------------
    def require_coordinator(self) -> None:
        """Return when this node may serve a client; else raise not_coordinator (or unavailable)."""
        if self._stopping.is_set():
            raise _stopping_error()
        view = self.election.view()
        if view.is_coordinator:
            if self.replication.serving.wait(TAKEOVER_WAIT_S):
                return
            raise app_error(UNAVAILABLE, "The new coordinator is still taking over; try again")
        raise self._not_coordinator(view)

    def read_gate(self, min_position: int) -> tuple[dict, Callable | None]:
        """When this node may answer a report: its as_of, and how to run it (None: on the caller's thread); else raise as
        require_coordinator does. The coordinator answers whatever min_position asks; a follower only while in sync (see
        Freshness.refusal) and holding min_position, on its report threads."""
        if self._stopping.is_set():
            raise _stopping_error()
        view = self.election.view()
        if view.is_coordinator:
            self.require_coordinator()
            return as_of(self.node_id, self.changes.position(), None), None
        if view.state != FOLLOWER:
            raise self._not_coordinator(view)
        fresh = self.replication.freshness()
        answer = as_of(self.node_id, self.changes.position(), fresh)
        why = fresh.refusal(view.coordinator, view.coordinator_epoch, min_position, self.config.report_max_lag_ms)
        if why is not None:
            message = (f"This follower is not known to be within {self.config.report_max_lag_ms} ms of the coordinator"
                       if why == "lag" else f"This follower does not hold position {min_position} yet")
            raise self._not_coordinator(view, message, stale=why, as_of=answer)
        return answer, self._on_report_thread

    def _on_report_thread(self, call: Callable[[], Any]) -> Any:
        """call() on one of the follower's report threads (the lowest CPU priority); its result or its exception."""
        try:
            future = self._report_threads.submit(call)
        except RuntimeError:  # shut down: this node is stopping
            raise _stopping_error() from None
        try:
            return future.result()
        except CancelledError:
            raise _stopping_error() from None

    def _require_serving_for_snapshot(self) -> None:
        """Only the serving coordinator begins a snapshot; a refusal also says how much this node holds, so a node with no
        file among nodes that hold nothing (a new cluster) starts at once on an empty file (replication/snapshot_join.py)."""
        try:
            view = self.election.view()
            if not view.is_coordinator:
                raise self._not_coordinator(view)
            if not self.replication.serving.is_set():  # not waited for: the asker is a node starting, and asks again
                raise app_error(UNAVAILABLE, "The new coordinator is still taking over; try again")
        except RpcError as exc:
            raise RpcError(exc.code, exc.message, {**(exc.data or {}), "position": self.changes.position()}) from None

    def is_coordinator(self) -> bool:
        """True while this node is the coordinator and not stopping (never waits)."""
        return not self._stopping.is_set() and self.election.view().is_coordinator

    def write_epoch(self) -> int:
        if self._stopping.is_set():
            raise _stopping_error()
        view = self.election.view()
        if not view.is_coordinator:
            raise self._not_coordinator(view)
        return view.coordinator_epoch

    def await_replicated(self, epoch: int, origins: list[Origin]) -> int:
        try:
            return self.replication.await_replicated(epoch, origins)
        except NotAcknowledged as exc:
            if exc.stopping:
                raise _stopping_error() from None
            if exc.too_few is not None:
                raise app_error(UNAVAILABLE, "Too few nodes hold the sale (REPLICATION_STRICT); try again", reason="too_few_replicas",
                                replicas=exc.too_few) from None
            raise self._not_coordinator(self.election.view()) from None

    def _not_coordinator(self, view: ElectionView, message: str = "This node is not the coordinator", **data):
        coordinator = view.coordinator if view.state == FOLLOWER else 0
        hint = None
        if coordinator and coordinator in self.config.cluster:
            hint = {"id": coordinator, "address": format_address(self.config.cluster[coordinator])}
        return app_error(NOT_COORDINATOR, message, coordinator=hint, **data)

    # -- peers -------------------------------------------------------------------------------
    def peer_methods(self) -> list[Method]:
        # A peer method's params are the signed envelope; its handler gets (sender, body) and checks the body itself.
        return [
            Method(HELLO, self.peer_receiver.grant, role=PEER, coordinator_only=False),  # opens a link (wire/peer_auth.py)
            Method("peer.message", self._on_message, role=PEER, coordinator_only=False),
            Method("peer.push", self._unless_stopping(self.replication.handle_push), role=PEER, coordinator_only=False),
            Method("peer.pull", self._unless_stopping(self.replication.handle_pull), role=PEER, coordinator_only=False),
            Method("peer.digest", self._unless_stopping(self.anti_entropy.handle_digest), role=PEER, coordinator_only=False),
            Method("peer.rows", self._unless_stopping(self.anti_entropy.handle_rows), role=PEER, coordinator_only=False),
            Method("peer.snapshot", self._unless_stopping(self.snapshots.handle), role=PEER, coordinator_only=False),
        ] + self.quorum.peer_methods()

    def _unless_stopping(self, handler):
        """A peer method a stopping node answers with `unavailable`: its database is about to close."""
        def guarded(sender: int, body) -> dict:
            if self._stopping.is_set():
                raise _stopping_error()
            return handler(sender, body)
        return guarded

    def _on_message(self, sender: int, body) -> dict:
        try:
            message = from_json(body)
        except ValueError as exc:
            raise ValidationError("body", str(exc)) from None
        if message.sender != sender:
            raise ValidationError("body", "sender does not match the envelope")
        return {"answers": [to_json(answer) for answer in self.election.deliver(message)]}

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict:
        view = self.election.view()
        if view.state == COORDINATOR:
            members = self.replication.members()
        elif view.state == FOLLOWER:
            members = self.replication.followed_members(view.coordinator)
        else:
            members = {}
        role = view.state if view.state in (COORDINATOR, FOLLOWER) else "candidate"  # "waiting" for an announcement is still electing
        epoch = view.coordinator_epoch or view.epoch
        position = self.changes.position()
        members[str(self.node_id)] = {**members.get(str(self.node_id), {}), "role": role, "alive": True, "epoch": epoch,
                                      "position": position}
        leader_position = members.get(str(view.coordinator), {}).get("position")
        nodes = []
        for node_id, address in sorted(self.config.cluster.items()):
            info = members.get(str(node_id), {})
            node_position = info.get("position")
            nodes.append({
                "id": node_id, "address": format_address(address), "role": info.get("role", "unknown"),
                "alive": bool(info.get("alive", False)), "epoch": info.get("epoch"), "position": node_position,
                "behind": max(0, leader_position - node_position) if leader_position is not None and node_position is not None else None,
            })
        return {"node_id": self.node_id, "role": role, "epoch": epoch, "coordinator_id": view.coordinator,
                "position": position, "nodes": nodes, "merges": self.db.read(list_merges), "stepped_down": view.unfit,
                "conflicting_changes": self.db.read(load_conflicts), "anti_entropy": self.anti_entropy.status(),
                "joined_by_snapshot": self.db.read(load_snapshot_origin), "snapshots_served": self.snapshots.status(),
                **self.replication.counters()}
