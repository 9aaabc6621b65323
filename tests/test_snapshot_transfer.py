"""The snapshot, in-process: the copy of a live database, the receiver's node-local state, and the transfer between
replication/snapshot_join.py and a real replication/snapshot_source.py through fake links (a corrupt chunk, the
serving node dying, nobody to copy from). Real processes: tests/test_snapshot_join.py."""

import itertools
import threading

import pytest
from replicas import Replica, demo_chain
from support import TEST_SECRET, wait_until

from db.node_state import count_conflicts, load_conflicts, load_epoch, load_snapshot_origin, save_epoch
from db.snapshot_file import install, make_copy, make_own, sha256_of
from models.errors import ValidationError
from replication.snapshot_join import SnapshotJoin
from replication.snapshot_messages import SnapshotChunk, SnapshotInfo, SnapshotRequest
from replication.snapshot_source import SnapshotSource
from runtime.clock import FakeClock
from server.config import ConfigError, load_config
from wire.errors import NOT_COORDINATOR, app_error
from wire.jsonrpc import RpcError
from wire.peer_link import PeerRefused, PeerUnavailable


def _source_with_sales(path, node_id: int = 3, sales: int = 300) -> Replica:
    replica = Replica(path, node_id, epoch=4)
    stores, sellers = demo_chain(replica)
    for i in range(sales):
        replica.sell(sellers[0].id, stores[0].id, 100 + i)
    replica.db.write(lambda c: (save_epoch(c, 7), count_conflicts(c, 2)))
    return replica


def test_a_copy_made_beside_a_busy_writer_is_consistent_and_becomes_the_receivers_own(tmp_path):
    source = _source_with_sales(tmp_path / "node-3.db")
    writing = threading.Event()
    stop = threading.Event()
    seller, store = source.users.list_sellers()[0].id, source.db.read(lambda c: c.execute("SELECT id FROM stores").fetchone()[0])

    def keep_selling():
        while not stop.is_set():
            source.sell(seller, store, 999)
            writing.set()
    thread = threading.Thread(target=keep_selling, daemon=True)
    thread.start()
    assert writing.wait(10), "the writer wrote nothing in 10 s"
    size, sha = make_copy(source.db.path, tmp_path / "copy")
    stop.set()
    thread.join(10)
    assert not thread.is_alive(), "the writer did not stop within 10 s"
    assert size == (tmp_path / "copy").stat().st_size and sha == sha256_of(tmp_path / "copy")
    assert not (tmp_path / "copy-wal").exists(), "the copy is not one self-contained file"
    make_own(tmp_path / "copy", 3)
    install(tmp_path / "copy", tmp_path / "node-5.db")
    joiner = Replica(tmp_path / "node-5.db", 5)
    try:
        assert joiner.db.read(load_epoch) == 0 and joiner.db.read(load_conflicts) == 0, "node-local state inherited"
        assert joiner.db.read(load_snapshot_origin) == {"from": 3, "bytes": size}
        source_incarnations = source.db.read(lambda c: {r[0] for r in c.execute("SELECT incarnation FROM incarnations")})
        assert joiner.db.incarnation.node == 5 and joiner.db.incarnation.text not in source_incarnations
        digest = joiner.digest()
        assert len(digest["sales"]) >= 300
        # consistent: the aggregates count exactly the sales the copy holds, and its vector covers them
        counted = joiner.db.read(lambda c: c.execute("SELECT SUM(sale_count) FROM totals_store_day").fetchone()[0])
        assert counted == len(digest["sales"])
        lacking = source.changes.position() - joiner.changes.position()
        assert lacking > 0, "the writer did not write during the copy: the test proves nothing"
        assert joiner.pull_from(source) == lacking
        assert joiner.digest()["sales"] == source.digest()["sales"]
    finally:
        joiner.close()
        source.close()


def test_install_removes_stray_journals_of_no_database(tmp_path):
    source = _source_with_sales(tmp_path / "node-3.db", sales=5)
    make_copy(source.db.path, tmp_path / "part")
    source.close()
    (tmp_path / "node-1.db-wal").write_bytes(b"a wal left by the replaced file" * 100)
    install(tmp_path / "part", tmp_path / "node-1.db")
    assert not (tmp_path / "node-1.db-wal").exists() and not (tmp_path / "part").exists()


