"""The I/O around replication's state machines (replication/state.py): threads, sockets, the database.

- One lock guards both machines; every input is fed under it and what the
  returned Ready asks is carried out: waiting writes are answered at once,
  events logged. What calls other parts (the election's inputs, pulls from
  peers, the serving hooks) runs after the lock is released. Lock order, never
  the other way: the election's lock (it calls follow_role), then this one,
  then the change log's (read under this one); election.view() takes none.
- Each coordinator term is a generation: inputs fed for an older generation
  are dropped, and its threads end. Once stopped, nothing begins again.
- As coordinator of an epoch (begin), one thread per follower first pulls
  what the peer holds that this node lacks (take-over sync), then pushes, in
  batches, every change the follower lacks: bulk catch-up first (reading the
  next batch while the follower applies this one), then new commits as they
  happen; an empty push every heartbeat interval doubles as a probe. Followers
  in step ask for the same changes: a read is kept until the next commit, so
  the second follower's push does not read the log again.
- A ticker feeds the clock to the machine, so a write's wait ends at its
  deadline even when no follower answers.
- As follower, pushes and pulls from peers are answered here (peer.push,
  peer.pull): a push is checked whole before anything is written, persisted
  before the answer, and counts as the coordinator's heartbeat. Each push
  echoes the follower's latest answer stamp known before its vector was read
  (a read-ahead batch: the one known when it was read), so the follower can
  bound its lag (freshness()).
"""

import itertools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Protocol

from db.changes import ChangeLog, read_after
from db.database import Database, DatabaseUnavailable
from db.merge import MalformedChange, apply_parsed, parse_entries
from election.bully import COORDINATOR, ElectionView
from models.changes import Origin, Vector, origin_from_wire, vector_after
from models.errors import ValidationError
from replication.messages import Pull, PullAnswer, Push, PushAccepted, PushOldEpoch, push_answer_from_json
from replication.state import REPLICATION_BATCH, CoordinatorState, FollowerState, Freshness, Ready, WaitUntil
from runtime.threads import join_until
from wire.jsonrpc import RpcError
from wire.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.replication")

TICKS_PER_HEARTBEAT = 4
ANSWER_MARGIN_S = 5.0  # a waiting write's answer comes by its deadline; past this margin something is broken


class Election(Protocol):
    """What replication tells the election and asks of it (election.runner.ElectionRunner)."""

    def view(self) -> ElectionView: ...
    def observe_coordinator(self, sender: int, epoch: int) -> None: ...
    def observe_epoch(self, reporter: int, epoch: int, coordinator: int) -> None: ...
    def report_caught_up(self, coordinator: int, epoch: int) -> None: ...


class NotAcknowledged(Exception):
    """The write is durable here but will not be acknowledged by this node: it is `stopping`, it would get only
    `too_few` copies (REPLICATION_STRICT), or else it is no longer coordinator."""

    def __init__(self, stopping: bool, too_few: int | None = None):
        super().__init__("node stopping" if stopping else f"only {too_few} copies" if too_few else "no longer coordinator")
        self.stopping = stopping
        self.too_few = too_few


@dataclass
class _Answer:
    done: threading.Event = field(default_factory=threading.Event)
    replicas: int | None = None  # None: refused
    stopping: bool = False  # refused because this node is stopping (read when refused, not when the writer wakes)
    too_few: int | None = None  # refused (strict) because only this many nodes hold it


