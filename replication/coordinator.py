"""The coordinator's side of replication.

Rules:
- On taking over (epoch E) the coordinator first pulls from every reachable
  peer whatever it lacks (an old coordinator's unreplicated tail included),
  and serves clients only after that: it holds every sale any live node holds.
- One thread per follower pushes, in batches, every change the follower lacks
  (bulk catch-up first, then new commits as they happen; an empty push every
  heartbeat interval doubles as a probe). Each answer carries the follower's
  vector; whatever the follower holds that the coordinator lacks is pulled
  back, so two histories meet by union.
- A follower is in sync once a push left it holding everything the
  coordinator held when the push was read; until then it is catching up.
- A write is acknowledged once REPLICATION_ACKS followers hold it, or once no
  follower that could still take it (in sync, or not yet contacted) is left
  without it; a follower only stops counting after a failed contact. At
  REPLICATION_TIMEOUT_MS the write is acknowledged with the copies it has.
- An answer naming a higher epoch makes this node step down; every waiting
  write then fails with not_coordinator instead of being acknowledged.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from db.changes import ChangeLog, Origin, Vector, covers, read_after, vector_from_json, vector_to_json
from db.database import Database
from db.merge import MalformedChange, apply_parsed, parse_entries
from election.messages import Stale
from replication.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.replication")

REPLICATION_BATCH = 1000  # changes per push: about 300 KiB, far below MAX_LINE_BYTES
UNKNOWN, IN_SYNC, CATCHING_UP, DOWN = "unknown", "in_sync", "catching_up", "down"


class NotCoordinator(Exception):
    """This node stopped being coordinator before the write was acknowledged."""


@dataclass
class Follower:
    peer: int
    state: str = UNKNOWN
    vector: Vector = field(default_factory=dict)
    last_ok_s: float = 0.0


class CoordinatorSide:
    def __init__(self, node_id: int, links: dict[int, PeerLink], database: Database, changes: ChangeLog, runner_ref,
                 heartbeat_s: float, acks_required: int, replication_timeout_s: float, now_iso, on_serving=None):
        self.node_id = node_id
        self.links = links
        self.db = database
        self.changes = changes
        self.runner_ref = runner_ref  # () -> ElectionRunner, set once the runner exists
        self.heartbeat_s = heartbeat_s
        self.acks_required = acks_required
        self.replication_timeout_s = replication_timeout_s
        self.now_iso = now_iso
        self.on_serving = on_serving
        self.followers = {peer: Follower(peer) for peer in links}
        self.serving = threading.Event()
        self.epoch = 0
        self._generation = 0
        self._cond = threading.Condition()
        self._taken_over: set[int] = set()

    # -- role --------------------------------------------------------------------------------
    def begin(self, epoch: int) -> None:
        """Become coordinator of `epoch`: sync from peers, then serve and replicate."""
        with self._cond:
            self._generation += 1
            self.epoch = epoch
            self.serving.clear()
            self._taken_over = set()
            self.followers = {peer: Follower(peer) for peer in self.links}
            generation = self._generation
        log.info("taking over as coordinator of epoch %d: syncing from %s first", epoch, sorted(self.links) or "nobody")
        if not self.links:
            self._serve(generation)
        for peer in self.links:
            threading.Thread(target=self._follower_loop, args=(peer, generation), name=f"replicate-to-{peer}", daemon=True).start()

    def end(self) -> None:
        """Stop being coordinator: loops stop, waiting writes fail."""
        with self._cond:
            self._generation += 1
            self.serving.clear()
            self._cond.notify_all()

    def active(self, generation: int) -> bool:
        return self._generation == generation

    # -- acknowledgements --------------------------------------------------------------------
    def wait_replicated(self, origin: Origin, committed_s: float) -> int:
        """How many nodes hold the change once it may be acknowledged; NotCoordinator if we stepped down."""
        deadline = committed_s + self.replication_timeout_s
        with self._cond:
            generation = self._generation
            while True:
                if self._generation != generation or not self.serving.is_set():
                    raise NotCoordinator()
                holders = [f for f in self.followers.values() if covers(f.vector, origin)]
                if len(holders) >= self.acks_required:
                    return 1 + len(holders)
                could_still = [f for f in self.followers.values() if f not in holders and f.state in (IN_SYNC, UNKNOWN)]
                if not could_still:
                    return 1 + len(holders)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("change %s acknowledged with %d copies: followers %s did not confirm in time",
                                origin, 1 + len(holders), [f.peer for f in could_still])
                    return 1 + len(holders)
                self._cond.wait(remaining)

    # -- status ------------------------------------------------------------------------------
    def members(self) -> dict:
        """What this coordinator knows of every node, for cluster.status and for the followers."""
        position = self.changes.position()
        summary = {str(self.node_id): {"role": "coordinator", "alive": True, "epoch": self.epoch, "position": position}}
        with self._cond:
            for f in self.followers.values():
                alive = f.state in (IN_SYNC, CATCHING_UP)
                summary[str(f.peer)] = {"role": "follower" if alive else "down", "alive": alive, "epoch": self.epoch if alive else None,
                                        "position": sum(f.vector.values()) if f.vector else None, "state": f.state}
        return summary

    # -- the per-follower loop ---------------------------------------------------------------
    def _follower_loop(self, peer: int, generation: int) -> None:
        link = self.links[peer]
        try:
            self._pull_missing(peer, link, generation, taking_over=True)
        except Exception:  # never let one peer keep the new coordinator from serving
            log.exception("take-over sync from node %d failed", peer)
        self._mark_taken_over(peer, generation)
        while self.active(generation):
            try:
                with ThreadPoolExecutor(1, thread_name_prefix=f"read-ahead-{peer}") as read_ahead:
                    self._push_loop(peer, link, generation, read_ahead)
                return
            except Exception:  # e.g. a database error: log it, count the follower as unreached, try again
                log.exception("replication to node %d failed", peer)
                self._set_follower(peer, generation, state=DOWN)
                self._pause(generation)

    def _read(self, mine: Vector, theirs: Vector) -> tuple[list, bool]:
        return self.db.read(lambda c: read_after(c, mine, theirs, REPLICATION_BATCH))

    def _read_now(self, theirs: Vector) -> tuple[Vector, list, bool]:
        mine = self.changes.vector()
        return (mine, *self._read(mine, theirs))

    def _push_loop(self, peer: int, link: PeerLink, generation: int, read_ahead: ThreadPoolExecutor) -> None:
        last_seen = 0
        ahead = None  # (the follower vector it assumes, Future of (mine, entries, more))
        while self.active(generation):
            follower = self.followers[peer]
            if follower.state == IN_SYNC:
                last_seen = self.changes.wait_for_news(last_seen, self.heartbeat_s)
                if not self.active(generation):
                    return
            if ahead is not None and ahead[0] == follower.vector:
                mine, entries, more = ahead[1].result()
            else:
                mine = self.changes.vector()
                entries, more = self._read(mine, follower.vector) if follower.state in (IN_SYNC, CATCHING_UP) else ([], False)
            ahead = None
            if more:  # catching up: read the next batch while the follower applies this one
                expected = _vector_after(follower.vector, entries)
                ahead = (expected, read_ahead.submit(self._read_now, expected))
            body = {"epoch": self.epoch, "entries": entries, "more": more, "vector": vector_to_json(mine),
                    "position": sum(mine.values()), "members": self.members()}
            try:
                answer = link.call("peer.push", body)
            except (PeerUnavailable, PeerRefused) as exc:
                if follower.state != DOWN:
                    log.warning("follower %d unreachable: %s", peer, exc)
                self._set_follower(peer, generation, state=DOWN)
                self._pause(generation)
                continue
            if answer.get("stale"):
                log.warning("follower %d is in epoch %s under node %s: stepping down", peer, answer.get("epoch"), answer.get("coordinator"))
                self.runner_ref().deliver(Stale(peer, int(answer["epoch"]), int(answer.get("coordinator") or 0)))
                return
            if not answer.get("accepted"):
                self._pause(generation, fraction=0.25)  # it has not heard of us yet; the announcement is on its way
                continue
            theirs = vector_from_json(answer.get("vector", {}))
            in_sync = not more and all(theirs.get(k, 0) >= v for k, v in mine.items())
            previous = follower.state
            self._set_follower(peer, generation, state=IN_SYNC if in_sync else CATCHING_UP, vector=theirs)
            if previous != IN_SYNC and in_sync:
                log.info("follower %d in sync at position %d", peer, sum(theirs.values()))
            elif previous in (UNKNOWN, DOWN) and not in_sync:
                log.info("follower %d is behind by %d changes: catch-up started", peer, sum(mine.values()) - sum(theirs.values()))
            elif previous == IN_SYNC and not in_sync:
                log.warning("follower %d fell behind by %d changes", peer, sum(mine.values()) - sum(theirs.values()))
            if any(seq > mine.get(key, 0) for key, seq in theirs.items()):
                self._pull_missing(peer, link, generation, taking_over=False)

    def _pull_missing(self, peer: int, link: PeerLink, generation: int, taking_over: bool) -> None:
        """Fetch from `peer` every change it holds that this node lacks."""
        pulled = 0
        while self.active(generation):
            try:
                answer = link.call("peer.pull", {"vector": vector_to_json(self.changes.vector()), "limit": REPLICATION_BATCH})
            except (PeerUnavailable, PeerRefused) as exc:
                if taking_over:
                    log.info("take-over sync: node %d unreachable (%s)", peer, exc)
                break
            entries = answer.get("entries", [])
            if entries:
                try:
                    parsed = parse_entries(entries)
                    pulled += self.db.write(lambda c: apply_parsed(c, parsed, self.now_iso())).applied
                except MalformedChange as exc:
                    log.error("refused what node %d sent: %s", peer, exc)
                    break
            if not answer.get("more") or not entries:
                break
        if pulled:
            log.info("pulled %d changes from node %d that this node lacked%s", pulled, peer, " (take-over sync)" if taking_over else "")

    def _mark_taken_over(self, peer: int, generation: int) -> None:
        with self._cond:
            if self._generation != generation:
                return
            self._taken_over.add(peer)
            done = self._taken_over == set(self.links)
        if done:
            self._serve(generation)

    def _serve(self, generation: int) -> None:
        if not self.active(generation):
            return
        if self.on_serving:
            self.on_serving()  # e.g. the demo data, before any client can see an empty chain
        with self._cond:
            if self._generation != generation:
                return
            self.serving.set()
        log.info("coordinator of epoch %d serving clients at position %d", self.epoch, self.changes.position())

    def _set_follower(self, peer: int, generation: int, state: str, vector: Vector | None = None) -> None:
        with self._cond:
            if self._generation != generation:
                return
            follower = self.followers[peer]
            follower.state = state
            if vector is not None:
                follower.vector = vector
                follower.last_ok_s = time.monotonic()
            self._cond.notify_all()

    def _pause(self, generation: int, fraction: float = 1.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation, self.heartbeat_s * fraction)


def _vector_after(vector: Vector, entries: list[dict]) -> Vector:
    """The vector of a holder of `vector` once it has applied `entries`."""
    after = dict(vector)
    for entry in entries:
        node, epoch, seq = entry["origin"]
        after[(node, epoch)] = max(after.get((node, epoch), 0), seq)
    return after
