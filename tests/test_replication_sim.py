"""Election and replication together, without sockets: fake clock, fake network, fixed seeds.

The traces in tests/testdata/*.txt are blocks of commands, a `----` line, the
output those commands produced, and a blank line. ONSELL_REWRITE_TRACES=1
writes the actual output back into the files (read the diff before keeping it).
"""

import os
from pathlib import Path

import pytest

from replication.simulator import ClusterSimulation
from replication.state import CoordinatorState
from runtime.settings import default_int

REPLICATION_TIMEOUT_MS = default_int("REPLICATION_TIMEOUT_MS")

TESTDATA = Path(__file__).parent / "testdata"
REWRITE = os.environ.get("ONSELL_REWRITE_TRACES") == "1"
SEEDS = range(6)


def started(nodes=(1, 2, 3), seed=0, **kwargs) -> ClusterSimulation:
    sim = ClusterSimulation(list(nodes), seed=seed, **kwargs)
    sim.start(*nodes)
    sim.run_until(lambda: sim.serving() == [max(nodes)] and sim.settled_on(max(nodes)))
    return sim


def acknowledged(sim: ClusterSimulation, write_id: int) -> bool:
    return write_id in sim.acknowledged


# -- specific cases ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_the_next_coordinator_holds_a_write_acknowledged_before_the_crash(seed):
    """acks_required=1: a write acknowledged by coordinator 3 is held by 2 once 2 serves after 3 crashed."""
    sim = started(seed=seed, acks_required=1)
    write = sim.write(3)
    sim.run_until(lambda: acknowledged(sim, write))
    assert sim.acknowledged[write] >= 2
    sim.crash(3)
    sim.run_until(lambda: sim.serving() == [2])
    assert sim.origins[write] in sim.stores[2].log


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("paused_longer_ms", [0, 3 * REPLICATION_TIMEOUT_MS])
def test_a_paused_coordinator_refuses_its_waiting_writes_when_it_wakes(seed, paused_longer_ms):
    """A write waiting at a coordinator paused before pushing it is refused when it wakes, never acknowledged, even when
    the pause outlasted the write's deadline (its ticker runs before it reads what waited for it)."""
    sim = started(seed=seed)
    done = sim.write(3)
    sim.run_until(lambda: acknowledged(sim, done))
    waiting = sim.write(3)
    sim.pause(3)
    sim.run_until(lambda: sim.serving() == [2])
    sim.run(paused_longer_ms)
    assert sim.origins[done] in sim.stores[2].log  # the new coordinator holds every acknowledged write
    sim.resume(3)
    assert sim.refused.get(waiting) == "refused" and waiting not in sim.acknowledged
    sim.settle()
    assert waiting not in sim.acknowledged


def test_with_a_follower_down_a_write_is_acknowledged_by_the_nodes_that_hold_it():
    """acks_required=2 and follower 1 crashed: acknowledged once no follower can still take it, replicas == holders."""
    sim = started(acks_required=2)
    sim.crash(1)
    write = sim.write(3)
    sim.run_until(lambda: acknowledged(sim, write))
    assert sim.acknowledged[write] == len(sim.holders(write)) == 2


def test_acks_required_zero_acknowledges_at_once_with_one_replica():
    """acks_required=0: the write is acknowledged in the same step, by the coordinator alone."""
    sim = started(acks_required=0)
    write = sim.write(3)
    assert sim.acknowledged[write] == 1


def test_a_write_not_confirmed_in_time_is_acknowledged_with_the_copies_it_has():
    """acks_required=2, follower 1 paused, timeout shorter than a call's: acknowledged at the timeout with 2 copies."""
    sim = started(acks_required=2, timeout_ms=200)
    sim.pause(1)
    write = sim.write(3)
    took = sim.run_until(lambda: acknowledged(sim, write))
    assert 200 <= took < sim.call_timeout_ms
    assert sim.acknowledged[write] == 2 and sim.holders(write) == [2, 3]
    assert any(code == "acknowledged_short" and fields["copies"] == 2 for _, _, code, fields in sim.events)


def test_writes_to_a_node_that_does_not_serve_are_refused_at_once():
    """A follower, a paused node and a crashed node refuse writes in the same step."""
    sim = started()
    assert sim.refused[sim.write(2)] == "refused: not coordinator"
    sim.pause(2)
    sim.crash(1)
    assert sim.refused[sim.write(2)] == sim.refused[sim.write(1)] == "refused: node down"