class _Served:
    """A fake link to a SnapshotSource: calls go to its handler, errors come back as a PeerLink raises them."""

    def __init__(self, source: SnapshotSource | None, sender: int = 1):
        self.source, self.sender = source, sender
        self.corrupt_reads = 0  # how many of the next chunks arrive with a byte changed
        self.die_after_reads: int | None = None  # the node dies after this many chunks
        self.reads = 0
        self.begins = 0  # begins that made a copy
        self.asked_begins = 0

    def call(self, method: str, body, timeout_s=None):
        if self.source is None or (self.die_after_reads is not None and self.reads >= self.die_after_reads):
            raise PeerUnavailable("connection refused")
        request = SnapshotRequest.from_json(body)
        self.asked_begins += request.op == "begin"
        try:
            answer = self.source.handle(self.sender, body)
        except RpcError as exc:
            raise PeerRefused(exc.code, exc.message, exc.data) from None
        self.begins += request.op == "begin"
        if request.op == "read":
            self.reads += 1
            if self.corrupt_reads:
                self.corrupt_reads -= 1
                chunk = SnapshotChunk.from_json(answer)
                answer = {**answer, "data": SnapshotChunk(chunk.id, chunk.offset, bytes([chunk.data[0] ^ 1]) + chunk.data[1:],
                                                          chunk.sha256).to_json()["data"]}
        return answer

    def close(self):
        pass


def _serving(replica: Replica, clock, coordinator=lambda: True, chunk: int = 4096) -> SnapshotSource:
    def require():
        if not coordinator():
            raise app_error(NOT_COORDINATOR, "not the coordinator", coordinator={"id": 3, "address": "x"}, position=1)
    ids = itertools.count(1)
    source = SnapshotSource(replica.db.path, replica.changes.position, require, chunk, 60, clock, lambda: f"c{next(ids)}")
    source.start()
    return source


JOIN_DEADLINE_S = 60.0  # the join's own deadlines read a fake clock nobody advances: this one is real


class _BoundedJoin:
    """A SnapshotJoin whose run() fails the test, with a message, if it has not ended within JOIN_DEADLINE_S."""

    def __init__(self, join: SnapshotJoin):
        self.join = join

    def run(self):
        outcome: list = []
        thread = threading.Thread(target=lambda: outcome.append(self.join.run()), daemon=True)
        thread.start()
        thread.join(JOIN_DEADLINE_S)
        if thread.is_alive():
            self.join.stop.set()
            raise AssertionError(f"the join did not end within {JOIN_DEADLINE_S:.0f} s")
        assert outcome, "the join raised (see the thread's exception above)"
        return outcome[0]


def _join(tmp_path, links, wait_s: float = 5.0) -> _BoundedJoin:
    return _BoundedJoin(SnapshotJoin(tmp_path / "joiner" / "node-1.db", links, FakeClock(), wait_s, threading.Event()))


@pytest.fixture
def coordinator(tmp_path):
    replica = _source_with_sales(tmp_path / "node-3.db")
    yield replica
    replica.close()


def test_a_corrupt_chunk_is_refused_and_the_transfer_begins_again(tmp_path, coordinator):
    (tmp_path / "joiner").mkdir()
    source = _serving(coordinator, FakeClock())
    link = _Served(source)
    link.corrupt_reads = 1
    joined = _join(tmp_path, {3: [link]}).run()
    assert joined is not None and joined.peer == 3
    assert link.begins == 2, "the corrupt chunk did not restart the transfer with a new copy"
    assert source.status() == [], "the serving node still holds a copy"
    assert list((tmp_path / "joiner").iterdir()) == [tmp_path / "joiner" / "node-1.db"]
    assert not list(tmp_path.glob("node-3.db.copy-*"))
    source.stop()


def test_a_copy_that_keeps_arriving_corrupt_is_given_up_for_the_log(tmp_path, coordinator):
    (tmp_path / "joiner").mkdir()
    source = _serving(coordinator, FakeClock())
    link = _Served(source)
    link.corrupt_reads = 1000
    assert _join(tmp_path, {3: [link]}, wait_s=600).run() is None
    assert link.begins == 5 and source.status() == []
    assert not list((tmp_path / "joiner").iterdir())
    source.stop()


def test_the_serving_node_dies_mid_transfer_and_the_next_coordinator_serves_it(tmp_path, coordinator):
    (tmp_path / "joiner").mkdir()
    other = _source_with_sales(tmp_path / "node-2.db", node_id=2, sales=10)
    first = _serving(coordinator, FakeClock())
    dying = _Served(first)
    dying.die_after_reads = 3
    second = _serving(other, FakeClock(), coordinator=lambda: dying.reads >= 3)  # node 2 takes over once node 3 is gone
    successor = _Served(second)
    joined = _join(tmp_path, {3: [dying], 2: [successor]}).run()
    assert joined is not None and joined.peer == 2 and successor.begins == 1
    assert not list((tmp_path / "joiner").glob("*.part-*"))
    for source in (first, second):
        source.stop()
    other.close()


