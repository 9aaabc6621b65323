"""replication/runner.py in-process: ReplicationRunner's coordinator and follower sides between real SQLite files, with a
stub election (a view the test sets, inputs recorded) and fake peer links that call the other node's runner in the
calling thread (or fail like a cut, dead or hanging peer). Real threads and short real waits (SystemClock, 20 ms
heartbeats); every wait has a deadline and fails with a message."""

import datetime as dt
import json
import threading
import time

import pytest
from support import wait_until

from db.catalogue import CatalogueRepository
from db.changes import ChangeLog
from db.database import Database
from db.sales import find_sale, record_sale
from db.users import UserRepository
from election.bully import CANDIDATE, COORDINATOR, FOLLOWER, ElectionView
from models.records import Network, Sale, Store, User, new_id
from replication.runner import NotAcknowledged, ReplicationRunner
from runtime.clock import SystemClock, iso_utc
from server.ledger import Ledger
from wire.peer_link import PeerUnavailable

EPOCH = 5
HEARTBEAT_MS = 20
TIMEOUT_MS = 10_000  # a write's deadline: far beyond every wait here, so only the followers' answers decide
WAIT_S = 5.0
HANG_LIMIT_S = 10.0  # a hanging link gives up after this (a real link's timeout), so nothing hangs for ever
TODAY = dt.date(2026, 11, 26)
AT = "2026-11-26T15:00:00.000000Z"  # when writes happen, as nodes write times (peers check the form)


def following(coordinator: int, epoch: int) -> ElectionView:
    return ElectionView(FOLLOWER, coordinator, epoch, epoch)


class StubElection:
    """The Election protocol: view() is whatever the test set; the inputs from replication are recorded in order."""

    def __init__(self):
        self.now = ElectionView(CANDIDATE, 0, 0, 0)
        self.calls: list[tuple] = []

    def view(self) -> ElectionView:
        return self.now

    def observe_coordinator(self, sender: int, epoch: int) -> None:
        self.calls.append(("observe_coordinator", sender, epoch))

    def observe_epoch(self, reporter: int, epoch: int, coordinator: int) -> None:
        self.calls.append(("observe_epoch", reporter, epoch, coordinator))

    def report_caught_up(self, coordinator: int, epoch: int) -> None:
        self.calls.append(("report_caught_up", coordinator, epoch))


class FakeLink:
    """A PeerLink to `target`: peer.push / peer.pull go through JSON to its runner, in the calling thread.
    `cut`: PeerUnavailable at once; `hang`: the call blocks until abort() (or HANG_LIMIT_S), then PeerUnavailable."""

    def __init__(self, sender: int, target: "Node"):
        self.sender, self.target, self.peer_id = sender, target, target.node_id
        self.cut = self.hang = False
        self.calls: list[str] = []
        self.push_answers: list[dict] = []
        self._aborted = threading.Event()

    def call(self, method: str, body, timeout_s: float | None = None):
        self.calls.append(method)
        if self.hang:
            self._aborted.wait(HANG_LIMIT_S)
        if self.cut or self.hang or self._aborted.is_set() or not self.target.reachable:
            raise PeerUnavailable(f"node {self.peer_id}: unreachable")
        handle = {"peer.push": self.target.runner.handle_push, "peer.pull": self.target.runner.handle_pull}[method]
        answer = json.loads(json.dumps(handle(self.sender, json.loads(json.dumps(body)))))
        if method == "peer.push":
            self.push_answers.append(answer)
        return answer

    def abort(self) -> None:
        self._aborted.set()

    def close(self) -> None:
        pass


class RunnerRole:
    """The ledger's cluster role: writes in the node's epoch, waits for the runner's acknowledgement."""

    def __init__(self, node: "Node"):
        self.node = node

    def write_epoch(self) -> int:
        return self.node.epoch

    def await_replicated(self, epoch: int, origins: list) -> int:
        return self.node.runner.await_replicated(epoch, origins)


