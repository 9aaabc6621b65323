"""The sign-in throttle across a failover: the coordinator ships what its throttle holds to every other node.

Whenever its throttle changed, at most every SHIP_INTERVAL_S, the coordinator sends a snapshot of it
(server/login_throttle.py: failures as ages, locks as seconds left, so no clocks are compared) to each other node
over links of its own (`peer.throttle`, a thread per peer). A node that is not the coordinator holds the latest
snapshot in place of its own; a coordinator sent one (two coordinators for a moment) merges it. A node that takes
over also asks every peer for its snapshot (`peer.throttle_pull`) and merges them, in case it took over before
the last snapshot reached it.

Why a snapshot rather than a replicated log of failures: the state is small, lives 15 minutes and must not cost
a disk write per wrong PIN; a snapshot is idempotent and needs no ordering, and is at most SHIP_INTERVAL_S old.
"""

import json
import logging
import threading
from typing import Callable

from server.dispatch import PEER, Method
from server.login_throttle import MAX_SNAPSHOT_KEYS, LoginThrottle
from wire.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.throttle")
SHIP_INTERVAL_S = 0.2


class ThrottleSync:
    def __init__(self, throttle: LoginThrottle, links: dict[int, PeerLink], is_coordinator: Callable[[], bool], clock,
                 max_line_bytes: int):
        """max_line_bytes: the longest request line a node takes (MAX_LINE_BYTES): a snapshot is kept to half of it."""
        self.max_bytes = max_line_bytes // 2
        self.throttle = throttle
        self.links = links
        self.is_coordinator = is_coordinator
        self.clock = clock
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def peer_methods(self) -> list[Method]:
        return [Method("peer.throttle", self._on_snapshot, role=PEER, coordinator_only=False),
                Method("peer.throttle_pull", self._on_pull, role=PEER, coordinator_only=False)]

    def start(self) -> None:
        for peer, link in self.links.items():
            thread = threading.Thread(target=self._ship_loop, args=(link,), name=f"throttle-to-{peer}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, deadline_s: float) -> None:
        self._stopped.set()
        for link in self.links.values():
            link.abort()
        for thread in self._threads:
            thread.join(max(0.0, deadline_s - self.clock.monotonic_s()))

    def _on_snapshot(self, sender: int, body) -> dict:
        if self.is_coordinator():
            self.throttle.merge(body, self.clock.monotonic_s())
        else:
            self.throttle.replace(body, self.clock.monotonic_s())
        return {}

    def _on_pull(self, sender: int, body) -> dict:
        return self._snapshot()

    def _snapshot(self) -> dict:
        """The throttle's snapshot, its most pressing keys only when all of them would not fit in a request line."""
        max_keys = MAX_SNAPSHOT_KEYS
        while True:
            snapshot = self.throttle.snapshot(self.clock.monotonic_s(), max_keys)
            size = len(json.dumps(snapshot, separators=(",", ":")))
            if size <= self.max_bytes or max_keys <= 1:
                return snapshot
            max_keys = max(1, min(max_keys, len(snapshot["failures"]) + len(snapshot["locks"])) * self.max_bytes // size * 9 // 10)

    def _ship_loop(self, link: PeerLink) -> None:
        shipped = None  # the throttle's version the peer holds, as far as this node knows
        while not self._stopped.wait(SHIP_INTERVAL_S):
            if not self.is_coordinator():
                shipped = None
                continue
            version = self.throttle.version
            if version == shipped:
                continue
            try:
                link.call("peer.throttle", self._snapshot())
                shipped = version
            except (PeerUnavailable, PeerRefused) as exc:
                log.debug("throttle not shipped to node %d: %s", link.peer_id, exc)

    def pull_from_peers(self) -> None:
        """On taking over: merge every reachable peer's snapshot, on a thread of its own (serving does not wait)."""
        threading.Thread(target=self._pull_all, name="throttle-pull", daemon=True).start()

    def _pull_all(self) -> None:
        for link in self.links.values():
            if self._stopped.is_set():
                return
            try:
                self.throttle.merge(link.call("peer.throttle_pull", {}), self.clock.monotonic_s())
            except (PeerUnavailable, PeerRefused, ValueError) as exc:  # ValidationError is a ValueError
                log.debug("no throttle snapshot from node %d: %s", link.peer_id, exc)
