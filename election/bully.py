"""The bully election with epochs, as a pure deterministic state machine.

Rules:
- Time only comes in through the `now` (milliseconds) of each call; nothing
  here reads a clock, opens a socket or starts a thread. Every call returns a
  Ready: the messages to send, the epoch to persist first (if any) and the
  role change (if any). The runner persists, then sends.
- A node that starts, or misses the coordinator's heartbeats for
  failure_ms, sends Election to every higher id. A node receiving Election
  from a lower id answers Ok; a follower that no longer hears its coordinator
  starts its own election (one that still hears it does not), a coordinator
  re-announces itself. What a call to step() sends to the message's sender is
  its answer: runners carry it back in the reply to the call that brought the
  message, so a node that can send but not be reached still hears its Ok.
- A follower that declared its coordinator silent and then follows it again
  (it answers Elections, yet its heartbeats never arrive) doubles the silence
  it allows before the next election, up to SILENCE_BACKOFF_MAX failure_ms.
- A candidate with no Ok within election_ms (or whose every higher peer is
  unreachable) becomes coordinator, but not before it has listened for an
  existing coordinator for failure_ms after starting; then it asks again,
  since peers that were down when it started may be up by now. One that got an Ok
  waits election_ms + failure_ms for Coordinator, then starts over.
- A new coordinator takes the epoch one above the highest it has seen and
  persists it before announcing. Coordinator and Heartbeat of an older epoch
  are ignored and answered with Stale; Election, Ok or Stale of a higher epoch
  makes a coordinator step down at once.
- A claim of the role (Coordinator, Heartbeat, a push) from a lower id than
  the coordinator a follower still hears is ignored, its epoch too. A
  coordinator that has been running receiving a lower id's claim reasserts
  itself under a new epoch (the highest live id wins); one that did not run
  for more than failure_ms (paused, starved) was rightly replaced: it follows.
- A node following a lower id (the primary returning) claims the role only
  once the application reports it caught up with that coordinator.
- Replication tells the election what it learns through explicit inputs:
  observe_coordinator (a push from a coordinator counts as its heartbeat),
  observe_epoch (a follower answered with a newer epoch) and
  report_caught_up. Nothing else may feed it messages it did not receive.
- set_unfit(reason) (e.g. its storage fails): a coordinator leaves the role
  at once (no more heartbeats), and until set_unfit(None) the node claims
  nothing, starts no election and answers no Election (the lower ids elect
  among themselves, as if it were down); it follows whoever coordinates, and
  once fit again rejoins (a higher id reclaims after catching up).
- Unknown message types raise TypeError: nothing is silently ignored.
"""

from dataclasses import dataclass, field

from election.messages import Coordinator, Election, Heartbeat, Ok, Stale
from runtime.events import Event, event
from runtime.settings import default_int

HEARTBEAT_INTERVAL_MS = default_int("HEARTBEAT_INTERVAL_MS")
FAILURE_TIMEOUT_MS = default_int("FAILURE_TIMEOUT_MS")
ELECTION_TIMEOUT_MS = default_int("ELECTION_TIMEOUT_MS")
SILENCE_BACKOFF_MAX = 8  # a coordinator that answers but is never heard: wait up to this many failure timeouts between elections

CANDIDATE = "candidate"
WAITING = "waiting"  # got an Ok, waiting for the Coordinator announcement
FOLLOWER = "follower"
COORDINATOR = "coordinator"


@dataclass(frozen=True)
class Timing:
    heartbeat_ms: int = HEARTBEAT_INTERVAL_MS
    failure_ms: int = FAILURE_TIMEOUT_MS
    election_ms: int = ELECTION_TIMEOUT_MS


@dataclass(frozen=True)
class ElectionView:
    """What the election says now: state, the coordinator followed or 0, its epoch, the highest epoch seen."""

    state: str
    coordinator: int
    coordinator_epoch: int
    epoch: int
    unfit: str | None = None  # why this node takes no part in the role now (e.g. "storage"), or None

    @property
    def is_coordinator(self) -> bool:
        return self.state == COORDINATOR

    def follows(self, node: int, epoch: int) -> bool:
        """True when this node follows `node` as the coordinator of `epoch`."""
        return self.state == FOLLOWER and self.coordinator == node and self.coordinator_epoch == epoch


