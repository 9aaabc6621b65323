"""A deterministic simulator for the bully machine: fake clock, fake network.

Messages take a seeded random latency; links can be cut (messages silently
lost), or blocked one way (block(a, b): what a sends to b of its own accord is
lost, while b's answers to a's messages still reach a, as over a connection a
opened: a node every peer is blocked from can send but not be reached). What a
machine sends to the sender of the message it took travels as that answer, as
the runner carries it in the call's reply. Nodes can be crashed (sends to them
fail at once, like a refused connection), paused (they neither tick nor read;
what is sent to them waits, as in a TCP buffer) and restarted with the epoch they persisted. A node that starts
following a coordinator reports itself caught up catch_up_ms later. The same
seed always gives the same run, so a failing case can be replayed and its
trace read.
"""

import heapq
import random

from election.bully import COORDINATOR, FOLLOWER, BullyMachine, Timing

TICK_MS = 10
FAULTS = ("crash", "restart", "pause", "resume", "partition", "heal", "wait")
DEFAULT_TIMING = Timing()


class Simulation:
    def __init__(self, node_ids: list[int], seed: int = 1, timing: Timing = DEFAULT_TIMING, latency_ms: tuple[int, int] = (1, 5),
                 drop_rate: float = 0.0, catch_up_ms: int = 50):
        self.node_ids = sorted(node_ids)
        self.rng = random.Random(seed)
        self.timing = timing
        self.latency_ms = latency_ms
        self.drop_rate = drop_rate
        self.catch_up_ms = catch_up_ms
        self.now = 0
        self.machines: dict[int, BullyMachine] = {}
        self.persisted = {n: 0 for n in node_ids}
        self.crashed: set[int] = set(node_ids)
        self.paused: set[int] = set()
        self.cuts: set[frozenset] = set()
        self.blocked: set[tuple[int, int]] = set()  # (a, b): a cannot open a connection to b
        self.trace: list[str] = []  # for people: what happened, in order
        self.events: list[tuple[int, int, str, dict]] = []  # for tests: (ms, node, event code, fields)
        self.epoch_owner: dict[int, int] = {}
        self._queue: list = []
        self._held: dict[int, list] = {n: [] for n in node_ids}
        self._catch_up_at: dict[int, tuple[int, int]] = {}
        self._seq = 0

    # -- faults ------------------------------------------------------------------------------
    def start(self, *nodes: int) -> None:
        for node in nodes:
            peers = [p for p in self.node_ids if p != node]
            self.machines[node] = BullyMachine(node, peers, self.persisted[node], self.timing)
            self.crashed.discard(node)
            self._held[node] = []
            self._apply(node, self.machines[node].start(self.now))

    def crash(self, node: int) -> None:
        self.crashed.add(node)
        self.paused.discard(node)
        self.machines.pop(node, None)
        self._catch_up_at.pop(node, None)
        self.trace.append(f"{self.now:6d} !! node {node} crashed")

    def pause(self, node: int) -> None:
        self.paused.add(node)
        self.trace.append(f"{self.now:6d} !! node {node} paused")

    def resume(self, node: int) -> None:
        self.paused.discard(node)
        self.trace.append(f"{self.now:6d} !! node {node} resumed")
        for src, message in self._held.pop(node, []):
            self._deliver(src, node, message)
        self._held[node] = []

    def cut(self, a: int, b: int) -> None:
        self.cuts.add(frozenset((a, b)))

    def block(self, a: int, b: int) -> None:
        """One way: what `a` sends to `b` of its own accord is lost; `b`'s answers to what `a` sent still arrive."""
        self.blocked.add((a, b))

    def set_unfit(self, node: int, reason: str | None) -> None:
        """The node's application says it cannot do the coordinator's job (e.g. its storage fails), or can again."""
        self.trace.append(f"{self.now:6d} !! node {node} {'unfit: ' + reason if reason else 'fit again'}")
        self._apply(node, self.machines[node].set_unfit(reason, self.now))

    def partition(self, *groups: list[int]) -> None:
        """Cut every link between different groups."""
        for i, group in enumerate(groups):
            for other in groups[i + 1 :]:
                for a in group:
                    for b in other:
                        self.cut(a, b)

    def heal(self) -> None:
        self.cuts.clear()
        self.blocked.clear()

    # -- running -----------------------------------------------------------------------------
    def run(self, ms: int) -> None:
        """Advance `ms` of simulated time, TICK_MS at a time: deliver what is due, then tick every running node."""
        end = self.now + ms
        while self.now < end:
            self.now += TICK_MS
            while self._queue and self._queue[0][0] <= self.now:
                _, _, src, dst, message = heapq.heappop(self._queue)
                self._arrive(src, dst, message)
            self._after_delivery()
            for node in list(self.machines):
                if node not in self.paused:
                    self._tick(node)
            self._after_ticks()

    def random_fault(self, nodes: list[int], faults: tuple[str, ...] = FAULTS) -> str:
        """Inject one fault drawn with this run's seed (crash, restart, pause, resume, partition, heal or wait); its name."""
        fault, node = self.rng.choice(faults), self.rng.choice(nodes)
        if fault == "crash" and node in self.live():
            self.crash(node)
        elif fault == "restart" and node in self.crashed:
            self.start(node)
        elif fault == "pause" and node in self.live() and node not in self.paused:
            self.pause(node)
        elif fault == "resume" and node in self.paused:
            self.resume(node)
        elif fault == "partition":
            shuffled = self.rng.sample(nodes, len(nodes))
            split = self.rng.randint(1, len(nodes) - 1)
            self.partition(shuffled[:split], shuffled[split:])
        elif fault == "heal":
            self.heal()
        return fault

    # -- hooks a simulator of more machines overrides ------------------------------------------
    def _arrive(self, src: int, dst: int, message) -> None:
        """A message reaches dst: lost if dst crashed, held if it is paused."""
        if dst in self.crashed:
            return
        if dst in self.paused:
            self._held[dst].append((src, message))
            return
        self._deliver(src, dst, message)

    def _after_delivery(self) -> None:
        """A follower reports itself caught up catch_up_ms after it started following."""
        for node, (at, coordinator) in list(self._catch_up_at.items()):
            machine = self.machines.get(node)
            if at <= self.now and machine and node not in self.paused:
                del self._catch_up_at[node]
                if machine.state == FOLLOWER and machine.coordinator == coordinator:
                    self._apply(node, machine.report_caught_up(coordinator, machine.coordinator_epoch, self.now))

    def _tick(self, node: int) -> None:
        self._apply(node, self.machines[node].tick(self.now))

    def _after_ticks(self) -> None:
        """Checks after every tick (none here: the epoch check runs on every role change)."""

    def run_until(self, condition, limit_ms: int = 10_000) -> int:
        """Run until condition() holds; the simulated ms it took. AssertionError past limit_ms."""
        started = self.now
        while not condition():
            if self.now - started > limit_ms:
                raise AssertionError(f"condition not met in {limit_ms} ms; trace tail:\n" + "\n".join(self.trace[-40:]))
            self.run(TICK_MS)
        return self.now - started

    def _deliver(self, src: int, dst: int, message) -> None:
        self.trace.append(f"{self.now:6d} {src}->{dst} {message}")
        self._apply(dst, self.machines[dst].step(message, self.now), answering=src)

    def _apply(self, node: int, ready, answering: int | None = None) -> None:
        """Carry out a Ready; what it sends to `answering` (the sender of the message taken) is the answer to its call."""
        if ready.persist_epoch is not None:
            self.persisted[node] = ready.persist_epoch  # persisted before anything is sent
        self._events(node, ready.events)
        change = ready.role_change
        if change and change.role == COORDINATOR:
            owner = self.epoch_owner.setdefault(change.epoch, node)
            assert owner == node, f"epoch {change.epoch} claimed by {owner} and {node}"
        if change and change.role == FOLLOWER:
            self._catch_up_at[node] = (self.now + self.catch_up_ms, change.coordinator)
        for dst, message in ready.messages:
            self._send(node, dst, message, answer=dst == answering)

    def _events(self, node: int, events) -> None:
        for e in events:
            self.trace.append(f"{self.now:6d} [{node}] {e.text}")
            self.events.append((self.now, node, e.code, dict(e.fields)))

    def _send(self, src: int, dst: int, message, answer: bool = False) -> None:
        """Send; an `answer` travels back over the connection dst opened, so only a block of dst -> src loses it."""
        if dst in self.crashed:
            self._apply(src, self.machines[src].send_failed(dst, self.now))  # connection refused
            return
        opened_by = (dst, src) if answer else (src, dst)
        if frozenset((src, dst)) in self.cuts or opened_by in self.blocked or self.rng.random() < self.drop_rate:
            return  # lost without a word
        self._seq += 1
        heapq.heappush(self._queue, (self.now + self.rng.randint(*self.latency_ms), self._seq, src, dst, message))

    # -- observations ------------------------------------------------------------------------
    def live(self) -> list[int]:
        return [n for n in self.node_ids if n not in self.crashed]

    def coordinators(self, among: list[int] | None = None) -> dict[int, int]:
        """node -> epoch for every live, unpaused node that believes it is coordinator."""
        nodes = among if among is not None else self.live()
        return {n: self.machines[n].coordinator_epoch for n in nodes
                if n in self.machines and n not in self.paused and self.machines[n].state == COORDINATOR}

    def settled_on(self, coordinator: int, among: list[int] | None = None) -> bool:
        """True when `coordinator` leads and every other node among those given follows it in its epoch."""
        nodes = among if among is not None else [n for n in self.live() if n not in self.paused]
        if coordinator not in nodes or self.coordinators(nodes) != {coordinator: self.machines[coordinator].coordinator_epoch}:
            return False
        epoch = self.machines[coordinator].coordinator_epoch
        return all(self.machines[n].state == FOLLOWER and self.machines[n].coordinator == coordinator
                   and self.machines[n].coordinator_epoch == epoch for n in nodes if n != coordinator)
