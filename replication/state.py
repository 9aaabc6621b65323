"""Replication's rules as pure state machines (sans-I/O), the same shape as election/bully.py.

Rules:
- Time comes in only as `now` (ms). Nothing here opens a socket, starts a
  thread, takes a lock, reads a clock or runs SQL: replication/runner.py reads
  and writes the database, sends, and feeds what happened back in. Every input
  returns a Ready: writes now acknowledged or refused, peers to pull from, an
  epoch the election must hear of, whether to start serving, events to log.
- CoordinatorState.begin(epoch) starts a generation. Every follower is
  UNKNOWN until contacted. The coordinator serves clients only once the
  take-over sync (a pull from every peer) is done for each peer.
- A follower is IN_SYNC when its last answer showed it holding everything the
  coordinator held when that push was read, or lacking no more than one
  batch of it (the next push carries the rest: a probe's answer, a burst);
  CATCHING_UP when more than a batch behind; DOWN after a failed contact.
- A write (the origins it must wait for) is acknowledged once acks_required
  followers hold it, or once no follower that could still take it soon
  (IN_SYNC; UNKNOWN: not contacted yet; or CATCHING_UP after it was IN_SYNC
  in this term: a burst, or a slow link, put it more than a batch behind) is
  left without it. A DOWN follower (failed contact) does not count, and
  neither does one CATCHING_UP since it was reached (a returning node's bulk
  catch-up must not hold every sale for timeout_ms). timeout_ms after it committed, a write is
  acknowledged with the copies it has. The answer says how many nodes hold
  it (this one included).
- A write acknowledged with fewer copies than it asks for (acks_required + 1,
  at most the cluster's size) is counted (under_replicated_acks), and noted
  once per episode: acknowledged_short at the first, replicated_again at the
  next write acknowledged with all its copies. With strict, such a write is
  refused instead (too_few: it stays durable here, and is replicated later).
- A push has its own timeout, push_timeout_ms(entries): a write's wait
  (timeout_ms) plus PUSH_MS_PER_CHANGE per change it carries; never the
  election's failure timeout, so a slow link delays copies without dropping
  the follower from the count (the runner sizes catch-up pulls the same way).
- Time this node did not run does not count against a waiting write: when two
  inputs are more than stall_ms apart (the process was paused, or starved;
  at least STALL_MS, and several heartbeats, since the runner ticks 4 times per heartbeat),
  every deadline moves by the gap, so a coordinator waking from a pause first
  hears from its followers (and learns of a newer epoch) instead of
  acknowledging with one copy.
- A write stamped in another epoch than the one being served, or arriving
  while not serving, is refused: it never gets an acknowledgement from here.
- A push answered as stale (the follower knows a newer epoch) is reported to
  the election (observed_epoch) and every waiting write is refused. end()
  refuses every waiting write too.
- A follower holding changes the coordinator lacks is pulled from: histories
  meet by union.
- When to push is decided here too (next_push): one push at a time per
  follower; a follower not yet reached or DOWN gets a probe, one behind gets
  entries at once, one holding everything gets the next push when there is
  news or after heartbeat_ms (a probe that doubles as a heartbeat); after a
  failed push the next waits heartbeat_ms, after "not ready" a quarter of it.
- FollowerState: a push is applied only when it comes from the coordinator
  this node follows, in that coordinator's epoch; of an older epoch it is
  answered PushOldEpoch, else PushNotReady. After a push that left the follower
  holding all the coordinator held (and no more to come), it has caught up.
- A follower's lag (for reports from followers) is bounded on its own clock only:
  it stamps each answer to a push with `now`; a push echoes the latest stamp its
  coordinator had received before reading its vector, so that vector is newer
  than the echoed stamp. After a push leaving the follower holding that whole
  vector, the coordinator held nothing it lacks as of the echo: its lag is at
  most now - echo (a round trip plus the wait for the next push; a slow or cut
  link makes it grow). Only stamps this follower issued itself (its last
  ISSUED_STAMPS answers) count; before any, the lag is unknown.
"""

from collections import deque
from dataclasses import dataclass, field, replace

from election.bully import ElectionView
from models.changes import Origin, Vector, covers, covers_all, position
from replication.messages import Push, PushAccepted, PushAnswer, PushNotReady, PushOldEpoch
from runtime.events import Event, event
from runtime.settings import default_int

