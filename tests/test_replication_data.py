"""The change log and merging, between real SQLite files: shipping, union, conflicts, any order."""

import functools
import random
import re
import sqlite3

import pytest
from replicas import TODAY, Replica, demo_chain

from db.changes import read_after
from db.database import Database
from db.errors import AlreadyExists
from db.kinds import KINDS
from db.merge import MalformedChange, apply_entries
from db.sales import find_sale
from db.schema import MIGRATIONS
from models.changes import Origin, vector_from_json, vector_to_json
from models.records import User, new_id


def test_a_new_replica_catches_up_to_an_identical_copy(replicas):
    primary, empty = replicas(3), replicas(1)
    demo_chain(primary)
    assert empty.pull_from(primary) == primary.changes.position()
    assert empty.digest() == primary.digest()
    assert empty.pull_from(primary) == 0  # nothing twice


def test_two_histories_merge_by_union_without_duplicates(replicas):
    a, b = replicas(3, epoch=1), replicas(2, epoch=2)
    stores, sellers = demo_chain(a)
    b.pull_from(a)
    shared_id = new_id()
    a.sell(sellers[0].id, stores[0].id, 100, shared_id)
    a.sell(sellers[1].id, stores[1].id, 200)
    b.sell(sellers[0].id, stores[0].id, 100, shared_id)  # the same sale retried on the other side
    b.sell(sellers[2].id, stores[2].id, 300)
    a.pull_from(b)
    b.pull_from(a)
    assert a.digest() == b.digest()
    assert a.reports.store_total(stores[0].id, TODAY, TODAY).count == 1
    assert sum(t.count for _, _, t in a.reports.best_stores(TODAY, TODAY, 10)) == 3


@pytest.mark.parametrize("seed", range(6))
def test_any_delivery_order_converges_to_the_same_data(replicas, seed):
    rng = random.Random(seed)
    nodes = [replicas(1, 1), replicas(2, 2), replicas(3, 3)]
    stores, sellers = demo_chain(nodes[2])
    for node in nodes[:2]:
        node.pull_from(nodes[2])
    for _ in range(30):
        node = rng.choice(nodes)
        node.sell(rng.choice(sellers).id, rng.choice(stores).id, rng.randint(1, 5000))
        if rng.random() < 0.3:
            a, b = rng.sample(nodes, 2)
            a.pull_from(b, batch=rng.randint(1, 9))
    for _ in range(2):
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.pull_from(b)
    digests = [n.digest() for n in nodes]
    assert digests[0] == digests[1] == digests[2]
    assert len(digests[0]["sales"]) == 360 + 30


@pytest.mark.parametrize("first", ["a", "b"])
def test_a_cpf_registered_on_both_sides_resolves_the_same_way_everywhere(replicas, first):
    a, b, c = replicas(3, epoch=4), replicas(2, epoch=5), replicas(1, epoch=1)
    stores, _ = demo_chain(a)
    b.pull_from(a)
    c.pull_from(a)
    on_a, on_b = User(new_id(), "39053344705", "Ana Lado A", 1990, "seller"), User(new_id(), "39053344705", "Ana Lado B", 1991, "seller")
    a.register(on_a, "h1")
    b.register(on_b, "h2")
    a.sell(on_a.id, stores[0].id, 1000)
    b.sell(on_b.id, stores[1].id, 2000)
    order = [(c, a), (c, b)] if first == "a" else [(c, b), (c, a)]
    for dst, src in order + [(a, b), (b, a)]:
        dst.pull_from(src)
    assert a.digest() == b.digest() == c.digest()
    winner = on_b.id  # epoch 5 beats epoch 4
    for node in (a, b, c):
        assert node.users.find_by_cpf("39053344705")[0].id == winner
        assert node.users.canonical_id(on_a.id) == winner
        assert node.reports.seller_total(winner, None, None).count == 2
        assert node.reports.seller_total(on_a.id, None, None).count == 0
        merges = node.db.read(lambda conn: conn.execute("SELECT loser_id, winner_id FROM user_merges").fetchall())
        assert [tuple(m) for m in merges] == [(on_a.id, winner)]


