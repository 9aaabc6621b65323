"""A deterministic simulator of whole nodes: the bully election and replication, glued as a node glues them.

Rules:
- A node runs a BullyMachine, a CoordinatorState and a FollowerState over what it
  persists: its store (origins in local order, a gapless prefix per origin) and its
  epoch. A crash keeps only those; a restart builds fresh machines from them.
- Network and faults are election/simulator.py's: fake clock, seeded latency, cut
  links and drops losing messages silently, one-way blocks (a Reply, like an
  election message's answer, travels over the caller's connection), crashed nodes
  refusing them at once, paused nodes holding them until they resume (and reading
  them all before ticking).
- Push and Pull are calls: one to a crashed node fails at once, one unanswered for
  call_timeout_ms fails then, a late answer is ignored; a role change drops them.
- A new coordinator pulls from every peer and serves once each pull sequence ended.
  Per follower it then keeps one push outstanding: what the follower lacks, a batch at
  a time, or to an in-sync follower on news or every heartbeat_ms. A failed push is
  retried after heartbeat_ms, PushNotReady after a quarter of it; while it pulls from
  a follower (which holds changes it lacks) it does not push to it.
- A client write to a node is refused at once unless the node serves, else committed
  there and answered when its CoordinatorState says.
- Invariants are checked at every step (AssertionError with the trace tail). No node
  claims an epoch twice (its origins would repeat); with unique_epochs no two nodes
  claim one: bully without a quorum does not promise that, since a node that never
  heard of an epoch (down, cut off, announcement lost) may claim it again.
"""

import heapq
from dataclasses import dataclass, field
from typing import Callable

from election.bully import COORDINATOR, FOLLOWER, Timing
from election.simulator import DEFAULT_TIMING, Simulation
from models.changes import Origin, Vector, covers, position
from replication.messages import Pull, PullAnswer, Push
from replication.state import IN_SYNC, CoordinatorState, FollowerState, WaitUntil
from runtime.settings import default_int

BATCH = 3  # changes per push or pull answer: small, so that `more` is exercised
ACKS_REQUIRED = default_int("REPLICATION_ACKS")
REPLICATION_TIMEOUT_MS = default_int("REPLICATION_TIMEOUT_MS")
SETTLE_LIMIT_MS = 30_000
TRACE_TAIL = 60


@dataclass(frozen=True)
class Request:
    call_id: int
    body: Push | Pull


@dataclass(frozen=True)
class Reply:
    call_id: int
    body: object  # PushAccepted, PushOldEpoch, PushNotReady or PullAnswer


@dataclass(frozen=True)
class Call:
    caller: int
    peer: int
    body: Push | Pull
    deadline: int


@dataclass
class Store:
    """A node's change log in local order, and its vector."""

    log: list[Origin] = field(default_factory=list)
    vector: Vector = field(default_factory=dict)

    def append(self, origin: Origin) -> bool:
        """Append `origin` if it continues its (node, epoch) sequence; False when held already."""
        if self.vector.get(origin.key, 0) != origin.seq - 1:
            return False
        self.log.append(origin)
        self.vector[origin.key] = origin.seq
        return True

    def lacking(self, vector: Vector, limit: int) -> tuple[tuple[Origin, ...], bool]:
        """What a holder of `vector` lacks, in local order: at most `limit`, and whether more remain."""
        missing = [o for o in self.log if not covers(vector, o)]
        return tuple(missing[:limit]), len(missing) > limit


@dataclass
class FollowerLink:
    """A coordinator's loop towards one follower: the take-over pull first, then one push at a time."""

    pulling: bool = True
    taking_over: bool = True
    pulled: int = 0
    log_length_pushed: int = 0  # the store's length when the last push was read: more is news


@dataclass
class Replication:
    """A node's replication machines, and (while coordinator) its follower loops and take-over record."""

    coordinator: CoordinatorState
    follower: FollowerState = field(default_factory=FollowerState)
    links: dict[int, FollowerLink] = field(default_factory=dict)
    acknowledged_before_take_over: set[int] = field(default_factory=set)
    take_over_answers: dict[int, Vector] = field(default_factory=dict)  # peer -> its vector when it said "no more"


