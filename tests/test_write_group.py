"""Sales written together (server.ledger.WriteGroup, server.controllers.sales.record_together): concurrent
sales.record calls share one write of the group commit, and each is answered as if it had been written alone."""

import datetime as dt
import sqlite3
import threading

import pytest
from support import FixedRole
from test_db import AT, TODAY, _setup_chain, open_db

from db.errors import SaleConflict
from db.reports import ReportsRepository
from db.sales import SalesRepository
from models.records import Sale, new_id
from server.controllers.sales import record_together
from server.controllers.sales_import import import_together
from server.ledger import WriteGroup, write_alone

WRITERS = 8
ROUNDS = 30


class CountingRole(FixedRole):
    """Two copies of everything; counts the waits for replicas."""

    def __init__(self):
        super().__init__(1)
        self.waits = 0

    def await_replicated(self, epoch: int, origins: list) -> int:
        assert origins, "a write that logged changes waits for them"
        self.waits += 1
        return 2


def test_callers_in_a_loop_share_one_write_per_group(tmp_path):
    """Each caller's next item follows its answer at once (a till's next sale): the items of concurrent callers are
    handed to write_all together, each caller gets its own item's outcome, nothing is written twice, and each group
    waits for its replicas once (its leader), not once per caller."""
    db = open_db(tmp_path / "node-1.db")
    try:
        db.ledger.role = role = CountingRole()
        db.write(lambda conn: conn.execute("CREATE TABLE t (caller INTEGER, n INTEGER)"))
        calls: list[int] = []

        def write_all(conn, stamp, items):
            calls.append(len(items))
            conn.executemany("INSERT INTO t VALUES (?, ?)", items)
            stamp.allocate_run(conn, len(items))  # as if it logged a change per item: the answer waits for them
            return [(True, item) for item in items]
        group = WriteGroup(db.ledger, write_all)
        barrier = threading.Barrier(WRITERS)
        answers: dict[int, list] = {}

        def caller(k: int):
            barrier.wait(timeout=30)
            answers[k] = [group.commit((k, n)) for n in range(ROUNDS)]
        threads = [threading.Thread(target=caller, args=(k,), daemon=True) for k in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "callers still writing after 60 s"
        assert answers == {k: [((k, n), 2) for n in range(ROUNDS)] for k in range(WRITERS)}
        rows = db.read(lambda conn: conn.execute("SELECT caller, n FROM t ORDER BY caller, n").fetchall())
        assert [tuple(r) for r in rows] == [(k, n) for k in range(WRITERS) for n in range(ROUNDS)]
        assert sum(calls) == WRITERS * ROUNDS
        assert role.waits == len(calls), f"{role.waits} waits for replicas over {len(calls)} groups"
        steady = calls[len(calls) // 4:]  # past the start, when the callers arrive one by one
        assert sum(steady) / len(steady) > 0.7 * WRITERS, f"items per write: {steady}"
    finally:
        db.close()


def test_a_failed_group_write_fails_every_caller_of_it(tmp_path):
    db = open_db(tmp_path / "node-1.db")
    try:
        def write_all(conn, stamp, items):
            raise RuntimeError("broken write")
        group = WriteGroup(db.ledger, write_all)
        try:
            group.commit("x")
        except RuntimeError as exc:
            assert str(exc) == "broken write"
        else:
            raise AssertionError("the write's error did not reach its caller")
        ok = WriteGroup(db.ledger, lambda conn, stamp, items: [(True, len(items))])
        assert ok.commit("y") == (1, 1)  # the next group is a new one
    finally:
        db.close()


def _sale(seller_id: str, store_id: str, cents: int, sale_id: str | None = None) -> Sale:
    return Sale(sale_id or new_id(), seller_id, store_id, cents, TODAY - dt.timedelta(days=1), AT)


def test_retries_and_reused_ids_inside_one_group_are_answered_as_alone(tmp_path):
    """A retry of a sale stored by an earlier write, a retry of a sale earlier in the same group, and a reused id
    with other content in the same group: each answered as record_sale answers it alone; each sale counted once."""
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store_a, _, seller = _setup_chain(db)
        stored_before = _sale(seller.id, store_a.id, 100)
        db.ledger.commit(lambda conn, stamp: record_together(conn, stamp, [(stored_before, True)]))
        new = _sale(seller.id, store_a.id, 250)
        other = _sale(seller.id, store_a.id, 400)
        reused = Sale(new.sale_id, seller.id, store_a.id, 999, new.sold_on, AT)
        items = [(new, True), (stored_before, True), (new, True), (reused, True), (other, True)]
        outcomes, replicas = db.ledger.commit(lambda conn, stamp: record_together(conn, stamp, items))
        assert replicas == 1
        assert [ok for ok, _ in outcomes] == [True, True, True, False, True]
        assert isinstance(outcomes[3][1], SaleConflict)
        (first, first_dup, first_void), (retry, retry_dup, _), (again, again_dup, _), _, (last, last_dup, _) = \
            [value if ok else None for ok, value in outcomes]
        assert (first.sale_id, first.amount_cents, first_dup, first_void) == (new.sale_id, 250, False, False)
        assert (retry.sale_id, retry_dup) == (stored_before.sale_id, True)
        assert (again.sale_id, again.amount_cents, again_dup) == (new.sale_id, 250, True)
        assert (last.sale_id, last_dup) == (other.sale_id, False)
        assert first.origin_seq + 1 == last.origin_seq  # one run of new sales
        total = ReportsRepository(db).seller_total(seller.id, None, None)
        assert (total.total_cents, total.count) == (750, 3)
    finally:
        db.close()


def test_concurrent_imports_are_one_run_when_all_new_and_otherwise_answered_as_alone(tmp_path):
    """sales.import calls in one group: all new, they are one run of new sales; with a held id, an id in two calls,
    a reused id or a sale the file refuses, each call is written on its own, answered as alone, each sale counted once."""
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store_a, _, seller = _setup_chain(db)
        first = [_sale(seller.id, store_a.id, cents) for cents in (100, 200)]
        second = [_sale(seller.id, store_a.id, cents) for cents in (300, 400, 500)]
        outcomes, _ = db.ledger.commit(lambda conn, stamp: import_together(conn, stamp, [first, second]))
        assert outcomes == [(True, (2, [])), (True, (3, []))]
        held = SalesRepository(db).find(first[0].sale_id), SalesRepository(db).find(second[-1].sale_id)
        assert held[0].origin_seq + 4 == held[1].origin_seq  # one run for both calls
        shared = _sale(seller.id, store_a.id, 7)
        reused = Sale(second[0].sale_id, seller.id, store_a.id, 999, second[0].sold_on, AT)
        refused_by_the_file = _sale(seller.id, store_a.id, 0)
        calls = [[shared, first[1]], [reused, shared, _sale(seller.id, store_a.id, 11)], [refused_by_the_file]]
        outcomes, _ = db.ledger.commit(lambda conn, stamp: import_together(conn, stamp, calls))
        conflict = {"index": 0, "field": "sale_id", "reason": "already used for a different sale"}
        assert outcomes[:2] == [(True, (1, [])), (True, (1, [conflict]))]
        assert outcomes[2][0] is False
        total = ReportsRepository(db).seller_total(seller.id, None, None)
        assert (total.total_cents, total.count) == (100 + 200 + 300 + 400 + 500 + 7 + 11, 7)
    finally:
        db.close()


def test_a_file_run_again_in_one_group_finds_its_sales_held_and_brings_in_only_the_new_ones(tmp_path):
    """Calls of a group, one of sales already held (a file run again) and one of new sales: the held ones count as
    there already, the new ones come in once, and a third run changes nothing."""
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store_a, _, seller = _setup_chain(db)
        held = [_sale(seller.id, store_a.id, cents) for cents in (100, 200)]
        db.ledger.commit(lambda conn, stamp: import_together(conn, stamp, [held]))
        new = [_sale(seller.id, store_a.id, cents) for cents in (30, 40)]
        outcomes, _ = db.ledger.commit(lambda conn, stamp: import_together(conn, stamp, [held, new]))
        assert outcomes == [(True, (0, [])), (True, (2, []))]
        outcomes, _ = db.ledger.commit(lambda conn, stamp: import_together(conn, stamp, [held, new]))
        assert outcomes == [(True, (0, [])), (True, (0, []))]
        total = ReportsRepository(db).seller_total(seller.id, None, None)
        assert (total.total_cents, total.count) == (370, 4)
    finally:
        db.close()


def test_a_call_that_sinks_the_shared_import_sinks_only_itself_and_a_disk_error_is_the_whole_writes(tmp_path):
    """All new but one sale the file refuses: the one write of every call fails, so each call is written on its own
    and only that call fails. An error of the file or the disk is not one item's: it is raised, for the writer to report."""
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store_a, _, seller = _setup_chain(db)
        calls = [[_sale(seller.id, store_a.id, 100)], [_sale(seller.id, store_a.id, 0)], [_sale(seller.id, store_a.id, 300)]]
        outcomes, _ = db.ledger.commit(lambda conn, stamp: import_together(conn, stamp, calls))
        assert [ok for ok, _ in outcomes] == [True, False, True] and outcomes[0][1] == outcomes[2][1] == (1, [])
        assert isinstance(outcomes[1][1], sqlite3.IntegrityError)
        total = ReportsRepository(db).seller_total(seller.id, None, None)
        assert (total.total_cents, total.count) == (400, 2)

        def disk_fails():
            raise sqlite3.OperationalError("disk I/O error")
        with pytest.raises(sqlite3.OperationalError):
            db.ledger.commit(lambda conn, stamp: write_alone(conn, stamp, disk_fails))
    finally:
        db.close()


def test_a_sale_that_sinks_the_run_sinks_only_itself(tmp_path):
    """The run of new sales fails (a row the file refuses): each new sale is then written on its own, so the others
    are recorded, and nobody waits for the changes the failed run had taken."""
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store_a, _, seller = _setup_chain(db)
        good, bad, later = _sale(seller.id, store_a.id, 100), _sale(seller.id, store_a.id, 0), _sale(seller.id, store_a.id, 300)
        seen: list = []

        def write(conn, stamp):
            outcomes = record_together(conn, stamp, [(good, True), (bad, True), (later, True)])
            seen.extend(stamp.origins)
            return outcomes
        outcomes, _ = db.ledger.commit(write)
        assert [ok for ok, _ in outcomes] == [True, False, True]
        assert outcomes[0][1][0].origin_seq + 1 == outcomes[2][1][0].origin_seq  # no gap left by the failed run
        assert max(o.seq for o in seen) == outcomes[2][1][0].origin_seq
        total = ReportsRepository(db).seller_total(seller.id, None, None)
        assert (total.total_cents, total.count) == (400, 2)
    finally:
        db.close()


def test_the_group_waits_as_its_ledger_does(tmp_path):
    """Each caller's answer carries the replicas its role reports for the group's changes."""
    db = open_db(tmp_path / "node-1.db")
    try:
        db.ledger.role = CountingRole()
        _, store_a, _, seller = _setup_chain(db)
        group = WriteGroup(db.ledger, record_together)
        (stored, duplicate, voided), replicas = group.commit((_sale(seller.id, store_a.id, 120), True))
        assert (stored.amount_cents, duplicate, voided, replicas) == (120, False, False, 2)
    finally:
        db.close()
