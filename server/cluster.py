"""What a node is in its cluster: the glue between the election, replication and the server.

SingleNode is a cluster of one: always the coordinator of epoch 1, nothing to
replicate. ClusterNode runs the bully election and replication; only its
coordinator serves clients, every other node answers not_coordinator naming
the coordinator it knows.
"""

import logging
import time

from db.changes import ChangeLog, Origin
from db.database import Database
from election.bully import COORDINATOR, FOLLOWER, BullyMachine, Timing
from election.messages import from_json
from election.runner import ElectionRunner
from models.cluster import format_address
from models.errors import ValidationError
from replication.coordinator import CoordinatorSide, NotCoordinator
from replication.follower import FollowerSide
from replication.peer_auth import PeerAuth
from replication.peer_link import PeerLink
from server.config import Config
from server.dispatch import PEER, Method
from server.errors import NOT_COORDINATOR, UNAVAILABLE, app_error

log = logging.getLogger("onsell.cluster")

SINGLE_NODE_EPOCH = 1
TAKEOVER_WAIT_S = 3.0  # how long a client request waits for a new coordinator to finish its take-over sync
EPOCH_KEY = "epoch"


class SingleNode:
    def __init__(self, node_id: int, address: tuple[str, int], changes: ChangeLog):
        self.node_id = node_id
        self.address = address
        self.changes = changes

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def local_epoch(self) -> int:
        return SINGLE_NODE_EPOCH

    def require_coordinator(self) -> None:
        pass

    def confirm(self, origin: Origin, committed_s: float) -> int:
        return 1

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
        }


def load_epoch(database: Database) -> int:
    row = database.read(lambda c: c.execute("SELECT value FROM node_state WHERE key = ?", (EPOCH_KEY,)).fetchone())
    return row[0] if row else 0


class ClusterNode:
    def __init__(self, config: Config, database: Database, changes: ChangeLog, now_iso, on_serving=None):
        self.config = config
        self.node_id = config.node_id
        self.db = database
        self.changes = changes
        peers = {n: a for n, a in config.cluster.items() if n != config.node_id}
        self.auth = PeerAuth(config.secret, config.node_id, set(config.cluster), lambda: int(time.time() * 1000))
        timeout_s = config.failure_ms / 1000

        def links():
            return {n: PeerLink(n, a, self.auth, timeout_s) for n, a in peers.items()}
        timing = Timing(config.heartbeat_ms, config.failure_ms, config.election_ms)
        machine = BullyMachine(config.node_id, sorted(peers), load_epoch(database), timing)
        self.coordinator_side = CoordinatorSide(
            config.node_id, links(), database, changes, lambda: self.runner, config.heartbeat_ms / 1000,
            config.replication_acks, config.replication_timeout_ms / 1000, now_iso, on_serving)
        self.follower_side = FollowerSide(database, changes, lambda: self.runner, now_iso)
        self.runner = ElectionRunner(machine, links(), self._persist_epoch, self._on_role_change, changes.position)

    def start(self) -> None:
        log.info("cluster of %d nodes; heartbeat %d ms, failure timeout %d ms, election timeout %d ms, %d replication ack(s)",
                 len(self.config.cluster), self.config.heartbeat_ms, self.config.failure_ms, self.config.election_ms,
                 self.config.replication_acks)
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()
        self.coordinator_side.end()

    # -- election callbacks ------------------------------------------------------------------
    def _persist_epoch(self, epoch: int) -> None:
        self.db.write(lambda c: c.execute(
            "INSERT INTO node_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            (EPOCH_KEY, epoch)))

    def _on_role_change(self, change) -> None:
        if change.role == COORDINATOR:
            self.coordinator_side.begin(change.epoch)
        else:
            self.coordinator_side.end()

    def local_epoch(self) -> int:
        """The epoch stamped on changes this node writes (it writes only as coordinator)."""
        _, _, coordinator_epoch, epoch = self.runner.snapshot()
        return coordinator_epoch or epoch

    # -- serving clients ---------------------------------------------------------------------
    def require_coordinator(self) -> None:
        """Return when this node may serve a client; else raise not_coordinator (or unavailable)."""
        state, coordinator, _, _ = self.runner.snapshot()
        if state == COORDINATOR:
            if self.coordinator_side.serving.wait(TAKEOVER_WAIT_S):
                return
            raise app_error(UNAVAILABLE, "The new coordinator is still taking over; try again")
        raise self._not_coordinator(coordinator if state == FOLLOWER else 0)

    def _not_coordinator(self, coordinator: int):
        hint = None
        if coordinator and coordinator in self.config.cluster:
            hint = {"id": coordinator, "address": format_address(self.config.cluster[coordinator])}
        return app_error(NOT_COORDINATOR, "This node is not the coordinator", coordinator=hint)

    def confirm(self, origin: Origin, committed_s: float) -> int:
        """Block until the change may be acknowledged; the number of nodes holding it."""
        try:
            return self.coordinator_side.wait_replicated(origin, committed_s)
        except NotCoordinator:
            state, coordinator, _, _ = self.runner.snapshot()
            raise self._not_coordinator(coordinator if state == FOLLOWER else 0) from None

    # -- peers -------------------------------------------------------------------------------
    def peer_methods(self) -> list[Method]:
        # A peer method's params are the signed envelope; its handler gets (sender, body) and checks the body itself.
        return [
            Method("peer.message", self._on_message, role=PEER, coordinator_only=False),
            Method("peer.push", self.follower_side.handle_push, role=PEER, coordinator_only=False),
            Method("peer.pull", self.follower_side.handle_pull, role=PEER, coordinator_only=False),
        ]

    def _on_message(self, sender: int, body) -> dict:
        try:
            message = from_json(body)
        except ValueError as exc:
            raise ValidationError("body", str(exc)) from None
        if message.sender != sender:
            raise ValidationError("body", "sender does not match the envelope")
        self.runner.deliver(message)
        return {}

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict:
        state, coordinator, coordinator_epoch, epoch = self.runner.snapshot()
        if state == COORDINATOR:
            members = self.coordinator_side.members()
        elif state == FOLLOWER and self.follower_side.members_from == coordinator:
            members = dict(self.follower_side.members)
        else:
            members = {}
        role = state if state in (COORDINATOR, FOLLOWER) else "candidate"  # "waiting" for an announcement is still electing
        members[str(self.node_id)] = {**members.get(str(self.node_id), {}), "role": role, "alive": True,
                                      "epoch": coordinator_epoch or epoch, "position": self.changes.position()}
        leader_position = members.get(str(coordinator), {}).get("position")
        nodes = []
        for node_id, address in sorted(self.config.cluster.items()):
            info = members.get(str(node_id), {})
            position = info.get("position")
            nodes.append({
                "id": node_id, "address": format_address(address), "role": info.get("role", "unknown"),
                "alive": bool(info.get("alive", False)), "epoch": info.get("epoch"), "position": position,
                "behind": max(0, leader_position - position) if leader_position is not None and position is not None else None,
            })
        return {"node_id": self.node_id, "role": role, "epoch": coordinator_epoch or epoch, "coordinator_id": coordinator,
                "position": self.changes.position(), "nodes": nodes, "merges": self._merges()}

    def _merges(self) -> list[dict]:
        rows = self.db.read(lambda c: c.execute("SELECT cpf, loser_id, winner_id, merged_at FROM user_merges ORDER BY merged_at").fetchall())
        return [{"cpf": f"***.***.*{r[0][6:9]}-{r[0][9:]}", "merged_user": r[1], "into_user": r[2], "at": r[3]} for r in rows]
