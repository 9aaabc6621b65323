"""The I/O around the bully machine: a lock, a ticker thread, one mailbox thread per peer.

For every Ready the machine returns, the runner persists the epoch first (it
returns only once durable), logs the events, tells the role listeners, and
only then hands the messages to the peers' mailboxes. A mailbox sends one
message at a time and tells the machine when a send failed. Full mailboxes
drop their oldest message: election messages are only worth anything when fresh.

What the machine sends to the sender of the message it just took (Ok, a
Coordinator announcement, Stale) is that message's answer: deliver() returns
it, the peer's call carries it back, and the peer's mailbox feeds it to its
machine. So a node that can send but cannot be reached still hears its Ok.

What replication learns reaches the machine through observe_coordinator,
observe_epoch and report_caught_up. view() never waits for the lock: the
write path reads it while a thread holding the lock may be waiting for that
very writer to persist an epoch.
"""

import logging
import queue
import threading
from typing import Callable

from election.bully import BullyMachine, ElectionView, Ready, RoleChange
from election.messages import from_json, to_json
from runtime.events import RepeatLimiter
from runtime.threads import join_until
from wire.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.election")
TICKS_PER_HEARTBEAT = 4
MIN_TICK_MS = 5
MAILBOX_SIZE = 64


class ElectionRunner:
    def __init__(self, machine: BullyMachine, links: dict[int, PeerLink], persist_epoch: Callable[[int], None],
                 position: Callable[[], int], clock):
        self.machine = machine
        self.persist_epoch = persist_epoch
        self.position = position
        self.clock = clock
        self._listeners: list[Callable[[RoleChange], None]] = []
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._mailboxes = {peer: _Mailbox(link, self) for peer, link in links.items()}
        self._tick_s = max(machine.timing.heartbeat_ms // TICKS_PER_HEARTBEAT, MIN_TICK_MS) / 1000
        self._ticker = threading.Thread(target=self._tick_loop, name="election-ticker", daemon=True)
        self._published = machine.view()
        self._repeats = RepeatLimiter()  # a burst of one event (stale heartbeats after a pause) logs a few lines and a count

    def listen(self, listener: Callable[[RoleChange], None]) -> None:
        """Call listener(change) on every role change (register before start)."""
        self._listeners.append(listener)

    def start(self) -> None:
        for mailbox in self._mailboxes.values():
            mailbox.start()
        with self._lock:
            self._execute(self.machine.start(self.clock.monotonic_ms()))
        self._ticker.start()

    def stop(self, deadline_s: float) -> None:
        """Stop ticking and sending: unsent messages are dropped, sends in progress cut short; returns once the
        threads are gone, or at the monotonic deadline_s."""
        self._stopped.set()
        for mailbox in self._mailboxes.values():
            mailbox.stop()
        join_until([self._ticker, *(m.thread for m in self._mailboxes.values())], deadline_s, self.clock)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    # -- inputs --------------------------------------------------------------------------------
    def deliver(self, message) -> list:
        """A message from a peer (already authenticated); the messages answering it, to go back in the call's reply."""
        return self._input(lambda now: self.machine.step(message, now), answering=message.sender)

    def take_answer(self, message) -> None:
        """A message a peer answered ours with: taken like any other, but what it asks to send goes by mailbox."""
        self._input(lambda now: self.machine.step(message, now))

    def send_failed(self, peer: int) -> None:
        self._input(lambda now: self.machine.send_failed(peer, now))

    def observe_coordinator(self, sender: int, epoch: int) -> None:
        self._input(lambda now: self.machine.observe_coordinator(sender, epoch, now))

    def observe_epoch(self, reporter: int, epoch: int, coordinator: int) -> None:
        self._input(lambda now: self.machine.observe_epoch(reporter, epoch, coordinator, now))

    def set_unfit(self, reason: str | None) -> None:
        """This node cannot do the coordinator's job (e.g. "storage"), or can again (None)."""
        self._input(lambda now: self.machine.set_unfit(reason, now))

    def report_caught_up(self, coordinator: int, epoch: int) -> None:
        self._input(lambda now: self.machine.report_caught_up(coordinator, epoch, now))

    def view(self) -> ElectionView:
        """What the election says now, without taking the lock."""
        return self._published

    # -- running -------------------------------------------------------------------------------
    def _input(self, call: Callable[[int], Ready], answering: int | None = None) -> list:
        if self._stopped.is_set():
            return []
        with self._lock:
            return self._execute(call(self.clock.monotonic_ms()), answering)

    def _tick_loop(self) -> None:
        while not self._stopped.wait(self._tick_s):
            try:
                with self._lock:
                    self.machine.position = self.position()
                    self._execute(self.machine.tick(self.clock.monotonic_ms()))
            except Exception:  # e.g. the epoch could not be persisted: log it and keep ticking, never die silently
                log.exception("election tick failed")

    def _execute(self, ready: Ready, answering: int | None = None) -> list:
        """Carry out a Ready; what it sends to `answering` is returned instead of mailed."""
        self._published = self.machine.view()  # one atomic assignment
        if ready.persist_epoch is not None:
            self.persist_epoch(ready.persist_epoch)  # durable before any message says so
        for line in self._repeats.lines(ready.events, self.clock.monotonic_ms()):
            log.info("%s", line)
        if ready.role_change is not None:
            for listener in self._listeners:
                listener(ready.role_change)
        answers = []
        for peer, message in ready.messages:
            if peer == answering:
                answers.append(message)
            else:
                self._mailboxes[peer].put(message)
        return answers


class _Mailbox:
    def __init__(self, link: PeerLink, runner: ElectionRunner):
        self.link = link
        self.runner = runner
        self._queue: queue.Queue = queue.Queue(MAILBOX_SIZE)
        self.thread = threading.Thread(target=self._run, name=f"election-to-{link.peer_id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Drop what is waiting, wake the thread, and cut a send in progress short."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self.put(None)
        self.link.abort()

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
            if message is None or self.runner.stopped:
                self.link.close()
                return
            try:
                answers = parse_answers(self.link.call("peer.message", to_json(message)), self.link.peer_id)
            except PeerUnavailable:
                self.runner.send_failed(self.link.peer_id)
            except PeerRefused as exc:
                log.warning("node %d refused an election message: %s", self.link.peer_id, exc)
            except ValueError as exc:
                log.warning("node %d answered an election message with junk: %s", self.link.peer_id, exc)
            except Exception:  # e.g. the epoch could not be persisted: log it, keep the mailbox alive
                log.exception("sending to node %d failed", self.link.peer_id)
            else:
                try:
                    for answer in answers:
                        self.runner.take_answer(answer)
                except Exception:  # e.g. an epoch it names could not be persisted
                    log.exception("taking node %d's answer failed", self.link.peer_id)


def parse_answers(reply, peer: int) -> list:
    """The election messages a reply to peer.message carries (none from a node that sends none); ValueError on junk."""
    listed = reply.get("answers", []) if isinstance(reply, dict) else []
    if not isinstance(listed, list):
        raise ValueError("answers is not a list")
    answers = [from_json(a) for a in listed]
    if any(a.sender != peer for a in answers):
        raise ValueError("an answer names another sender")
    return answers