class ReplicationRunner:
    def __init__(self, node_id: int, links: dict[int, PeerLink], database: Database, changes: ChangeLog, election: Election,
                 clock, heartbeat_ms: int, acks_required: int, timeout_ms: int, now_iso: Callable[[], str], strict: bool = False):
        self.node_id = node_id
        self.links = links
        self.db = database
        self.changes = changes
        self.election = election
        self.clock = clock
        self.heartbeat_s = heartbeat_ms / 1000
        self.now_iso = now_iso
        self.state = CoordinatorState(node_id, list(links), acks_required, timeout_ms, heartbeat_ms=heartbeat_ms, strict=strict)
        self.follower = FollowerState()
        self.answer_timeout_s = timeout_ms / 1000 + ANSWER_MARGIN_S
        self.serving = threading.Event()
        self._serving_hooks: list[Callable[[], None]] = []
        self._lock = threading.Condition()
        self._generation = 0
        self._answers: dict[int, _Answer] = {}
        self._write_ids = itertools.count(1)
        self._read_lock = threading.Lock()
        self._last_read: tuple | None = None  # ((last position, a follower's vector), what _read_now gave for them)
        self._stopping = False
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ticker = threading.Thread(target=self._tick_loop, name="replication-ticker", daemon=True)

    def on_serving(self, hook: Callable[[], None]) -> None:
        """Run hook() when a take-over is done, before clients are served (register before start)."""
        self._serving_hooks.append(hook)

    def start(self) -> None:
        self._ticker.start()

    # -- the election's role -------------------------------------------------------------------
    def follow_role(self, change) -> None:
        """Election role listener: coordinator of an epoch begins a generation; anything else ends it."""
        if change.role == COORDINATOR:
            self.begin(change.epoch)
        else:
            self.end()

    def begin(self, epoch: int) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            self._generation += 1
            generation = self._generation
            self.serving.clear()
            ready = self.state.begin(epoch, self._now())
            self._apply(ready)
            self._lock.notify_all()  # the last generation's loops wake up and end
        self._after(ready, generation)
        for peer in self.links:
            self._spawn(self._follower_loop, peer, generation, name=f"replicate-to-{peer}")

    def end(self) -> None:
        with self._lock:
            self._generation += 1
            self.serving.clear()
            self._apply(self.state.end(self._now()))
            self._lock.notify_all()

    def stop(self, writes_deadline_s: float, threads_deadline_s: float) -> None:
        """Let waiting writes be acknowledged until writes_deadline_s (monotonic), refuse the rest (as `stopping`),
        cut the links and wait for every thread until threads_deadline_s."""
        with self._lock:
            self._stopping = True
            self._lock.wait_for(lambda: self.state.waiting == 0, max(0.0, writes_deadline_s - self.clock.monotonic_s()))
            self._stopped.set()
        self.end()
        for link in self.links.values():
            link.abort()
        join_until([self._ticker, *self._threads], threads_deadline_s, self.clock)

    # -- the write path ------------------------------------------------------------------------
    def await_replicated(self, epoch: int, origins: list[Origin]) -> int:
        """Block until a committed write may be acknowledged; how many nodes hold it. NotAcknowledged otherwise."""
        answer = _Answer()
        with self._lock:
            write_id = next(self._write_ids)
            self._answers[write_id] = answer
            self._apply(self.state.change_committed(write_id, epoch, origins, self._now()))
        if not answer.done.wait(self.answer_timeout_s):
            with self._lock:  # a stall (e.g. SIGSTOP) moved the machine's deadline: its decision is still to come, once more
                still_deciding = self.state.is_waiting(write_id)
            if not (still_deciding and answer.done.wait(self.answer_timeout_s)):
                with self._lock:
                    self._answers.pop(write_id, None)
                if not answer.done.is_set():  # decided in the very last moment: take the decision
                    log.error("write %d got no acknowledgement decision within %.1f s", write_id, self.answer_timeout_s)
                    raise NotAcknowledged(stopping=False)
        if answer.replicas is None:
            raise NotAcknowledged(answer.stopping, answer.too_few)
        return answer.replicas

    def members(self) -> dict:
        with self._lock:
            return self.state.members(self.changes.position())

    def counters(self) -> dict:
        """For cluster.status: writes acknowledged with fewer copies than asked, and refused for it (strict)."""
        with self._lock:
            return {"under_replicated_acks": self.state.under_replicated_acks, "refused_too_few": self.state.refused_too_few}

    # -- feeding the machine -------------------------------------------------------------------
    def _now(self) -> int:
        return self.clock.monotonic_ms()

    def _feed(self, generation: int, machine_input: Callable[..., Ready], *args) -> Ready | None:
        """Feed machine_input(*args, now) in `generation`; None when that generation is over. The caller runs _after()."""
        with self._lock:
            if generation != self._generation:
                return None
            ready = machine_input(*args, self._now())
            self._apply(ready)
            if not self.state.serving:
                self.serving.clear()  # e.g. a follower answered with a newer epoch: no new write may start here
            return ready

    def _step(self, generation: int, machine_input: Callable[..., Ready], *args) -> Ready | None:
        """_feed, then carry out outside the lock what the Ready asks."""
        ready = self._feed(generation, machine_input, *args)
        self._after(ready, generation)
        return ready

    def _apply(self, ready: Ready) -> None:
        """Under the lock: answer the writes decided, log the events."""
        for write_id, replicas in ready.acknowledged:
            self._answer(write_id, replicas)
        for write_id in ready.refused:
            self._answer(write_id, None)
        for write_id, copies in ready.too_few:
            self._answer(write_id, None, too_few=copies)
        for event in ready.events:
            (log.warning if event.code in ("acknowledged_short", "follower_unreachable", "follower_fell_behind",
                                           "follower_reports_newer_epoch") else log.info)("%s", event.line())
        if ready.acknowledged or ready.refused or ready.too_few:
            self._lock.notify_all()

    def _answer(self, write_id: int, replicas: int | None, too_few: int | None = None) -> None:
        answer = self._answers.pop(write_id, None)
        if answer is not None:
            answer.replicas, answer.stopping = replicas, replicas is None and too_few is None and self._stopping
            answer.too_few = too_few
            answer.done.set()

    def _after(self, ready: Ready | None, generation: int) -> None:
        """Outside the lock: what the Ready asks of the election, of peers, and of the serving hooks."""
        if ready is None:
            return
        if ready.observed_epoch is not None:
            self.election.observe_epoch(*ready.observed_epoch)
        for peer in ready.pulls:
            self._pull_from(peer, generation, taking_over=False)
        if ready.serve:
            self._start_serving(generation)

    def _start_serving(self, generation: int) -> None:
        for hook in self._serving_hooks:
            if not self._active(generation):
                return
            try:
                hook()  # e.g. the demo data, before any client can see an empty chain
            except Exception as exc:  # a hook that fails must not keep the coordinator from serving
                if self._stopping or self._stopped.is_set() or isinstance(exc, (RpcError, DatabaseUnavailable)):
                    # refused (the node is stopping, or lost the role) or no database: expected, one line
                    log.warning("a take-over hook did not finish (%s: %s)", exc.__class__.__name__, exc)
                else:
                    log.exception("a take-over hook failed; serving without it")
        with self._lock:
            if generation != self._generation:
                return
            self._apply(self.state.serving_started(self.changes.position(), self._now()))
            if self.state.serving:
                self.serving.set()

    def _tick_loop(self) -> None:
        while not self._stopped.wait(self.heartbeat_s / TICKS_PER_HEARTBEAT):
            try:
                with self._lock:
                    self._apply(self.state.tick(self._now()))
            except Exception:  # never die silently: log, and tick again
                log.exception("replication tick failed")

    def _spawn(self, target, *args, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _active(self, generation: int) -> bool:
        return generation == self._generation and not self._stopped.is_set()

    def _pause(self, generation: int, seconds: float) -> None:
        """Wait `seconds`, or less when the generation ends."""
        with self._lock:
            self._lock.wait_for(lambda: self._generation != generation, seconds)

    # -- the coordinator's side: one loop per follower -------------------------------------------
    def _follower_loop(self, peer: int, generation: int) -> None:
        try:
            self._pull_from(peer, generation, taking_over=True)
        except Exception:  # never let one peer keep the new coordinator from serving
            log.exception("take-over sync from node %d failed", peer)
        try:
            self._step(generation, self.state.take_over_done, peer)
        except Exception:
            log.exception("take-over from node %d could not be completed", peer)
        while self._active(generation):
            try:
                with ThreadPoolExecutor(1, thread_name_prefix=f"read-ahead-{peer}") as read_ahead:
                    self._push_loop(peer, generation, read_ahead)
                return
            except Exception as exc:  # e.g. a database error: log it, count the follower as unreached, try again
                log.exception("replication to node %d failed", peer)
                self._step(generation, self.state.push_failed, peer, f"internal error: {exc}")

    def _read(self, mine: Vector, theirs: Vector) -> tuple[list, bool]:
        return self.db.read(lambda c: read_after(c, mine, theirs, REPLICATION_BATCH))

    def _read_now(self, theirs: Vector) -> tuple[int, Vector, list, bool]:
        """(the log's last position, this node's vector, what `theirs` lacks, more?): the position is taken first, so
        whatever commits after it counts as news for the next push, never as pushed."""
        last_pos = self.changes.last_pos
        key = (last_pos, sorted(theirs.items()))
        with self._read_lock:
            if self._last_read is not None and self._last_read[0] == key:
                return self._last_read[1]  # nothing committed since: the same read
        mine = self.changes.vector()
        read = (last_pos, mine, *self._read(mine, theirs))
        with self._read_lock:
            self._last_read = (key, read)
        return read

    def _push_loop(self, peer: int, generation: int, read_ahead: ThreadPoolExecutor) -> None:
        """Carry out the machine's next_push towards `peer` until the generation ends."""
        link = self.links[peer]
        last_seen = 0  # the change log's last position when the last push was read
        ahead = None  # (the follower vector it assumes, Future of (mine, entries, more), the echo known before it was read)
        echo = None  # the follower's latest answer stamp (PushAccepted.at): taken before a vector is read, sent with it
        while self._active(generation):
            with self._lock:
                if generation != self._generation:
                    return
                order = self.state.next_push(peer, self.changes.last_pos > last_seen, self._now())
                epoch = self.state.epoch
            if isinstance(order, WaitUntil):
                wait_s = max(0.0, (order.until - self._now()) / 1000)
                if order.unless_news:
                    self.changes.wait_for_news(last_seen, wait_s)
                else:
                    self._pause(generation, wait_s)
                continue
            if ahead is not None and ahead[0] == order.vector:
                sent_echo = ahead[2]
                last_seen, mine, entries, more = ahead[1].result()
            elif order.send_entries:
                sent_echo = echo
                last_seen, mine, entries, more = self._read_now(order.vector)
            else:
                sent_echo = echo
                last_seen, mine, entries, more = self.changes.last_pos, self.changes.vector(), [], False
            ahead = None
            if more:  # catching up: read the next batch while the follower applies this one
                expected = vector_after(order.vector, [origin_from_wire(e["origin"]) for e in entries])
                ahead = (expected, read_ahead.submit(self._read_now, expected), echo)
            push = Push(epoch, tuple(entries), more, mine, self.members(), sent_echo)
            try:
                timeout_s = self.state.push_timeout_ms(len(entries)) / 1000  # its own, not the election's failure timeout
                answer = push_answer_from_json(link.call("peer.push", push.to_json(), timeout_s))
            except (PeerUnavailable, PeerRefused, ValueError) as exc:
                self._step(generation, self.state.push_failed, peer, str(exc))
                continue
            if isinstance(answer, PushAccepted) and answer.at is not None:
                echo = answer.at
            self._step(generation, self.state.push_answered, peer, mine, more, answer)
            if isinstance(answer, PushOldEpoch):
                return

    def _pull_from(self, peer: int, generation: int, taking_over: bool) -> None:
        """Fetch from `peer` every change it holds that this node lacks."""
        link, pulled = self.links[peer], 0
        # A take-over pull keeps the link's short timeout: a paused or silent peer must not hold up serving for long.
        # Any other pull is sized to the batch it may bring, as a push is: a slow link delays it, without failing it.
        timeout_s = None if taking_over else self.state.push_timeout_ms(REPLICATION_BATCH) / 1000
        while self._active(generation):
            try:
                answer = PullAnswer.from_json(link.call("peer.pull", Pull(self.changes.vector(), REPLICATION_BATCH).to_json(), timeout_s))
                parsed = parse_entries(list(answer.entries))
            except (PeerUnavailable, PeerRefused) as exc:
                if taking_over:
                    log.info("take-over sync: node %d unreachable (%s)", peer, exc)
                break
            except ValueError as exc:  # MalformedChange included: nothing of it is written
                log.error("refused what node %d sent: %s", peer, exc)
                break
            if parsed:
                pulled += self.db.write(partial(apply_parsed, parsed=parsed, merged_at=self.now_iso())).applied
            if not answer.more or not parsed:
                break
        if pulled:
            log.info("pulled %d change%s from node %d that this node lacked%s", pulled, "" if pulled == 1 else "s", peer,
                     " (take-over sync)" if taking_over else "")

    # -- the follower's side: answering peers ------------------------------------------------------
    def handle_push(self, sender: int, body) -> dict:
        """peer.push: apply the coordinator's changes (checked whole first) and answer with the vector now held."""
        try:
            push = Push.from_json(body)
            parsed = parse_entries(list(push.entries))  # malformed input is refused before anything else
        except MalformedChange as exc:
            log.error("refused a batch from node %d: %s", sender, exc)
            raise ValidationError("entries", str(exc)) from None
        except ValueError as exc:
            raise ValidationError("body", str(exc)) from None
        self.election.observe_coordinator(sender, push.epoch)
        with self._lock:
            refusal = self.follower.admit(sender, push, self.election.view())
            if refusal is not None:
                return refusal.to_json()
            self._apply(self.follower.applying(sender, push, self.changes.position(), self._now()))
        if parsed:
            self.db.write(partial(apply_parsed, parsed=parsed, merged_at=self.now_iso()))
        with self._lock:
            answer, ready = self.follower.applied(sender, push, self.changes.vector(), self._now())
            self._apply(ready)
        if ready.caught_up:
            self.election.report_caught_up(sender, push.epoch)
        return answer.to_json()

    def handle_pull(self, sender: int, body) -> dict:
        """peer.pull: what the asker's vector lacks, from this node's log, in its order."""
        try:
            pull = Pull.from_json(body, REPLICATION_BATCH)
        except ValueError as exc:
            raise ValidationError("body", str(exc)) from None
        mine = self.changes.vector()
        entries, more = self.db.read(lambda c: read_after(c, mine, pull.vector, pull.limit))
        return PullAnswer(tuple(entries), more, mine).to_json()

    def freshness(self) -> Freshness:
        """As a follower: how far behind its coordinator this node is, as far as it can tell (reports from followers)."""
        with self._lock:
            return self.follower.freshness(self._now())

    def followed_members(self, coordinator: int) -> dict:
        """The latest view of the cluster pushed by `coordinator`, or {} when it is not the one that pushed it."""
        with self._lock:
            return dict(self.follower.members) if self.follower.members_from == coordinator else {}
