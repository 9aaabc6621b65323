"""Whether this coordinator reaches a majority of the cluster's nodes that follow it, itself included, right now.

Creating an account needs one: a CPF registered on both sides of a partition became two accounts, later merged
into one, a silent takeover of the first; with a majority required, at most one side of a partition creates
accounts. Sales need none: both sides keep selling. Each peer is asked `peer.ping` over links of its own, all at
once, each within the links' timeout (the failure timeout), and counts when it answers that it follows this node
in this node's epoch (a node still electing, or following another, does not); counting stops at a majority.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Callable

from election.bully import FOLLOWER, ElectionView
from runtime.events import event
from server.dispatch import PEER, Method
from wire.errors import UNAVAILABLE, app_error
from wire.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.quorum")
NO_QUORUM = "no_quorum"  # data.reason of the 1009 answer
PROBE_WAIT_S = 2.0  # longest wait for the peers' answers (each link call has its own, shorter timeout)
RETRY_S = 0.05  # how often a hook waiting for a majority asks again
WAIT_BEFORE_DEFERRING_S = 1.0  # a new coordinator's followers hear its announcement a moment after it takes over


def majority(nodes: int) -> int:
    return nodes // 2 + 1


class Quorum:
    def __init__(self, node_id: int, cluster_size: int, links: dict[int, PeerLink], view: Callable[[], ElectionView],
                 is_coordinator: Callable[[], bool], clock):
        """view: this node's election view (what it answers a ping with, and the epoch its followers must name)."""
        self.clock = clock
        self.node_id = node_id
        self.cluster_size = cluster_size
        self.links = links
        self.view = view
        self.is_coordinator = is_coordinator
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(links)), thread_name_prefix="quorum-probe")
        self._stopped = threading.Event()
        self._deferred = threading.Lock()  # held by the one thread waiting for a majority to run a hook

    def peer_methods(self) -> list[Method]:
        return [Method("peer.ping", self._on_ping, role=PEER, coordinator_only=False)]

    def _on_ping(self, sender: int, body) -> dict:
        view = self.view()
        return {"follows": [view.coordinator, view.coordinator_epoch] if view.state == FOLLOWER else None}

    def reached(self) -> int:
        """How many nodes follow this one now, itself included (counting stops once they are a majority)."""
        count, needed = 1, majority(self.cluster_size)
        if count >= needed or self._stopped.is_set():
            return count
        mine = [self.node_id, self.view().coordinator_epoch]
        futures = [self._pool.submit(link.call, "peer.ping", {}) for link in self.links.values()]
        try:
            for future in as_completed(futures, timeout=PROBE_WAIT_S):
                try:
                    answer = future.result()
                except (PeerUnavailable, PeerRefused):
                    continue
                if not (isinstance(answer, dict) and answer.get("follows") == mine):
                    continue
                count += 1
                if count >= needed:
                    break
        except FuturesTimeout:
            pass
        return count

    def require(self) -> None:
        """Return when a majority is reached; 1009 unavailable with data.reason = no_quorum otherwise."""
        reached = self.reached()
        if reached < majority(self.cluster_size):
            log.warning("%s", event("no_quorum", f"refusing to create an account: {reached} of {self.cluster_size} nodes follow "
                                    "this one, not a majority", reached=reached, nodes=self.cluster_size).line())
            raise app_error(UNAVAILABLE, "This node cannot reach most of the cluster: accounts cannot be created now; try again",
                            reason=NO_QUORUM, reached=reached, nodes=self.cluster_size)

    def when_majority(self, hook: Callable[[], None], what: str, wait_s: float = WAIT_BEFORE_DEFERRING_S) -> None:
        """hook() once a majority follows this node: here if one does within wait_s; else on a thread once one does,
        given up when this node stops being the coordinator (the next one runs its own), one such thread at a time.
        `what` names the hook in the log (a_word)."""
        deadline = None  # (a single node, its own majority, has no clock here)
        while self.reached() < majority(self.cluster_size):
            now = self.clock.monotonic_s()
            deadline = now + wait_s if deadline is None else deadline
            if now >= deadline or self._stopped.wait(RETRY_S):
                break
        else:
            hook()
            return
        if self._stopped.is_set() or not self._deferred.acquire(blocking=False):
            return  # stopping, or a thread already waits to run it
        text = f"{what.replace('_', ' ')} waits until a majority of the nodes follow this one"
        log.info("%s", event("waiting_for_majority", text, what=what).line())
        threading.Thread(target=self._run_when_majority, args=(hook,), name="quorum-wait", daemon=True).start()

    def _run_when_majority(self, hook: Callable[[], None]) -> None:
        try:
            while not self._stopped.wait(RETRY_S) and self.is_coordinator():
                if self.reached() >= majority(self.cluster_size):
                    hook()
                    return
        except Exception:  # a hook that fails is logged; the node goes on
            log.exception("a hook waiting for a majority failed")
        finally:
            self._deferred.release()

    def stop(self) -> None:
        self._stopped.set()
        for link in self.links.values():
            link.abort()
        self._pool.shutdown(wait=False, cancel_futures=True)