UNKNOWN, IN_SYNC, CATCHING_UP, DOWN = "unknown", "in_sync", "catching_up", "down"
REPLICATION_BATCH = 1000  # changes per push or pull: about 300 KiB, far below MAX_LINE_BYTES
HEARTBEAT_INTERVAL_MS = default_int("HEARTBEAT_INTERVAL_MS")
NOT_READY_RETRY_DIVISOR = 4  # after "not ready" the next push waits heartbeat_ms / this: the announcement is on its way
STALL_MS = 1000  # the runner feeds the clock every few tens of ms: a longer gap means this node did not run
PUSH_MS_PER_CHANGE = 2  # a push's timeout grows by this per change it carries: applying a full batch takes time
STALL_HEARTBEATS = 4  # with a long heartbeat, a stall is a gap of this many heartbeats (the runner ticks 4 per heartbeat)
ISSUED_STAMPS = 64  # a follower recognises an echo among its last this many answers to pushes (one is in flight at a time)


@dataclass
class Follower:
    """What the coordinator knows of one follower in this generation."""

    peer: int
    state: str = UNKNOWN
    vector: Vector = field(default_factory=dict)
    taken_over: bool = False
    holds_all: bool = False  # its last answer showed everything the push was read from
    fell_behind: bool = False  # CATCHING_UP after being IN_SYNC in this term (a burst), not a returning node's catch-up
    in_flight: bool = False  # a push is out, its answer not in yet
    not_before: int = 0  # no push before this (ms): backing off after a failure or "not ready"
    last_push_at: int | None = None


@dataclass(frozen=True)
class PushNow:
    """Push to the follower now: the changes beyond `vector` it lacks (at most a batch), or only a probe."""

    vector: Vector
    send_entries: bool


@dataclass(frozen=True)
class WaitUntil:
    """No push is due before `until` (ms); when `unless_news`, a new local change makes one due at once."""

    until: int
    unless_news: bool


@dataclass(frozen=True)
class Waiting:
    write_id: int
    origins: tuple[Origin, ...]
    deadline: int


@dataclass
class Ready:
    """What one input asks of the runner."""

    acknowledged: list[tuple[int, int]] = field(default_factory=list)  # (write id, nodes holding it)
    refused: list[int] = field(default_factory=list)  # write ids that will never be acknowledged here
    too_few: list[tuple[int, int]] = field(default_factory=list)  # (write id, copies): refused, strict, too few copies
    pulls: list[int] = field(default_factory=list)  # peers holding changes this node lacks
    observed_epoch: tuple[int, int, int] | None = None  # (reporting peer, epoch, its coordinator) for the election
    serve: bool = False  # the take-over sync is done: start serving clients
    caught_up: bool = False  # follower side: the election may hear report_caught_up
    events: list[Event] = field(default_factory=list)

    def note(self, code: str, text: str, **fields) -> None:
        self.events.append(event(code, text, **fields))