class Node:
    """One node: its database and change log (hooked as server/app.py does), stub election, links, runner and ledger."""

    def __init__(self, path, node_id: int, clock, acks: int):
        self.node_id, self.clock, self.acks = node_id, clock, acks
        self.db = Database(path, node_id)
        self.changes = ChangeLog()
        self.db.read(self.changes.load)
        self.db.after_commit.append(self.changes.on_commit)
        self.election = StubElection()
        self.ledger = Ledger(node_id, self.db, RunnerRole(self))
        self.epoch = 0
        self.reachable = True
        self.links: dict[int, FakeLink] = {}
        self.runner: ReplicationRunner | None = None

    def connect(self, peers: list["Node"]) -> None:
        self.links = {p.node_id: FakeLink(self.node_id, p) for p in peers}
        self.runner = ReplicationRunner(self.node_id, self.links, self.db, self.changes, self.election, self.clock, HEARTBEAT_MS,
                                        self.acks, TIMEOUT_MS, lambda: iso_utc(self.clock.now()))

    def lead(self, epoch: int) -> None:
        """Coordinator of `epoch` (as the election would make it: view first, then begin); returns once serving."""
        self.epoch = epoch
        self.election.now = ElectionView(COORDINATOR, self.node_id, epoch, epoch)
        self.runner.begin(epoch)
        assert self.runner.serving.wait(WAIT_S), f"node {self.node_id} did not start serving epoch {epoch}"

    def wait_in_sync(self, *peers: int) -> None:
        def in_sync():
            members = self.runner.members()
            mine = members[str(self.node_id)]["position"]
            return all(members[str(p)].get("state") == "in_sync" and (members[str(p)]["position"] or 0) == mine for p in peers)
        wait_until(in_sync, WAIT_S, what=f"followers {peers} in sync with node {self.node_id}, at its position")

    def chain(self) -> tuple[Store, User, int]:
        """A network, a store and a seller in one write: (store, seller, replicas)."""
        network = Network(new_id(), "REDE")
        store, seller = Store(new_id(), "Loja A", "11222333000181", network), User(new_id(), "12345678909", "Vendedor", 1990, "seller")

        def write(conn, stamp):
            CatalogueRepository.insert_network(conn, network, AT, stamp)
            CatalogueRepository.insert_store(conn, store, AT, stamp)
            UserRepository.insert(conn, seller, "hash", AT, stamp)
        return store, seller, self.ledger.commit(write)[1]

    def sell(self, store: Store, seller: User, cents: int = 100) -> tuple[str, int]:
        sale = Sale(new_id(), seller.id, store.id, cents, TODAY, AT)
        return sale.sale_id, self.ledger.commit(lambda conn, stamp: record_sale(conn, sale, stamp))[1]

    def holds_sale(self, sale_id: str) -> bool:
        return self.db.read(lambda c: find_sale(c, sale_id)) is not None


class Pending:
    """A write on a thread of its own: its result or exception, and the monotonic time it ended."""

    def __init__(self, write):
        self.result = self.error = self.ended_at = None
        self._done = threading.Event()
        threading.Thread(target=self._run, args=(write,), daemon=True).start()

    def _run(self, write) -> None:
        try:
            self.result = write()
        except Exception as exc:
            self.error = exc
        self.ended_at = time.monotonic()
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def refusal(self) -> NotAcknowledged:
        assert self._done.wait(WAIT_S), "the write got no answer"
        assert isinstance(self.error, NotAcknowledged), f"expected NotAcknowledged, got {self.result!r} / {self.error!r}"
        return self.error

    def value(self):
        assert self._done.wait(WAIT_S), "the write got no answer"
        assert self.error is None, f"the write failed: {self.error!r}"
        return self.result


@pytest.fixture
def cluster(tmp_path):
    """make(*ids, acks=1): nodes wired to each other, runners started; all stopped and closed afterwards."""
    clock, nodes = SystemClock(), []

    def make(*ids: int, acks: int = 1) -> list[Node]:
        made = [Node(tmp_path / f"node-{i}.db", i, clock, acks) for i in ids]
        for node in made:
            node.connect([p for p in made if p is not node])
            node.runner.start()
        nodes.extend(made)
        return made
    yield make
    for node in nodes:
        node.reachable = False
    for node in nodes:
        now = clock.monotonic_s()
        node.runner.stop(now, now + 2.0)
    for node in nodes:
        node.db.close()