def test_a_cpf_is_unique_on_one_node(replicas):
    a = replicas(1)
    a.register(User(new_id(), "39053344705", "Ana", 1990, "seller"), "h")
    with pytest.raises(AlreadyExists):
        a.register(User(new_id(), "390.533.447-05".replace(".", "").replace("-", ""), "Outra", 1990, "seller"), "h")


def test_a_gap_stops_that_origin_and_malformed_entries_change_nothing(replicas):
    a, b = replicas(3), replicas(1)
    stores, sellers = demo_chain(a)
    entries, _ = a.db.read(lambda c: read_after(c, a.changes.vector(), {}, 1000))
    with_gap = entries[:5] + entries[6:]
    applied = b.db.write(lambda c: apply_entries(c, with_gap, "t")).applied
    assert applied == 5 and b.changes.vector() == {(3, a.db.incarnation.text, 1): 5}
    before = b.digest()
    bad_batches = [
        "not a list", [{"origin": [3, "a", 1, 6], "kind": "sale"}], [{"origin": [3, 1, 6], "kind": "sale", "data": {}}],
        [dict(entries[5], origin=[3, "not hex", 1, 6])], [dict(entries[5], origin=[3, "", 1, 6])],
        [dict(entries[5], data={**entries[5]["data"], "id": "x"})],
        [dict(entries[-1], data={**entries[-1]["data"], "amount_cents": 10.5})],
        entries[5:10] + [{"origin": [3, "a", 1, 99], "kind": "sale", "data": {"id": new_id(), "amount_cents": -5}}],
    ]
    for bad in bad_batches:
        with pytest.raises(MalformedChange):
            b.db.write(functools.partial(apply_entries, entries=bad, merged_at="t"))
    assert b.digest() == before
    b.pull_from(a)
    assert b.digest() == a.digest()


def test_vectors_round_trip_and_reject_junk():
    vector = {(3, "9f0c2a7d1b3e4f56", 2): 17, (1, "0", 1): 4}
    assert vector_from_json(vector_to_json(vector)) == vector
    for junk in ([], {"3": 1}, {"3.2": 1}, {"a.b.c": 1}, {"3.a.2": -1}, {"3.a.2": "1"}, {"3.a.2": True}, {"3..2": 1},
                 {"3.G.2": 1}, {"3.a.2.1": 1}):
        with pytest.raises(ValueError):
            vector_from_json(junk)


def test_migration_3_gives_existing_rows_gapless_changes_parents_first(tmp_path):
    path = tmp_path / "node-2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + ";" + MIGRATIONS[1] + "; PRAGMA user_version = 2;")
    conn.execute("INSERT INTO networks VALUES ('n1', 'REDE', 't')")
    conn.execute("INSERT INTO stores VALUES ('s1', 'Loja', '11222333000181', 'n1', 't')")
    conn.execute("INSERT INTO users VALUES ('u1', '12345678909', 'Ana', 1990, 'seller', 'h', 't')")
    sale_ids = [f"00000000-0000-4000-8000-00000000000{seq}" for seq in (1, 2)]
    for seq, sale_id in enumerate(sale_ids, 1):
        conn.execute("INSERT INTO sales VALUES (?, 'u1', 's1', 100, '2026-11-01', '2026-11-01T10:00:00.000000Z', 2, ?)", (sale_id, seq))
    conn.close()
    replica = Replica(path, node_id=2)
    try:
        log, _ = replica.db.read(lambda c: read_after(c, replica.changes.vector(), {}, 100))
        assert [[*entry["origin"], entry["kind"]] for entry in log] == [
            [2, "0", 1, 1, "network"], [2, "0", 1, 2, "store"], [2, "0", 1, 3, "user"], [2, "0", 1, 4, "sale"], [2, "0", 1, 5, "sale"],
        ]
        assert replica.changes.vector() == {(2, "0", 1): 5}
        assert replica.db.read(lambda c: find_sale(c, sale_ids[1])).origin_seq == 5
        assert replica.changes.holds(Origin(2, 1, 5, "0")) and not replica.changes.holds(Origin(2, 1, 6, "0"))
    finally:
        replica.close()