@dataclass(frozen=True)
class RoleChange:
    """This node now has `role` in `epoch`, under `coordinator` (itself when coordinator)."""

    role: str
    epoch: int
    coordinator: int
    reason: str


@dataclass
class Ready:
    """What one call asks of the runner: persist `persist_epoch` first, then send `messages`."""

    messages: list = field(default_factory=list)  # (peer id, message)
    persist_epoch: int | None = None
    role_change: RoleChange | None = None
    events: list[Event] = field(default_factory=list)  # for the log

    def send(self, peer: int, message) -> None:
        self.messages.append((peer, message))

    def note(self, code: str, text: str, **fields) -> None:
        self.events.append(event(code, text, **fields))


class BullyMachine:
    def __init__(self, node_id: int, peers: list[int], epoch: int = 0, timing: Timing = Timing()):
        if node_id in peers:
            raise ValueError("a node is not its own peer")
        self.node_id = node_id
        self.peers = sorted(peers)
        self.higher = [p for p in self.peers if p > node_id]
        self.timing = timing
        self.epoch = epoch  # the highest epoch seen (and persisted)
        self.state = CANDIDATE
        self.coordinator = 0  # 0: none known
        self.coordinator_epoch = 0
        self.caught_up = False
        self.unfit: str | None = None  # set_unfit: why this node may not hold the role now
        self._listen_until = 0
        self._listening = False
        self._deadline = 0
        self._failed_higher: set[int] = set()
        self._last_heard = 0
        self._silence_ms = timing.failure_ms  # how long the followed coordinator may be silent: failure_ms, more when backing off
        self._declared_silent: tuple[int, int] | None = None  # (coordinator, epoch) last declared silent
        self._next_heartbeat = 0
        self._last_input: int | None = None  # when this machine last got any input
        self._woke_at: int | None = None  # when it last came back from not running for longer than failure_ms
        self.position = 0  # set by the application; carried in heartbeats

    def view(self) -> ElectionView:
        return ElectionView(self.state, self.coordinator, self.coordinator_epoch, self.epoch, self.unfit)

    # -- inputs ----------------------------------------------------------------------------
    def start(self, now: int) -> Ready:
        """Begin: listen for a coordinator for failure_ms while asking the higher ids."""
        ready = Ready()
        self._last_input = now
        self._listen_until = now + self.timing.failure_ms
        self._listening = True
        self._start_election(now, ready, "starting up")
        return ready

    def tick(self, now: int) -> Ready:
        """Advance time: heartbeats, failure detection, election deadlines."""
        ready = Ready()
        self._awake(now)
        if self.state == COORDINATOR:
            if now >= self._next_heartbeat:
                for peer in self.peers:
                    ready.send(peer, Heartbeat(self.node_id, self.coordinator_epoch, self.position))
                self._next_heartbeat = now + self.timing.heartbeat_ms
        elif self.state == FOLLOWER:
            if now - self._last_heard > self._silence_ms:
                self._declared_silent = (self.coordinator, self.coordinator_epoch)
                self._start_election(now, ready, f"coordinator {self.coordinator} silent for {now - self._last_heard} ms",
                                     code="missed_heartbeats", coordinator=self.coordinator)
            elif self.coordinator < self.node_id and self.caught_up and self.unfit is None:
                self._start_election(now, ready, f"caught up with temporary coordinator {self.coordinator}: reclaiming",
                                     reclaiming=True)
        elif self.unfit is not None:
            pass  # candidate or waiting, unfit: it asks nobody and claims nothing; it follows whoever claims the role
        elif self.state == CANDIDATE and self._listening and now >= self._listen_until:
            self._listening = False  # peers that were down when we started may be up now: ask again
            self._start_election(now, ready, f"no coordinator heard in {self.timing.failure_ms} ms", code="election_retried")
        elif self.state == CANDIDATE:
            no_higher_left = set(self.higher) <= self._failed_higher
            if (now >= self._deadline or no_higher_left) and now >= self._listen_until:
                self._become_coordinator(now, ready)
        elif self.state == WAITING and now >= self._deadline:
            self._start_election(now, ready, "no Coordinator announcement after an Ok")
        return ready

    def step(self, message, now: int) -> Ready:
        """Take one message from a peer."""
        if not isinstance(message, (Election, Ok, Coordinator, Heartbeat, Stale)):
            raise TypeError(f"not an election message: {message!r}")
        ready = Ready()
        if not self._known(message.sender, type(message).__name__, ready):
            return ready
        self._awake(now)
        if isinstance(message, (Coordinator, Heartbeat)):
            self._on_coordinator_claim(message.sender, message.epoch, type(message).__name__, now, ready)
            return ready
        self._see_epoch(message.epoch, message.sender, now, ready, step_down=not isinstance(message, Stale))
        if isinstance(message, Election):
            self._on_election(message, now, ready)
        elif isinstance(message, Ok):
            if self.state == CANDIDATE:
                self.state = WAITING
                self._deadline = now + self.timing.election_ms + self.timing.failure_ms
                ready.note("ok_received", f"Ok from {message.sender}: waiting for its Coordinator announcement", sender=message.sender)
        else:
            self._on_newer_epoch(message.sender, message.epoch, message.coordinator, now, ready)
        return ready

    def observe_coordinator(self, sender: int, epoch: int, now: int) -> Ready:
        """Replication received a push from `sender` as coordinator of `epoch`: it counts as its heartbeat."""
        ready = Ready()
        self._awake(now)
        if self._known(sender, "push", ready):
            self._on_coordinator_claim(sender, epoch, "push", now, ready)
        return ready

    def observe_epoch(self, reporter: int, epoch: int, coordinator: int, now: int) -> Ready:
        """Follower `reporter` answered that the cluster is in `epoch` under `coordinator` (0: unknown)."""
        ready = Ready()
        self._awake(now)
        if self._known(reporter, "epoch report", ready):
            self._see_epoch(epoch, reporter, now, ready, step_down=False)
            self._on_newer_epoch(reporter, epoch, coordinator, now, ready)
        return ready

    def set_unfit(self, reason: str | None, now: int) -> Ready:
        """This node cannot do the coordinator's job (`reason`, e.g. its storage fails), or can again (None). Unfit, a
        coordinator leaves the role at once (no more heartbeats: the others elect another), and no node claims it,
        answers Ok or starts an election until it is fit again; it still follows whoever coordinates."""
        ready = Ready()
        self._awake(now)
        if reason == self.unfit:
            return ready
        self.unfit = reason
        if reason is not None:
            ready.note("stepping_aside", f"unfit for the coordinator's role ({reason}): "
                       f"{'leaving it' if self.state == COORDINATOR else 'not claiming it'}", reason=reason)
            if self.state == COORDINATOR:
                self._start_election(now, ready, f"stepped aside: {reason}")
        else:
            ready.note("fit_again", "fit for the coordinator's role again: rejoining")
            if self.state in (CANDIDATE, WAITING):
                self._start_election(now, ready, "fit again")
        return ready

    def send_failed(self, peer: int, now: int) -> Ready:
        """A message to `peer` could not be delivered (connection refused, reset, timeout)."""
        if self.state == CANDIDATE and peer in self.higher:
            self._failed_higher.add(peer)
            return self.tick(now)  # every higher peer may be gone now: no need to wait for the deadline
        return Ready()  # ticking here could fire timers halfway through a backlog of messages not yet read

    def report_caught_up(self, coordinator: int, epoch: int, now: int) -> Ready:
        """The application holds everything `coordinator` of `epoch` had when it looked; ignored unless that is the
        coordinator this node follows now (a catch-up with an earlier one says nothing about this one)."""
        if self.state == FOLLOWER and not self.caught_up and (coordinator, epoch) == (self.coordinator, self.coordinator_epoch):
            self.caught_up = True
            return self.tick(now)
        return Ready()

    # -- transitions -------------------------------------------------------------------------
    def _awake(self, now: int) -> None:
        """Every input passes here: a gap longer than failure_ms since the last one means this node did not run
        (paused, starved), and the others may rightly have replaced it."""
        if self._last_input is not None and now - self._last_input > self.timing.failure_ms:
            self._woke_at = now
        self._last_input = now if self._last_input is None else max(now, self._last_input)

    def _woke_recently(self, now: int) -> bool:
        return self._woke_at is not None and now - self._woke_at <= self.timing.failure_ms

    def _hears_coordinator(self, now: int) -> bool:
        """A follower that heard its coordinator within failure_ms (and has run since): that coordinator is alive."""
        return self.state == FOLLOWER and now - self._last_heard <= self.timing.failure_ms and not self._woke_recently(now)

    def _known(self, sender: int, what: str, ready: Ready) -> bool:
        if sender == self.node_id or sender not in self.peers:
            ready.note("ignored_unknown_node", f"ignored {what} from unknown node {sender}", sender=sender)
            return False
        return True

    def _see_epoch(self, epoch: int, sender: int, now: int, ready: Ready, step_down: bool) -> None:
        """Remember (and persist) a higher epoch; a coordinator steps down unless the sender claims that epoch."""
        if epoch <= self.epoch:
            return
        self.epoch = epoch
        ready.persist_epoch = epoch
        if self.state == COORDINATOR and step_down:
            ready.note("stepping_down", f"stepping down: saw epoch {epoch} from node {sender}", epoch=epoch)
            self._start_election(now, ready, "stepped down (higher epoch)")

    def _on_newer_epoch(self, reporter: int, epoch: int, coordinator: int, now: int, ready: Ready) -> None:
        if self.state == COORDINATOR and epoch > self.coordinator_epoch:
            ready.note("stepping_down", f"stepping down: node {reporter} reports epoch {epoch}", epoch=epoch)
            if coordinator and coordinator != self.node_id:
                self._follow(coordinator, epoch, now, ready, "stepped down (stale epoch)")
            else:
                self._start_election(now, ready, "stepped down (stale epoch)")

    def _on_election(self, message: Election, now: int, ready: Ready) -> None:
        if message.sender > self.node_id:
            return  # Election only goes upwards; a higher sender is a confused peer
        if self.unfit is not None:
            ready.note("ignored_election", f"Election from node {message.sender} not answered: unfit ({self.unfit})",
                       sender=message.sender)
            return  # no Ok: the lower ids elect among themselves, as if this node were down
        ready.send(message.sender, Ok(self.node_id, self.epoch))
        ready.note("election_received", f"Election from node {message.sender}: answered Ok", sender=message.sender)
        if self.state == COORDINATOR:
            ready.send(message.sender, Coordinator(self.node_id, self.coordinator_epoch))
        elif self.state == FOLLOWER and not self._hears_coordinator(now):
            self._start_election(now, ready, f"Election from lower node {message.sender}")

    def _on_coordinator_claim(self, sender: int, epoch: int, what: str, now: int, ready: Ready) -> None:
        """Coordinator, Heartbeat or a push: `sender` claims the role in `epoch`."""
        if epoch < self.epoch:
            ready.send(sender, Stale(self.node_id, self.epoch, self.coordinator if self.coordinator_epoch == self.epoch else 0))
            ready.note("ignored_old_epoch", f"ignored {what} of old epoch {epoch} from node {sender}", sender=sender, epoch=epoch)
            return
        if self.state == FOLLOWER and sender < self.coordinator and self._hears_coordinator(now):
            ready.note("ignored_lower_claim", f"ignored {what} of epoch {epoch} from node {sender}: coordinator "
                       f"{self.coordinator} is alive", sender=sender, epoch=epoch)
            return  # its epoch is not taken either: the live coordinator's heartbeats must stay current here
        self._see_epoch(epoch, sender, now, ready, step_down=False)
        if self.state == COORDINATOR and sender < self.node_id:  # the epoch is at least its own here
            if not self._woke_recently(now):
                ready.note("reasserting", f"node {sender} claims epoch {epoch}: the highest live id keeps the role",
                           sender=sender, epoch=epoch)
                self._become_coordinator(now, ready)
                return
            if epoch == self.coordinator_epoch:
                self._start_election(now, ready, f"node {sender} also claims epoch {epoch}")
                return
            # a coordinator that did not run for a while was rightly replaced: it follows, catches up, then reclaims
        if self.state == FOLLOWER and sender == self.coordinator and epoch == self.coordinator_epoch:
            self._last_heard = now
            if what != "Coordinator":  # its own heartbeats, not only answers to our Elections: it is heard again
                self._silence_ms, self._declared_silent = self.timing.failure_ms, None
            return
        if self.state in (CANDIDATE, WAITING) and self.caught_up and sender < self.node_id:
            return  # reclaiming from a lower coordinator: our own announcement will settle it
        self._follow(sender, epoch, now, ready, f"{what} from node {sender}")

    def _start_election(self, now: int, ready: Ready, reason: str, reclaiming: bool = False, code: str = "election_started",
                        **fields) -> None:
        """One event says why and whom it asks (code and fields for tools; the text for a person)."""
        self.state = CANDIDATE
        self.coordinator = 0
        self.caught_up = reclaiming
        self._failed_higher = set()
        self._deadline = now + self.timing.election_ms
        ready.role_change = RoleChange(CANDIDATE, self.epoch, 0, reason)
        if self.unfit is not None:
            ready.note("election_withheld", f"no election ({reason}): unfit ({self.unfit}), waiting for a coordinator")
            return
        if self.higher:
            ready.note(code, f"{reason}: starting an election, asking node{'s' if len(self.higher) > 1 else ''} "
                             f"{', '.join(map(str, self.higher))}", **fields)
        elif code != "election_retried":  # the highest id asks nobody: its Coordinator announcement follows at once
            ready.note(code, f"{reason}: highest id, nobody to ask", **fields)
        for peer in self.higher:
            ready.send(peer, Election(self.node_id, self.epoch))
        if not self.higher and now >= self._listen_until:
            self._become_coordinator(now, ready)  # the highest id has nobody to ask

    def _become_coordinator(self, now: int, ready: Ready) -> None:
        if self.unfit is not None:
            raise AssertionError("an unfit node never claims the role")  # every caller checks first
        self.epoch += 1
        self.coordinator_epoch = self.epoch
        self.state = COORDINATOR
        self.coordinator = self.node_id
        ready.persist_epoch = self.epoch
        ready.role_change = RoleChange(COORDINATOR, self.epoch, self.node_id, "won the election")
        ready.note("coordinator_announced", f"Coordinator announced: node {self.node_id}, epoch {self.epoch}",
                   node=self.node_id, epoch=self.epoch)
        for peer in self.peers:
            ready.send(peer, Coordinator(self.node_id, self.epoch))
        self._next_heartbeat = now + self.timing.heartbeat_ms

    def _follow(self, coordinator: int, epoch: int, now: int, ready: Ready, reason: str) -> None:
        self.state = FOLLOWER
        self.coordinator = coordinator
        self.coordinator_epoch = epoch
        self.caught_up = False
        self._last_heard = now
        if (coordinator, epoch) == self._declared_silent:  # it answers our Elections, yet its heartbeats never arrive
            self._silence_ms = min(2 * self._silence_ms, SILENCE_BACKOFF_MAX * self.timing.failure_ms)
        else:
            self._silence_ms, self._declared_silent = self.timing.failure_ms, None
        ready.role_change = RoleChange(FOLLOWER, epoch, coordinator, reason)
        ready.note("following", f"following node {coordinator} in epoch {epoch} ({reason})", coordinator=coordinator, epoch=epoch)