def waiting_writes(node: Node, count: int) -> None:
    wait_until(lambda: node.runner.state.waiting == count, WAIT_S, what=f"{count} write(s) waiting on node {node.node_id}")


# -- the coordinator's side and the follower's answers -------------------------------------------------------------

def test_a_coordinator_takes_over_serves_and_a_write_is_acknowledged_once_the_follower_holds_it(cluster):
    """begin() pulls first, then serves; a write is acknowledged with replicas 2, held by the follower, which reported in."""
    coordinator, follower = cluster(3, 1)
    follower.election.now = following(3, EPOCH)
    coordinator.lead(EPOCH)
    assert coordinator.links[1].calls[0] == "peer.pull"
    coordinator.wait_in_sync(1)
    store, seller, replicas = coordinator.chain()
    assert replicas == 2
    sale_id, replicas = coordinator.sell(store, seller)
    assert replicas == 2 and follower.holds_sale(sale_id)
    assert follower.changes.vector() == coordinator.changes.vector()
    assert ("observe_coordinator", 3, EPOCH) in follower.election.calls and ("report_caught_up", 3, EPOCH) in follower.election.calls


def test_a_follower_not_following_the_sender_answers_not_ready_and_the_write_waits_until_it_follows(cluster):
    """PushNotReady keeps a write waiting (the follower could still take it); once the view follows, it is acknowledged."""
    coordinator, follower = cluster(3, 1)
    coordinator.lead(EPOCH)
    pending = Pending(coordinator.chain)
    waiting_writes(coordinator, 1)
    not_ready = {"accepted": False, "stale": False, "epoch": 0, "coordinator": 0}
    wait_until(lambda: not_ready in coordinator.links[1].push_answers, WAIT_S, what="a PushNotReady answer")
    assert not pending.done
    follower.election.now = following(3, EPOCH)
    assert pending.value()[2] == 2  # the follower, within a batch of the coordinator, was waited for
    wait_until(lambda: follower.changes.vector() == coordinator.changes.vector(), WAIT_S, what="the follower to hold the chain")


def test_a_write_waiting_for_a_follower_a_few_changes_behind_is_acknowledged_by_it(cluster):
    """A follower that starts following while a write waits, a few changes (far less than a batch) behind, still counts."""
    coordinator, follower = cluster(3, 1)
    coordinator.lead(EPOCH)
    pending = Pending(coordinator.chain)
    waiting_writes(coordinator, 1)
    follower.election.now = following(3, EPOCH)
    assert pending.value()[2] == 2


def test_a_follower_in_a_newer_epoch_answers_stale_the_election_hears_it_and_the_waiting_write_is_refused(cluster):
    """PushStale: observe_epoch(peer, epoch, coordinator) reaches the election, the waiting write gets NotAcknowledged."""
    coordinator, follower = cluster(3, 1)
    follower.election.now = following(3, EPOCH)
    coordinator.lead(EPOCH)
    coordinator.wait_in_sync(1)
    store, seller, _ = coordinator.chain()
    follower.election.now = ElectionView(CANDIDATE, 0, EPOCH - 1, EPOCH)  # electing: pushes answered not ready, the write waits
    pending = Pending(lambda: coordinator.sell(store, seller))
    waiting_writes(coordinator, 1)
    follower.election.now = following(2, EPOCH + 2)
    refusal = pending.refusal()
    assert refusal.stopping is False
    wait_until(lambda: ("observe_epoch", 1, EPOCH + 2, 2) in coordinator.election.calls, WAIT_S, what="observe_epoch")
    assert not coordinator.runner.serving.is_set()