def test_the_schema_allows_exactly_the_replicated_kinds(tmp_path):
    """A kind added to db.kinds needs a migration that widens the CHECK on changes.kind."""
    db = Database(tmp_path / "node-1.db")
    try:
        table_sql = db.read(lambda c: c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'changes'").fetchone()[0])
    finally:
        db.close()
    allowed = re.search(r"CHECK \(kind IN \(([^)]*)\)\)", table_sql).group(1)
    assert [name.strip(" '") for name in allowed.split(",")] == list(KINDS)


def _log_invariants(replica: Replica) -> None:
    """What the file keeps beside its log equals what the log holds: the vector table is each origin's highest seq,
    every origin's sequence runs 1..highest with no gap, and sale_marks holds exactly the sale changes whose seq is 1
    modulo 256 and the first sale change (by position) of each origin."""
    def check(conn):
        log = conn.execute("SELECT origin_inc, origin_epoch, origin_seq, local_pos, 1 FROM sales UNION ALL "
                           "SELECT origin_inc, origin_epoch, origin_seq, local_pos, 0 FROM changes").fetchall()
        seqs: dict[tuple[int, int], list[int]] = {}
        first_sale: dict[tuple[int, int], tuple[int, int]] = {}
        for inc, epoch, seq, pos, is_sale in log:
            seqs.setdefault((inc, epoch), []).append(seq)
            if is_sale and ((inc, epoch) not in first_sale or pos < first_sale[inc, epoch][1]):
                first_sale[inc, epoch] = (seq, pos)
        assert {key: sorted(s) for key, s in seqs.items()} == {key: list(range(1, len(s) + 1)) for key, s in seqs.items()}
        assert dict(((r[0], r[1]), r[2]) for r in conn.execute("SELECT * FROM vector")) == {k: len(s) for k, s in seqs.items()}
        marks = {(r[0], r[1], r[2], r[3]) for r in conn.execute("SELECT * FROM sale_marks")}
        expected = {(inc, epoch, seq, pos) for inc, epoch, seq, pos, is_sale in log if is_sale and seq % 256 == 1}
        expected |= {(inc, epoch, seq, pos) for (inc, epoch), (seq, pos) in first_sale.items()}
        assert marks == expected
    replica.db.read(check)


def test_batches_of_sales_keep_the_vector_and_marks_as_per_row_triggers_did(replicas, tmp_path):
    """Imports crossing mark boundaries, a batch refused for a held id and sorted out, and pulls in batches of 97 and
    300 (summed by SQLite on the receiving side) leave vector and sale_marks equal to the log on every node, also after
    reopening the file (the vector is read from its table at start)."""
    from replicas import AT

    from db.sales import record_if_new
    from models.records import Sale
    a, b = replicas(3, epoch=1), replicas(2, epoch=2)
    stores, sellers = demo_chain(a)
    first = [Sale(new_id(), sellers[i % 3].id, stores[i % 4].id, 100 + i, TODAY, AT) for i in range(700)]
    for i in range(0, 700, 350):
        assert a.write(lambda conn, stamp, batch=first[i:i + 350]: record_if_new(conn, stamp, batch)) is True
    again = first[10:11] + [Sale(new_id(), sellers[0].id, stores[0].id, 5, TODAY, AT) for _ in range(99)]
    assert a.write(lambda conn, stamp: record_if_new(conn, stamp, again)) is False
    b.pull_from(a, batch=97)
    b.sell(sellers[1].id, stores[1].id, 777)  # an origin of b's own between
    more = [Sale(new_id(), sellers[2].id, stores[2].id, 1_000 + i, TODAY, AT) for i in range(600)]
    a.write(lambda conn, stamp: record_if_new(conn, stamp, more))
    b.pull_from(a, batch=300)
    a.pull_from(b, batch=300)
    assert a.digest() == b.digest()
    for replica in (a, b):
        _log_invariants(replica)
    path = b.db.path
    b.close()
    reopened = Replica(path, 2, epoch=2)
    try:
        _log_invariants(reopened)
        assert reopened.changes.vector() == a.changes.vector()
    finally:
        reopened.close()