class ClusterSimulation(Simulation):
    def __init__(self, node_ids: list[int], seed: int = 1, timing: Timing = DEFAULT_TIMING, latency_ms: tuple[int, int] = (1, 5),
                 drop_rate: float = 0.0, acks_required: int = ACKS_REQUIRED, timeout_ms: int = REPLICATION_TIMEOUT_MS,
                 batch: int = BATCH, call_timeout_ms: int | None = None, unique_epochs: bool = True,
                 on_append: Callable[[int, Origin, object], None] | None = None):
        """on_append(node, origin, payload), when given, runs each time a node stores a change (written there or
        received), with the payload its write carried: tests apply it to a real database per node."""
        super().__init__(node_ids, seed, timing, latency_ms, drop_rate)
        self.on_append = on_append
        self.payloads: dict[Origin, object] = {}
        self.acks_required, self.timeout_ms, self.batch = acks_required, timeout_ms, batch
        self.call_timeout_ms = timing.failure_ms if call_timeout_ms is None else call_timeout_ms
        self.unique_epochs = unique_epochs
        self.stores = {n: Store() for n in self.node_ids}
        self.replication: dict[int, Replication] = {}
        self.output: list[str] = []  # what happened, compactly: roles, serving, write answers, pulls
        self.origins: dict[int, Origin] = {}  # write id -> its change
        self.written_at: dict[int, int] = {}  # write id -> the node it was sent to
        self.acknowledged: dict[int, int] = {}  # write id -> replicas
        self.refused: dict[int, str] = {}  # write id -> why it got no acknowledgement
        self._acknowledged_up_to: Vector = {}  # the highest acknowledged seq of each (node, epoch)
        self._last_claimed: dict[int, int] = {}  # node -> the last epoch it was coordinator of
        self._calls: dict[int, Call] = {}

    # -- faults (cut, partition, heal, pause and resume are election/simulator.py's) ----------
    def start(self, *nodes: int) -> None:
        """Start (or restart) nodes from the store and epoch they persisted."""
        for node in nodes:
            peers = [p for p in self.node_ids if p != node]
            coordinator = CoordinatorState(node, peers, self.acks_required, self.timeout_ms, self.batch, self.timing.heartbeat_ms)
            self.replication[node] = Replication(coordinator)
            self._note(f"!! node {node} starts with epoch {self.persisted[node]}")
            super().start(node)

    def crash(self, node: int) -> None:
        if node in self.crashed:
            return
        super().crash(node)
        del self.replication[node]
        for write_id, at in self.written_at.items():
            if at == node and write_id in self.origins and write_id not in self.acknowledged and write_id not in self.refused:
                self._refuse(write_id, "no answer: node crashed")  # its client sees the connection break
        self._give_up_calls(node)
        for _, message in self._held[node]:
            if isinstance(message, Request):
                self._fail_soon(message.call_id)  # the connection is reset
        self._held[node] = []

    # -- clients -----------------------------------------------------------------------------
    def write(self, node: int, payload: object = None) -> int:
        """A client write sent to `node`; its id. Refused at once unless `node` serves."""
        write_id = len(self.written_at) + 1
        self.written_at[write_id] = node
        if node in self.crashed or node in self.paused:
            self._refuse(write_id, "refused: node down")
        elif not self.replication[node].coordinator.serving:
            self._refuse(write_id, "refused: not coordinator")
        else:
            coordinator, store = self.replication[node].coordinator, self.stores[node]
            origin = Origin(node, coordinator.epoch, store.vector.get(Origin(node, coordinator.epoch, 0).key, 0) + 1)
            self.payloads[origin] = payload
            self._store(node, origin)
            self.origins[write_id] = origin
            self._note(f"[{node}] write w{write_id} committed as {origin_text(origin)}")
            self._replication(node, coordinator.change_committed(write_id, coordinator.epoch, [origin], self.now))
        return write_id

    def resume(self, node: int) -> None:
        """A woken node's replication ticker may run before it reads what waited for it, as the real runner's can."""
        if node in self.replication and node in self.machines:
            self._replication(node, self.replication[node].coordinator.tick(self.now))
        super().resume(node)

    # -- running -----------------------------------------------------------------------------
    def _arrive(self, src, dst, message) -> None:
        if src is None:
            self._call_failed(message, "connection refused")
        elif dst in self.crashed:
            if isinstance(message, Request):
                self._call_failed(message.call_id, "connection reset")
        else:
            super()._arrive(src, dst, message)

    def _after_delivery(self) -> None:
        """Calls past their deadline fail (followers report catching up themselves: no timer for it here)."""
        for call_id, call in list(self._calls.items()):
            if call.deadline <= self.now and call.caller not in self.paused:
                self._call_failed(call_id, "timed out")

    def _tick(self, node: int) -> None:
        self.machines[node].position = position(self.stores[node].vector)
        super()._tick(node)
        self._replication(node, self.replication[node].coordinator.tick(self.now))
        self._push_to_followers(node)

    def _after_ticks(self) -> None:
        self._check_acknowledged_held()

    def settle(self, limit_ms: int = SETTLE_LIMIT_MS) -> int:
        """Run until converged(), then check_converged(); the simulated ms it took."""
        took = self.run_until(self.converged, limit_ms)
        self.check_converged()
        return took

    # -- the network -------------------------------------------------------------------------
    def _send(self, src: int, dst: int, message, answer: bool = False) -> None:
        if dst in self.crashed and isinstance(message, Request):
            self._fail_soon(message.call_id)
        elif not (dst in self.crashed and isinstance(message, Reply)):
            super()._send(src, dst, message, answer or isinstance(message, Reply))  # an election message to a crashed node: send_failed

    def _fail_soon(self, call_id: int) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.now, self._seq, None, None, call_id))

    def _call(self, caller: int, peer: int, body: Push | Pull) -> None:
        self._seq += 1
        self._calls[self._seq] = Call(caller, peer, body, self.now + self.call_timeout_ms)
        self._send(caller, peer, Request(self._seq, body))

    def _give_up_calls(self, caller: int) -> None:
        for call_id in [i for i, call in self._calls.items() if call.caller == caller]:
            del self._calls[call_id]

    def _deliver(self, src: int, dst: int, message) -> None:
        self.trace.append(f"{self.now:6d} {src}->{dst} {message}")
        store = self.stores[dst]
        if isinstance(message, Reply):
            call = self._calls.pop(message.call_id, None)
            if call is not None:  # else it was given up on
                self._answered(call, message.body)
        elif isinstance(message, Request) and isinstance(message.body, Pull):
            entries, more = store.lacking(message.body.vector, message.body.limit)
            self._send(dst, src, Reply(message.call_id, PullAnswer(entries, more, dict(store.vector))))
        elif isinstance(message, Request):
            self._send(dst, src, Reply(message.call_id, self._take_push(dst, src, message.body)))
        else:
            self._apply(dst, self.machines[dst].step(message, self.now), answering=src)

    def _take_push(self, node: int, sender: int, push: Push):
        bully, follower, store = self.machines[node], self.replication[node].follower, self.stores[node]
        self._apply(node, bully.observe_coordinator(sender, push.epoch, self.now))
        refusal = follower.admit(sender, push, bully.view())
        if refusal is not None:
            return refusal
        self._events(node, follower.applying(sender, push, position(store.vector), self.now).events)
        for origin in push.entries:
            self._store(node, origin)
        answer, ready = follower.applied(sender, push, dict(store.vector), self.now)
        self._events(node, ready.events)
        if ready.caught_up:
            self._apply(node, bully.report_caught_up(sender, push.epoch, self.now))
        return answer

    def _store(self, node: int, origin: Origin) -> bool:
        """Append a change to a node's store (False when held already), and hand it to on_append."""
        stored = self.stores[node].append(origin)
        if stored and self.on_append is not None:
            self.on_append(node, origin, self.payloads.get(origin))
        return stored

    # -- the coordinator's calls -------------------------------------------------------------
    def _push_to_followers(self, node: int) -> None:
        coordinator, store = self.replication[node].coordinator, self.stores[node]
        for peer, link in self.replication[node].links.items():
            if link.pulling:
                continue  # the runner pulls inline, between two pushes
            order = coordinator.next_push(peer, len(store.log) > link.log_length_pushed, self.now)
            if isinstance(order, WaitUntil):
                continue
            entries, more = store.lacking(order.vector, self.batch) if order.send_entries else ((), False)
            link.log_length_pushed = len(store.log)
            self._call(node, peer, Push(coordinator.epoch, entries, more, dict(store.vector), {}))

    def _pull(self, node: int, peer: int) -> None:
        self.replication[node].links[peer].pulling = True
        self._call(node, peer, Pull(dict(self.stores[node].vector), self.batch))

    def _answered(self, call: Call, answer) -> None:
        link = self.replication[call.caller].links[call.peer]
        if isinstance(call.body, Pull):
            link.pulled += sum(self._store(call.caller, origin) for origin in answer.entries)
            if answer.more and answer.entries:
                self._pull(call.caller, call.peer)
            else:
                self._pull_ended(call.caller, call.peer, answer.vector)
            return
        coordinator = self.replication[call.caller].coordinator
        self._replication(call.caller, coordinator.push_answered(call.peer, call.body.vector, call.body.more, answer, self.now))

    def _call_failed(self, call_id: int, reason: str) -> None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        self._note(f"[{call.caller}] {type(call.body).__name__} to {call.peer} failed: {reason}")
        if isinstance(call.body, Pull):
            self._pull_ended(call.caller, call.peer, None)
            return
        self._replication(call.caller, self.replication[call.caller].coordinator.push_failed(call.peer, reason, self.now))

    def _pull_ended(self, node: int, peer: int, last_answer: Vector | None) -> None:
        """A pull sequence is over: `last_answer` is the peer's vector when it said "no more" (None: it failed)."""
        replication = self.replication[node]
        link = replication.links[peer]
        if link.pulled:
            changes = f"{link.pulled} change{'s' if link.pulled > 1 else ''}"
            self._say(f"{node} {'took over' if link.taking_over else 'pulled'} {changes} from {peer}")
        link.pulling, link.pulled = False, 0
        if link.taking_over:
            link.taking_over = False
            if last_answer is not None:
                replication.take_over_answers[peer] = last_answer
            self._replication(node, replication.coordinator.take_over_done(peer, self.now))

    # -- what the machines ask for -----------------------------------------------------------
    def _apply(self, node: int, ready, answering: int | None = None) -> None:
        """An election Ready: persist the epoch, follow the role change, then send (to `answering`: as the answer)."""
        if ready.persist_epoch is not None:
            self.persisted[node] = ready.persist_epoch
        self._events(node, ready.events)
        change, replication = ready.role_change, self.replication[node]
        if change is not None:
            self._give_up_calls(node)
            replication.links = {}
            if change.role == COORDINATOR:
                self._became_coordinator(node, change.epoch)
            else:
                if replication.coordinator.active:
                    self._say(f"{node} steps down from epoch {replication.coordinator.epoch}")
                if change.role == FOLLOWER:
                    self._say(f"{node} follows {change.coordinator} epoch {change.epoch}")
                self._replication(node, replication.coordinator.end(self.now))
        for dst, message in ready.messages:
            self._send(node, dst, message, answer=dst == answering)

    def _became_coordinator(self, node: int, epoch: int) -> None:
        owner = self.epoch_owner.setdefault(epoch, node)
        if self.unique_epochs and owner != node:
            self._fail(f"epoch {epoch} claimed by {owner} and {node}")
        if epoch <= self._last_claimed.get(node, 0):
            self._fail(f"{node} claims epoch {epoch} after epoch {self._last_claimed[node]}: its origins would repeat")
        self._last_claimed[node] = epoch
        self._say(f"{node} coordinator epoch {epoch}")
        replication = self.replication[node]
        replication.acknowledged_before_take_over, replication.take_over_answers = set(self.acknowledged), {}
        replication.links = {peer: FollowerLink() for peer in replication.coordinator.peers}
        self._replication(node, replication.coordinator.begin(epoch, self.now))
        for peer in replication.links:
            self._pull(node, peer)

    def _replication(self, node: int, ready) -> None:
        """A replication Ready: answer writes, pull, serve, tell the election."""
        replication = self.replication[node]
        self._events(node, ready.events)
        for write_id, replicas in ready.acknowledged:
            self._acknowledge(write_id, replicas)
        for write_id in ready.refused:
            self._refuse(write_id, "refused")
        for peer in ready.pulls:
            if peer in replication.links and not replication.links[peer].pulling:
                self._pull(node, peer)
        if ready.serve:
            self._check_serving(node)
            self._say(f"{node} serving epoch {replication.coordinator.epoch}")
            self._replication(node, replication.coordinator.serving_started(position(self.stores[node].vector), self.now))
        if ready.observed_epoch is not None:
            self._apply(node, self.machines[node].observe_epoch(*ready.observed_epoch, self.now))

    # -- invariants --------------------------------------------------------------------------
    def _acknowledge(self, write_id: int, replicas: int) -> None:
        self._answer_once(write_id)
        origin = self.origins[write_id]
        holders = [n for n, store in self.stores.items() if covers(store.vector, origin)]
        if len(holders) < replicas:
            self._fail(f"w{write_id} acknowledged with replicas {replicas} but held by {holders} only")
        self.acknowledged[write_id] = replicas
        self._acknowledged_up_to[origin.key] = max(self._acknowledged_up_to.get(origin.key, 0), origin.seq)
        self._say(f"write w{write_id} at {self.written_at[write_id]} -> acknowledged replicas {replicas}")

    def _refuse(self, write_id: int, why: str) -> None:
        self._answer_once(write_id)
        self.refused[write_id] = why
        self._say(f"write w{write_id} at {self.written_at[write_id]} -> {why}")

    def _answer_once(self, write_id: int) -> None:
        if write_id in self.acknowledged or write_id in self.refused:
            self._fail(f"w{write_id} answered twice: it was already {'acknowledged' if write_id in self.acknowledged else 'refused'}")

    def _check_acknowledged_held(self) -> None:
        """Stores are gapless per origin: the highest acknowledged seq of each must be held somewhere."""
        for key, seq in self._acknowledged_up_to.items():
            if not any(store.vector.get(key, 0) >= seq for store in self.stores.values()):
                self._fail(f"acknowledged change {key}:{seq} is missing from every store")

    def _check_serving(self, node: int) -> None:
        replication, held = self.replication[node], self.stores[node].vector
        if any(link.taking_over for link in replication.links.values()):
            self._fail(f"{node} serves before its take-over pull from every peer has ended")
        for write_id in sorted(replication.acknowledged_before_take_over):
            origin = self.origins[write_id]
            for peer, answered in replication.take_over_answers.items():
                if covers(answered, origin) and not covers(held, origin):
                    self._fail(f"{node} serves without w{write_id} ({origin_text(origin)}), which {peer} held when it answered")

    def converged(self) -> bool:
        """Nobody paused; one node serves, is followed by all, knows each holds what it holds, waits for no write."""
        live = self.live()
        serving = self.serving()
        if self.paused or len(serving) != 1 or not self.settled_on(serving[0]):
            return False
        coordinator, vector = self.replication[serving[0]].coordinator, self.stores[serving[0]].vector
        known = coordinator.followers
        return coordinator.waiting == 0 and all(
            known[n].state == IN_SYNC and known[n].vector == vector == self.stores[n].vector for n in live if n != serving[0])

    def check_converged(self) -> None:
        """All live nodes hold the same changes, every acknowledged one among them; every write was answered."""
        live = self.live()
        if not live or not self.converged():
            self._fail("not converged: " + "; ".join(f"{n} {self.machines[n].state} {self.stores[n].vector}" for n in live))
        held = set(self.stores[live[0]].log)
        if any(set(self.stores[n].log) != held for n in live):
            self._fail(f"live stores differ: {[self.store_text(n) for n in live]}")
        missing = [w for w in self.acknowledged if self.origins[w] not in held]
        if missing:
            self._fail(f"acknowledged writes missing after convergence: {missing}")
        unanswered = [w for w in self.written_at if w not in self.acknowledged and w not in self.refused]
        if unanswered:
            self._fail(f"writes never answered: {unanswered}")

    # -- observations ------------------------------------------------------------------------
    def serving(self) -> list[int]:
        return [n for n in self.live() if n not in self.paused and self.replication[n].coordinator.serving]

    def holders(self, write_id: int) -> list[int]:
        return [n for n, store in self.stores.items() if covers(store.vector, self.origins[write_id])]

    def store_text(self, node: int) -> str:
        return " ".join(origin_text(o) for o in self.stores[node].log) or "(empty)"

    # -- recording ---------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        self.output.append(line)
        self._note(line)

    def _note(self, line: str) -> None:
        self.trace.append(f"{self.now:6d} {line}")

    def _fail(self, problem: str) -> None:
        raise AssertionError(f"{problem} (at {self.now} ms); trace tail:\n" + "\n".join(self.trace[-TRACE_TAIL:]))


def origin_text(origin: Origin) -> str:
    return f"{origin.node}.{origin.epoch}.{origin.seq}"