def test_with_the_only_follower_unreachable_a_write_is_acknowledged_alone_and_the_follower_catches_up_later(cluster):
    """A link raising PeerUnavailable: replicas 1 (no follower can take it); healed, the follower catches up."""
    coordinator, follower = cluster(3, 1)
    follower.election.now = following(3, EPOCH)
    coordinator.links[1].cut = True
    coordinator.lead(EPOCH)
    store, seller, replicas = coordinator.chain()
    sale_id, sale_replicas = coordinator.sell(store, seller)
    assert (replicas, sale_replicas) == (1, 1) and not follower.holds_sale(sale_id)
    assert coordinator.runner.members()["1"]["state"] == "down"
    coordinator.links[1].cut = False
    wait_until(lambda: follower.holds_sale(sale_id), WAIT_S, what="the healed follower to catch up")
    coordinator.wait_in_sync(1)
    wait_until(lambda: follower.changes.vector() == coordinator.changes.vector(), WAIT_S, what="the same vector on both")


def test_take_over_pulls_what_a_follower_wrote_as_coordinator_of_an_older_epoch_before_serving(cluster):
    """Node 1 wrote alone in epoch 4; node 3 taking over epoch 5 holds those changes before it serves, then all converge."""
    old, other, new = cluster(1, 2, 3, acks=2)
    for link in old.links.values():
        link.cut = True
    old.lead(EPOCH - 1)
    store, seller, _ = old.chain()
    old_sale, replicas = old.sell(store, seller)
    assert replicas == 1
    old.runner.end()
    for link in old.links.values():
        link.cut = False
    old.election.now = other.election.now = following(3, EPOCH)
    at_serving = []
    new.runner.on_serving(lambda: at_serving.append(new.holds_sale(old_sale)))
    new.lead(EPOCH)
    assert at_serving == [True] and new.changes.vector() == old.changes.vector()
    new.wait_in_sync(1, 2)
    new_sale, replicas = new.sell(store, seller)
    assert replicas == 3
    assert all(n.holds_sale(old_sale) and n.holds_sale(new_sale) for n in (old, other, new))


# -- ending and stopping -------------------------------------------------------------------------------------------

def test_stop_refuses_a_write_waiting_for_a_hanging_follower_at_the_writes_deadline_and_returns_by_the_threads_deadline(cluster):
    """A link that blocks until aborted: the write is refused (stopping) at the writes deadline; stop() ends in time."""
    coordinator, follower = cluster(3, 1)
    follower.election.now = following(3, EPOCH)
    coordinator.lead(EPOCH)
    coordinator.wait_in_sync(1)
    store, seller, _ = coordinator.chain()
    coordinator.links[1].hang = True
    pending = Pending(lambda: coordinator.sell(store, seller))
    waiting_writes(coordinator, 1)
    start = coordinator.clock.monotonic_s()
    writes_deadline, threads_deadline = start + 0.3, start + 1.0
    coordinator.runner.stop(writes_deadline, threads_deadline)
    returned = coordinator.clock.monotonic_s()
    refusal = pending.refusal()
    assert refusal.stopping is True
    assert pending.ended_at >= writes_deadline, "the write was refused before the writes deadline"
    assert returned <= threads_deadline + 0.5, f"stop() returned {returned - threads_deadline:.2f} s after the threads deadline"


def test_end_refuses_waiting_writes_and_a_begin_after_stop_does_nothing(cluster):
    """end(): NotAcknowledged(stopping=False) for the waiting write; after stop(), begin() starts no generation."""
    coordinator, _ = cluster(3, 1)
    coordinator.lead(EPOCH)  # the follower follows nobody: pushes answered not ready, writes wait
    pending = Pending(coordinator.chain)
    waiting_writes(coordinator, 1)
    coordinator.runner.end()
    assert pending.refusal().stopping is False
    now = coordinator.clock.monotonic_s()
    coordinator.runner.stop(now, now + 2.0)
    calls = len(coordinator.links[1].calls)
    coordinator.runner.begin(EPOCH + 1)
    time.sleep(5 * HEARTBEAT_MS / 1000)  # a new generation would pull from the peer at once
    assert len(coordinator.links[1].calls) == calls
    assert coordinator.runner.state.epoch == EPOCH and not coordinator.runner.state.active
    assert not coordinator.runner.serving.is_set()