def test_the_same_seed_gives_the_same_run():
    """Two runs of one scenario with one seed produce the same output and stores."""
    runs = [random_faults(seed=3, nodes=[1, 2, 3]) for _ in range(2)]
    assert runs[0].output == runs[1].output
    assert [runs[0].store_text(n) for n in (1, 2, 3)] == [runs[1].store_text(n) for n in (1, 2, 3)]


def test_the_checks_catch_an_acknowledged_write_missing_from_every_store():
    """The invariants are not vacuous: an acknowledged change removed from every store is reported."""
    sim = started()
    write = sim.write(3)
    sim.run_until(lambda: acknowledged(sim, write))
    for store in sim.stores.values():
        store.log.clear()
        store.vector.clear()
    with pytest.raises(AssertionError, match="missing from every store"):
        sim.run(10)


def test_the_checks_catch_a_coordinator_serving_before_its_take_over(monkeypatch):
    """The invariants are not vacuous: a coordinator that serves at once, without pulling first, is reported."""
    begin = CoordinatorState.begin

    def serving_at_once(self, epoch, now):
        ready = begin(self, epoch, now)
        ready.serve = True
        return ready

    monkeypatch.setattr(CoordinatorState, "begin", serving_at_once)
    sim = ClusterSimulation([1, 2, 3])
    sim.start(1, 2, 3)
    with pytest.raises(AssertionError, match="serves before its take-over pull from every peer has ended"):
        sim.run(1000)


def test_a_node_that_never_heard_of_an_epoch_claims_it_again_yet_nothing_is_lost():
    """Bully without a quorum: 2, down while 3 led epoch 1, later claims epoch 1 too; origins stay distinct, all converge."""
    sim = ClusterSimulation([1, 2, 3], seed=0, unique_epochs=False)
    sim.start(1, 3)
    sim.run_until(lambda: sim.serving() == [3])
    first = sim.write(3)
    sim.run_until(lambda: acknowledged(sim, first))
    sim.crash(3)
    sim.crash(1)
    sim.start(2)
    sim.run_until(lambda: sim.serving() == [2])
    second = sim.write(2)
    sim.run_until(lambda: acknowledged(sim, second))
    assert sim.acknowledged[second] == 1
    assert "3 coordinator epoch 1" in sim.output and "2 coordinator epoch 1" in sim.output
    sim.start(1, 3)
    sim.settle()
    assert {sim.origins[first], sim.origins[second]} <= set(sim.stores[1].log)


def test_a_burst_larger_than_a_batch_still_waits_for_a_follower():
    """acks_required=1, healthy followers: every write of a burst is acknowledged with at least 2 copies."""
    sim = started(acks_required=1)
    burst = [sim.write(3) for _ in range(sim.batch + 2)]
    sim.run_until(lambda: all(acknowledged(sim, w) for w in burst))
    assert all(sim.acknowledged[w] >= 2 for w in burst), sim.acknowledged


# -- random faults -------------------------------------------------------------------------------
WRITE_EVERY_MS = 50


def random_faults(seed: int, nodes: list[int], steps: int = 12) -> ClusterSimulation:
    """Random faults while every serving node takes a write every WRITE_EVERY_MS; then heal, restart and settle."""
    # a node that never heard of an epoch (crashed, cut off, announcement lost) may claim it again: the check is per node
    sim = ClusterSimulation(nodes, seed=seed, latency_ms=(1, 30), unique_epochs=False)
    sim.drop_rate = sim.rng.choice([0.01, 0.03, 0.05])
    sim.start(*nodes)
    for _ in range(steps):
        sim.random_fault(nodes)
        for _ in range(sim.rng.randint(1, 16)):
            for serving in sim.serving():
                sim.write(serving)
            sim.run(WRITE_EVERY_MS)
    sim.heal()
    for node in sorted(sim.paused):
        sim.resume(node)
    sim.drop_rate = 0.0
    sim.start(*sorted(sim.crashed))
    sim.settle()
    return sim