def test_no_peer_to_copy_from_starts_on_an_empty_file_at_once(tmp_path, coordinator):
    (tmp_path / "joiner").mkdir()
    assert _join(tmp_path, {2: [_Served(None)], 3: [_Served(None)]}, wait_s=60).run() is None  # a new cluster, every peer down
    empty = Replica(tmp_path / "empty.db", 3)
    source = _serving(empty, FakeClock())
    assert _join(tmp_path, {3: [_Served(source)]}, wait_s=60).run() is None  # the coordinator holds nothing
    assert not (tmp_path / "joiner" / "node-1.db").exists()
    source.stop()
    empty.close()


def test_peers_that_hold_data_but_do_not_coordinate_are_asked_until_snapshot_wait_s(tmp_path, coordinator):
    (tmp_path / "joiner").mkdir()
    follower = _Served(_serving(coordinator, FakeClock(), coordinator=lambda: False))
    clock = FakeClock()
    join = SnapshotJoin(tmp_path / "joiner" / "node-1.db", {3: [follower]}, clock, 5, threading.Event())
    join.stop.wait = lambda seconds: clock.advance(seconds) or False  # the pauses pass on the fake clock
    assert join.run() is None
    assert follower.asked_begins >= 5 and follower.begins == 0


def test_malformed_requests_are_refused_and_change_nothing(tmp_path, coordinator):
    source = _serving(coordinator, FakeClock())
    for body in (None, {}, {"op": "read"}, {"op": "read", "id": "../x", "offset": 0}, {"op": "read", "id": "c1", "offset": -1},
                 {"op": "begin", "id": 5}):
        with pytest.raises(ValidationError):
            source.handle(1, body)
    with pytest.raises(RpcError):
        source.handle(1, {"op": "read", "id": "nope", "offset": 0})
    info = SnapshotInfo.from_json(source.handle(1, {"op": "begin"}))
    with pytest.raises(RpcError):  # another node's copy
        source.handle(2, {"op": "status", "id": info.id})
    wait_until(lambda: SnapshotInfo.from_json(source.handle(1, {"op": "status", "id": info.id})).state == "ready", 10, what="the copy")
    source.stop()
    assert source.status() == []


def test_snapshot_settings_are_checked(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "CLUSTER": "1=127.0.0.1:1,2=127.0.0.1:2", "CLUSTER_SECRET": TEST_SECRET}
    for key, bad in (("SNAPSHOT_CHUNK_BYTES", "100"), ("SNAPSHOT_CHUNK_BYTES", str(64 * 1024 * 1024)), ("SNAPSHOT_CHUNK_BYTES", "1M"),
                     ("SNAPSHOT_IDLE_S", "0"), ("SNAPSHOT_WAIT_S", "-1")):
        with pytest.raises(ConfigError) as refused:
            load_config(1, {**env, key: bad})
        assert refused.value.key == key
    config = load_config(1, env)
    assert (config.snapshot_chunk_bytes, config.snapshot_wait_s, config.snapshot_idle_s) == (1048576, 30, 60)


class _NeverReady(_Served):
    """A coordinator whose copy is forever being made."""

    def call(self, method: str, body, timeout_s=None):
        answer = super().call(method, body, timeout_s)
        return {**answer, "state": "preparing"} if SnapshotRequest.from_json(body).op == "status" else answer


def test_a_copy_that_is_never_ready_counts_as_failed_transfers_and_the_node_starts_on_an_empty_file(tmp_path, coordinator):
    """The wait for a copy being made has a deadline (PREPARE_MAX_S): it was a loop with none."""
    (tmp_path / "joiner").mkdir()
    stuck = _NeverReady(_serving(coordinator, FakeClock()))
    clock = FakeClock()
    join = SnapshotJoin(tmp_path / "joiner" / "node-1.db", {3: [stuck]}, clock, 5, threading.Event())
    join.stop.wait = lambda seconds: clock.advance(seconds) or False  # the pauses pass on the fake clock
    assert _BoundedJoin(join).run() is None
    assert stuck.begins >= 2 and not (tmp_path / "joiner" / "node-1.db").exists()