class CoordinatorState:
    def __init__(self, node_id: int, peers: list[int], acks_required: int, timeout_ms: int, batch: int = REPLICATION_BATCH,
                 heartbeat_ms: int = HEARTBEAT_INTERVAL_MS, strict: bool = False):
        self.node_id = node_id
        self.strict = strict
        self.under_replicated_acks = 0  # writes acknowledged with fewer copies than asked, since start
        self.refused_too_few = 0  # writes refused for too few copies (strict), since start
        self._short_episode = 0  # writes acknowledged short since the current episode began (0: none)
        self.batch = batch
        self.heartbeat_ms = heartbeat_ms
        self.stall_ms = max(STALL_MS, STALL_HEARTBEATS * heartbeat_ms)
        self.peers = sorted(peers)
        self.acks_required = acks_required
        self.timeout_ms = timeout_ms
        self.epoch = 0
        self.active = False  # coordinator of self.epoch (serving or taking over)
        self.serving = False
        self.followers: dict[int, Follower] = {}
        self._waiting: dict[int, Waiting] = {}
        self._last_now: int | None = None

    # -- role ----------------------------------------------------------------------------------
    def begin(self, epoch: int, now: int) -> Ready:
        """Become coordinator of `epoch`: take over from every peer first."""
        ready = Ready()
        self._refuse_all(ready)
        self.epoch, self.active, self.serving = epoch, True, False
        self.followers = {peer: Follower(peer) for peer in self.peers}
        ready.note("take_over_started", f"taking over as coordinator of epoch {epoch}: syncing from {self.peers or 'nobody'} first",
                   epoch=epoch)
        ready.serve = not self.peers
        return ready

    def end(self, now: int) -> Ready:
        """Stop being coordinator: every waiting write is refused."""
        ready = Ready()
        self.active = self.serving = False
        self._refuse_all(ready)
        return ready

    def take_over_done(self, peer: int, now: int) -> Ready:
        """The take-over pull from `peer` finished (or the peer could not be reached)."""
        ready = Ready()
        if self.active and peer in self.followers:
            self.followers[peer].taken_over = True
            ready.serve = not self.serving and all(f.taken_over for f in self.followers.values())
        return ready

    def serving_started(self, position_now: int, now: int) -> Ready:
        ready = Ready()
        if self.active:
            self.serving = True
            ready.note("serving", f"coordinator of epoch {self.epoch} serving clients at position {position_now}",
                       epoch=self.epoch, position=position_now)
        return ready

    # -- writes --------------------------------------------------------------------------------
    def change_committed(self, write_id: int, epoch: int, origins: list[Origin], now: int) -> Ready:
        """A write stamped in `epoch` is durable here; its answer waits for `origins` to be replicated."""
        ready = self._ready(now)
        if not self.serving or epoch != self.epoch:
            ready.refused.append(write_id)
            return ready
        waiting = Waiting(write_id, tuple(_latest_per_key(origins)), now + self.timeout_ms)
        if not self._settle(waiting, now, ready):
            self._waiting[write_id] = waiting
        return ready

    def tick(self, now: int) -> Ready:
        """Acknowledge the writes whose wait is over."""
        ready = self._ready(now)
        self._settle_all(now, ready)
        return ready

    # -- pushes --------------------------------------------------------------------------------
    def next_push(self, peer: int, news: bool, now: int) -> PushNow | WaitUntil:
        """What to do towards `peer` now; `news`: this node committed changes since the last push to it was read.
        A PushNow counts as sent: the next comes after its answer (push_answered or push_failed)."""
        follower = self.followers.get(peer)
        if not self.active or follower is None or not follower.taken_over or follower.in_flight:
            return WaitUntil(now + self.heartbeat_ms, unless_news=False)
        if now < follower.not_before:
            return WaitUntil(follower.not_before, unless_news=False)
        current = follower.state == IN_SYNC and follower.holds_all
        if current and not news and follower.last_push_at is not None and now < follower.last_push_at + self.heartbeat_ms:
            return WaitUntil(follower.last_push_at + self.heartbeat_ms, unless_news=True)
        follower.in_flight, follower.last_push_at = True, now
        return PushNow(dict(follower.vector), send_entries=follower.state in (IN_SYNC, CATCHING_UP))

    def push_answered(self, peer: int, sent: Vector, more: bool, answer: PushAnswer, now: int) -> Ready:
        """`peer` answered a push read when this node held `sent` (`more`: not everything fit)."""
        ready = self._ready(now)
        if not self.active or peer not in self.followers:
            return ready
        self.followers[peer].in_flight = False
        if isinstance(answer, PushOldEpoch):
            ready.note("follower_reports_newer_epoch", f"follower {peer} is in epoch {answer.epoch} under node "
                       f"{answer.coordinator}: stepping down", peer=peer, epoch=answer.epoch)
            ready.observed_epoch = (peer, answer.epoch, answer.coordinator)
            self.serving = False
            self._refuse_all(ready)
            return ready
        if isinstance(answer, PushNotReady):
            self.followers[peer].not_before = now + max(1, self.heartbeat_ms // NOT_READY_RETRY_DIVISOR)
            return ready
        follower, theirs = self.followers[peer], answer.vector
        behind = sum(max(0, seq - theirs.get(key, 0)) for key, seq in sent.items())  # what it lacks, not a difference of totals
        holds_all = not more and covers_all(theirs, sent)
        close = not more and behind <= self.batch
        previous, held_all = follower.state, follower.holds_all
        follower.state, follower.vector, follower.holds_all = (IN_SYNC if close else CATCHING_UP), dict(theirs), holds_all
        follower.fell_behind = not close and (previous == IN_SYNC or (previous == CATCHING_UP and follower.fell_behind))
        if holds_all and not (previous == IN_SYNC and held_all):
            ready.note("follower_in_sync", f"follower {peer} in sync at position {position(theirs)}", peer=peer)
        elif previous in (UNKNOWN, DOWN) and not close:
            ready.note("follower_catching_up", f"follower {peer} is behind by {behind} changes: catch-up started", peer=peer)
        elif previous == IN_SYNC and not close:
            ready.note("follower_fell_behind", f"follower {peer} fell behind by {behind} changes", peer=peer)
        if any(seq > sent.get(key, 0) for key, seq in theirs.items()):
            ready.pulls.append(peer)
        self._settle_all(now, ready)
        return ready

    def push_failed(self, peer: int, reason: str, now: int) -> Ready:
        """A push to `peer` got no answer: it stops counting for waiting writes."""
        ready = self._ready(now)
        follower = self.followers.get(peer)
        if not self.active or follower is None:
            return ready
        if follower.state != DOWN:
            ready.note("follower_unreachable", f"follower {peer} unreachable: {reason}", peer=peer)
        follower.state, follower.in_flight, follower.not_before = DOWN, False, now + self.heartbeat_ms
        self._settle_all(now, ready)
        return ready

    # -- status --------------------------------------------------------------------------------
    def members(self, own_position: int) -> dict:
        """What this coordinator knows of every node, for cluster.status and for the followers."""
        summary = {str(self.node_id): {"role": "coordinator", "alive": True, "epoch": self.epoch, "position": own_position}}
        for f in self.followers.values():
            alive = f.state in (IN_SYNC, CATCHING_UP)
            summary[str(f.peer)] = {"role": "follower" if alive else "down", "alive": alive, "epoch": self.epoch if alive else None,
                                    "position": position(f.vector) if f.vector else None, "state": f.state}
        return summary

    def push_timeout_ms(self, entries: int) -> int:
        """How long a push carrying `entries` changes may take before it counts as failed."""
        return self.timeout_ms + entries * PUSH_MS_PER_CHANGE

    @property
    def copies_wanted(self) -> int:
        """Nodes that should hold a write: this one and acks_required followers (as many as there are)."""
        return 1 + min(self.acks_required, len(self.peers))

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def is_waiting(self, write_id: int) -> bool:
        return write_id in self._waiting

    # -- the acknowledgement rule ----------------------------------------------------------------
    def _ready(self, now: int) -> Ready:
        """A new Ready for an input at `now`; a stall since the last input moves every deadline by its length."""
        ready = Ready()
        gap = 0 if self._last_now is None else now - self._last_now
        self._last_now = max(now, self._last_now or now)
        if gap > self.stall_ms and self._waiting:
            self._waiting = {w: replace(waiting, deadline=waiting.deadline + gap) for w, waiting in self._waiting.items()}
            ready.note("stalled", f"this node did not run for {gap} ms: waiting writes wait that much longer", gap_ms=gap)
        return ready

    def _settle_all(self, now: int, ready: Ready) -> None:
        for waiting in list(self._waiting.values()):
            if self._settle(waiting, now, ready):
                del self._waiting[waiting.write_id]

    def _settle(self, waiting: Waiting, now: int, ready: Ready) -> bool:
        """Acknowledge `waiting` if the rule allows it now; True when it was."""
        holders = [f for f in self.followers.values() if all(covers(f.vector, o) for o in waiting.origins)]
        could_still = [f for f in self.followers.values()
                       if f not in holders and (f.state in (IN_SYNC, UNKNOWN) or (f.state == CATCHING_UP and f.fell_behind))]
        if len(holders) < self.acks_required and could_still and now < waiting.deadline:
            return False
        copies = 1 + len(holders)
        if copies >= self.copies_wanted:
            if self._short_episode:
                ready.note("replicated_again", f"writes get all their {copies} copies again, after {self._short_episode} "
                           f"acknowledged with fewer", copies=copies, short=self._short_episode)
                self._short_episode = 0
            ready.acknowledged.append((waiting.write_id, copies))
            return True
        why = f"followers {[f.peer for f in could_still]} did not confirm in time" if could_still else "no follower can take it now"
        if self.strict:
            self.refused_too_few += 1
            ready.too_few.append((waiting.write_id, copies))
            return True
        if not self._short_episode:
            ready.note("acknowledged_short", f"write acknowledged with {copies} of {self.copies_wanted} copies: {why}; "
                       f"counting until writes get all their copies again", copies=copies)
        self._short_episode += 1
        self.under_replicated_acks += 1
        ready.acknowledged.append((waiting.write_id, copies))
        return True

    def _refuse_all(self, ready: Ready) -> None:
        ready.refused.extend(self._waiting)
        self._waiting.clear()


def _latest_per_key(origins: list[Origin]) -> list[Origin]:
    """Vectors are gapless prefixes: holding an origin's last seq means holding the earlier ones."""
    latest: dict[tuple[int, int], Origin] = {}
    for origin in origins:
        if origin.key not in latest or origin.seq > latest[origin.key].seq:
            latest[origin.key] = origin
    return list(latest.values())


@dataclass(frozen=True)
class Freshness:
    """How far behind its coordinator a follower is, as far as it can tell (see the module's rules)."""

    coordinator: int  # whose pushes this node holds whole (0: none yet)
    epoch: int
    held_position: int  # the coordinator's position when it read the latest push this node holds whole
    coordinator_position: int | None  # the coordinator's position in the latest push heard from it
    lag_ms: int | None  # the coordinator held nothing this node lacks at most this long ago; None: unknown

    def refusal(self, coordinator: int, epoch: int, min_position: int, max_lag_ms: int) -> str | None:
        """Why this node may not answer a report as a follower of `coordinator` in `epoch` (None: it may):
        "lag" when it is not known to be within max_lag_ms (0: never), "min_position" when it does not hold that position yet."""
        if (self.coordinator, self.epoch) != (coordinator, epoch) or self.lag_ms is None or not 0 <= self.lag_ms <= max_lag_ms \
                or max_lag_ms == 0:
            return "lag"
        return "min_position" if min_position > self.held_position else None


class FollowerState:
    """The follower's side: which pushes to apply, when it has caught up, and how fresh it is."""

    def __init__(self):
        self.members: dict = {}  # the coordinator's latest view of every node
        self.members_from = 0
        self._catching_up_since: int | None = None
        self._caught_up_with: tuple[int, int] | None = None  # (coordinator, epoch) last caught up with
        self._stamps: deque[int] = deque(maxlen=ISSUED_STAMPS)  # when this node answered its latest pushes
        self._heard: tuple[int, int, int] = (0, 0, 0)  # (coordinator, epoch, its position) of the latest push applied
        self._held: tuple[int, int, int, int] | None = None  # (coordinator, epoch, position, echo) of the latest held whole

    def admit(self, sender: int, push: Push, view: ElectionView) -> PushOldEpoch | PushNotReady | None:
        """None when the push may be applied; else the answer refusing it."""
        if push.epoch < view.epoch:
            return PushOldEpoch(view.epoch, view.coordinator if view.coordinator_epoch == view.epoch else 0)
        if not view.follows(sender, push.epoch):
            return PushNotReady(view.epoch, view.coordinator)
        return None

    def applying(self, sender: int, push: Push, own_position: int, now: int) -> Ready:
        """About to apply an admitted push's entries."""
        ready = Ready()
        if push.entries and self._caught_up_with != (sender, push.epoch) and self._catching_up_since is None:
            self._catching_up_since = now
            behind = max(0, push.position - own_position)
            ready.note("catch_up_started", f"catch-up from node {sender} started: {behind} change{'' if behind == 1 else 's'} behind",
                       coordinator=sender)
        return ready

    def applied(self, sender: int, push: Push, mine: Vector, now: int) -> tuple[PushAccepted, Ready]:
        """An admitted push is applied and this node now holds `mine`: the answer, and whether it caught up."""
        ready = Ready()
        if push.members:
            self.members, self.members_from = push.members, sender
        self._heard = (sender, push.epoch, push.position)
        if push.echo is not None and push.echo in self._stamps and covers_all(mine, push.vector):
            self._held = (sender, push.epoch, push.position, push.echo)
        self._stamps.append(now)
        if not push.more and covers_all(mine, push.vector):
            if self._catching_up_since is not None:
                ready.note("catch_up_finished", f"catch-up from node {sender} finished in {now - self._catching_up_since} ms: "
                           f"position {position(mine)}", coordinator=sender)
                self._catching_up_since = None
            self._caught_up_with = (sender, push.epoch)
            ready.caught_up = True
        return PushAccepted(mine, at=now), ready

    def freshness(self, now: int) -> Freshness:
        """What this node can tell of its lag now."""
        heard_from, heard_epoch, heard_position = self._heard
        if self._held is None:
            return Freshness(0, 0, 0, heard_position if heard_from else None, None)
        coordinator, epoch, position, since = self._held
        latest = heard_position if (heard_from, heard_epoch) == (coordinator, epoch) else position
        return Freshness(coordinator, epoch, position, max(latest, position), max(0, now - since))
