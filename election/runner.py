"""The I/O around the bully machine: a lock, a ticker thread, one mailbox thread per peer.

For every Ready the machine returns, the runner persists the epoch first (it
returns only once durable), logs the events, reports a role change, and only
then hands the messages to the peers' mailboxes. A mailbox sends one message
at a time and tells the machine when a send failed. Full mailboxes drop their
oldest message: election messages are only worth anything when fresh.
"""

import logging
import queue
import threading
import time
from typing import Callable

from election.bully import BullyMachine, Ready, RoleChange
from election.messages import to_json
from replication.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.election")
TICKS_PER_HEARTBEAT = 4
MAILBOX_SIZE = 64


def monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


class ElectionRunner:
    def __init__(self, machine: BullyMachine, links: dict[int, PeerLink], persist_epoch: Callable[[int], None],
                 on_role_change: Callable[[RoleChange], None], position: Callable[[], int], clock_ms=monotonic_ms):
        self.machine = machine
        self.persist_epoch = persist_epoch
        self.on_role_change = on_role_change
        self.position = position
        self.clock_ms = clock_ms
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._mailboxes = {peer: _Mailbox(link, self) for peer, link in links.items()}
        self._tick_s = max(machine.timing.heartbeat_ms // TICKS_PER_HEARTBEAT, 5) / 1000
        self._publish()

    def start(self) -> None:
        for mailbox in self._mailboxes.values():
            mailbox.start()
        with self._lock:
            self._execute(self.machine.start(self.clock_ms()))
        threading.Thread(target=self._tick_loop, name="election-ticker", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        for mailbox in self._mailboxes.values():
            mailbox.stop()

    def deliver(self, message) -> None:
        """A message from a peer (already authenticated)."""
        with self._lock:
            self._execute(self.machine.step(message, self.clock_ms()))

    def send_failed(self, peer: int) -> None:
        with self._lock:
            self._execute(self.machine.send_failed(peer, self.clock_ms()))

    def report_caught_up(self) -> None:
        with self._lock:
            self._execute(self.machine.report_caught_up(self.clock_ms()))

    def snapshot(self) -> tuple[str, int, int, int]:
        """(state, coordinator id or 0, the coordinator's epoch, the highest epoch seen), without taking the lock.

        The database writer reads this to stamp changes, while a thread holding the lock may be waiting for that
        very writer to persist an epoch: reading must never wait."""
        return self._published

    def _tick_loop(self) -> None:
        while not self._stopped.wait(self._tick_s):
            try:
                with self._lock:
                    self.machine.position = self.position()
                    self._execute(self.machine.tick(self.clock_ms()))
            except Exception:  # e.g. the epoch could not be persisted: log it and keep ticking, never die silently
                log.exception("election tick failed")

    def _publish(self) -> None:
        m = self.machine
        self._published = (m.state, m.coordinator, m.coordinator_epoch, m.epoch)  # one atomic assignment

    def _execute(self, ready: Ready) -> None:
        self._publish()
        if ready.persist_epoch is not None:
            self.persist_epoch(ready.persist_epoch)  # durable before any message says so
        for line in ready.events:
            log.info("%s", line)
        if ready.role_change is not None:
            self.on_role_change(ready.role_change)
        for peer, message in ready.messages:
            self._mailboxes[peer].put(message)


class _Mailbox:
    def __init__(self, link: PeerLink, runner: ElectionRunner):
        self.link = link
        self.runner = runner
        self._queue: queue.Queue = queue.Queue(MAILBOX_SIZE)
        self._thread = threading.Thread(target=self._run, name=f"election-to-{link.peer_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)

    def put(self, message) -> None:
        while True:
            try:
                self._queue.put_nowait(message)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                self.link.close()
                return
            try:
                self.link.call("peer.message", to_json(message))
            except PeerUnavailable:
                self.runner.send_failed(self.link.peer_id)
            except PeerRefused as exc:
                log.warning("node %d refused an election message: %s", self.link.peer_id, exc)