@pytest.mark.parametrize("nodes", [[1, 2, 3], [1, 2, 3, 4, 5]], ids=["3 nodes", "5 nodes"])
@pytest.mark.parametrize("seed", range(20))
def test_after_random_faults_every_node_holds_the_same_changes(seed, nodes):
    """Invariants hold throughout random faults; once healed, all nodes hold the same changes, every acknowledged one."""
    sim = random_faults(seed, nodes)
    last = sim.write(sim.serving()[0])  # and the cluster still works
    sim.run_until(lambda: last in sim.acknowledged and sim.converged())
    sim.check_converged()
    assert sim.acknowledged[last] >= 1 + sim.acks_required


# -- traces --------------------------------------------------------------------------------------
class TraceRunner:
    """Runs the commands of a trace file against one ClusterSimulation, returning what each block printed."""

    def __init__(self):
        self.sim: ClusterSimulation | None = None

    def execute(self, commands: list[str]) -> list[str]:
        printed: list[str] = []
        for line in commands:
            if line.startswith("#"):
                continue
            name, *args = line.split()
            before = len(self.sim.output) if self.sim else 0
            command = getattr(self, f"do_{name}", None)
            if command is None:
                raise ValueError(f"unknown command: {line}")
            extra = command(*args)
            printed += self.sim.output[before:] + (extra or [])
        return printed or ["(nothing)"]

    def do_start(self, *args):
        nodes = [int(a) for a in args if "=" not in a]
        options = dict(a.split("=") for a in args if "=" in a)
        names = {"seed": "seed", "acks": "acks_required", "timeout": "timeout_ms", "batch": "batch"}
        self.sim = ClusterSimulation(nodes, **{names[k]: int(v) for k, v in options.items()})
        self.sim.start(*nodes)

    def do_restart(self, node):
        self.sim.start(int(node))

    def do_run(self, ms):
        self.sim.run(int(ms))

    def do_write(self, node, count="1"):
        for _ in range(int(count)):
            self.sim.write(int(node))

    def do_crash(self, node):
        self.sim.crash(int(node))

    def do_pause(self, node):
        self.sim.pause(int(node))

    def do_resume(self, node):
        self.sim.resume(int(node))

    def do_cut(self, a, b):
        self.sim.cut(int(a), int(b))

    def do_block(self, a, b):
        self.sim.block(int(a), int(b))

    def do_epochs(self):
        return [f"{n}: {self.sim.machines[n].state} epoch {self.sim.machines[n].epoch}" for n in self.sim.live()]

    def do_partition(self, *groups):
        self.sim.partition(*[[int(n) for n in group.split(",")] for group in groups])

    def do_heal(self):
        self.sim.heal()

    def do_settle(self):
        self.sim.settle()
        coordinator = self.sim.serving()[0]
        held = len(self.sim.stores[coordinator].log)
        return [f"settled: {coordinator} coordinator epoch {self.sim.replication[coordinator].coordinator.epoch}, "
                f"every node holds {held} changes"]

    def do_stores(self):
        return [f"{n}{' (crashed)' if n in self.sim.crashed else ''}: {self.sim.store_text(n)}" for n in self.sim.node_ids]


def parse_trace(text: str) -> list[tuple[list[str], list[str]]]:
    """[(commands, expected output)] of each block."""
    blocks = []
    for chunk in text.strip("\n").split("\n\n"):
        lines = chunk.splitlines()
        if "----" not in lines:
            raise ValueError(f"a block without a ---- line: {lines}")
        separator = lines.index("----")
        blocks.append((lines[:separator], lines[separator + 1:]))
    return blocks


def format_trace(blocks: list[tuple[list[str], list[str]]]) -> str:
    return "\n\n".join("\n".join(commands + ["----"] + output) for commands, output in blocks) + "\n"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.txt")), ids=lambda path: path.stem)
def test_trace(path):
    """The trace file's expected output is what its commands print, block by block."""
    blocks = parse_trace(path.read_text())
    runner = TraceRunner()
    actual = [(commands, runner.execute(commands)) for commands, _ in blocks]
    if REWRITE:
        path.write_text(format_trace(actual))
        return
    for (commands, expected), (_, printed) in zip(blocks, actual):
        assert printed == expected, f"{path.name}: block {commands}"


def test_trace_files_exist():
    """The trace tests found their files (a wrong folder would silently run none)."""
    assert len(list(TESTDATA.glob("*.txt"))) >= 4
