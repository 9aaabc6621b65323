"""Migrations 6 to 8 (compact sales, cheaper writes, pentads) on a file made by the code before them, and the vector
table they keep."""

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import threading
from pathlib import Path

from replicas import Replica
from support import DEMO_MANAGER_CPF, DEMO_PIN, ServerProcess, wait_until

from db.changes import load_vector, read_after
from db.codec import day_of
from db.incarnations import incarnations_by_key
from db.periods import period_of
from db.sales import record_if_new
from db.schema import MIGRATIONS, schema_version
from models.records import Sale, new_id

FIXTURE = Path(__file__).parent / "testdata" / "schema5-node1.db"  # made by testdata/make_schema5_fixture.py


def open_fixture(tmp_path) -> Replica:
    path = tmp_path / "node-1.db"
    shutil.copy(FIXTURE, path)
    os.chmod(path, 0o600)
    return Replica(path, node_id=1, epoch=2)


def test_a_schema_5_file_reads_the_same_log_vector_and_reports_after_migration(tmp_path):
    """The log as shipped (order, origins, data), the vector and every report equal what the old code read from it."""
    expected = json.loads(FIXTURE.with_suffix(".json").read_text())
    node = open_fixture(tmp_path)
    try:
        assert node.db.read(schema_version) == len(MIGRATIONS) == 8
        assert sorted([*key, seq] for key, seq in node.changes.vector().items()) == expected["vector"]
        log, more = node.db.read(lambda c: read_after(c, node.changes.vector(), {}, 1_000_000))
        assert not more and len(log) == len(expected["log"])
        assert log == expected["log"]
        ranges = [[d and dt.date.fromisoformat(d) for d in r] for r in expected["ranges"]]
        for seller_id, totals in expected["reports"]["sellers"].items():
            assert [[t.total_cents, t.count] for t in (node.reports.seller_total(seller_id, *r) for r in ranges)] == totals
        for store_id, totals in expected["reports"]["stores"].items():
            assert [[t.total_cents, t.count] for t in (node.reports.store_total(store_id, *r) for r in ranges)] == totals
        best = [[i, n, t.total_cents, t.count] for r in ranges for i, n, t in node.reports.best_sellers(*r, 100)]
        assert best == expected["reports"]["best_sellers"]
    finally:
        node.close()


def test_migration_8_sums_each_pentad_from_its_days(tmp_path):
    """Every store's and seller's total per pentad equals the sum of its days' totals, and no pentad row is missing."""
    node = open_fixture(tmp_path)
    try:
        for who in ("store", "seller"):
            days = node.db.read(lambda c, who=who: c.execute(f"SELECT period, key, total_cents, sale_count FROM totals_{who}_day")
                                .fetchall())
            expected: dict[tuple[int, int], list[int]] = {}
            for day, key, cents, count in days:
                summed = expected.setdefault((period_of("pentad", day_of(day)), key), [0, 0])
                summed[0] += cents
                summed[1] += count
            pentads = node.db.read(lambda c, who=who: c.execute(f"SELECT period, key, total_cents, sale_count FROM totals_{who}_pentad")
                                   .fetchall())
            assert len(expected) > 10
            assert {(period, key): [cents, count] for period, key, cents, count in pentads} == expected
    finally:
        node.close()


def test_a_migrated_file_keeps_taking_changes_in_order_and_ships_them_after_the_old_ones(tmp_path):
    """New sales after the migration get the next positions and sequence numbers; a peer lacking only them gets only them."""
    node = open_fixture(tmp_path)
    try:
        before = node.changes.vector()
        sellers = node.users.list_sellers()
        store = node.db.read(lambda c: c.execute("SELECT id FROM stores ORDER BY id LIMIT 1").fetchone()[0])
        sold = [node.sell(sellers[0].id, store, 500 + i) for i in range(3)]
        after = node.changes.vector()
        grown = {key: seq - before.get(key, 0) for key, seq in after.items() if seq != before.get(key)}
        assert list(grown.values()) == [3] and [s.origin_seq for s in sold] == [1, 2, 3]
        log, more = node.db.read(lambda c: read_after(c, after, before, 100))
        assert [entry["data"]["id"] for entry in log] == [s.sale_id for s in sold] and not more
        # a batch after them (migration 7 keeps the vector and marks per batch, not by triggers): the table is the log's
        batch = [Sale(new_id(), sellers[1].id, store, 100 + i, dt.date(2026, 11, 1), "2026-11-26T15:00:00.000000Z") for i in range(300)]
        assert node.write(lambda conn, stamp: record_if_new(conn, stamp, batch)) is True
        assert node.db.read(load_vector)[0] == _vector_from_the_log(node.db.path) == node.changes.vector()
        marks = node.db.read(lambda c: [row[0] for row in c.execute("SELECT origin_seq FROM sale_marks ORDER BY origin_seq")])
        assert {1, 257} <= set(marks)  # this origin's first sale change, and every 256th
    finally:
        node.close()


def _vector_from_the_log(path: Path) -> dict:
    """The vector recomputed from every change kept in either table: what the vector table must say."""
    conn = sqlite3.connect(path)
    try:
        names = incarnations_by_key(conn)
        rows = conn.execute("SELECT origin_inc, origin_epoch, MAX(origin_seq) FROM (SELECT origin_inc, origin_epoch, origin_seq "
                            "FROM changes UNION ALL SELECT origin_inc, origin_epoch, origin_seq FROM sales) GROUP BY 1, 2").fetchall()
        return {(*names[inc], epoch): seq for inc, epoch, seq in rows}
    finally:
        conn.close()


def test_the_vector_table_matches_the_log_after_a_kill_in_the_middle_of_imports(tmp_path):
    """kill -9 while 2,000-row imports are being written: after the restart the kept vector equals the log's own."""
    node = ServerProcess(tmp_path, node_id=1)
    node.start()
    try:
        token = node.result("auth.login", cpf=DEMO_MANAGER_CPF, pin=DEMO_PIN)["token"]
        store = node.result("stores.list")["stores"][0]["id"]
        seller = node.result("sellers.list", token=token)["sellers"][0]["id"]
        stop, refused = threading.Event(), []

        def keep_importing() -> None:
            client, batch = node.raw(timeout=60), 0
            try:
                while not stop.is_set():
                    batch += 1
                    rows = [{"seller": seller, "store": store, "amount": "1.00", "sold_on": "2025-01-01", "line": batch * 10_000 + i}
                            for i in range(2_000)]
                    answer = client.call("sales.import", {"token": token, "rows": rows})
                    if answer.get("result", {}).get("imported") != len(rows):
                        refused.append(answer)  # told by the main thread
                        return
            except (OSError, ValueError):  # the node is gone: that is the point
                return
            finally:
                client.close()

        importer = threading.Thread(target=keep_importing, daemon=True)
        importer.start()
        wait_until(lambda: node.sales_digest()["rows"] >= 4_000, what="two imports written", timeout=60)
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)
        stop.set()
        importer.join(timeout=10)
        assert not importer.is_alive() and not refused, refused[:1]
        path = node.database_path
        wal = Path(f"{path}-wal")
        assert wal.exists()
        conn = sqlite3.connect(path)  # recovers the WAL as the next opening would
        try:
            kept = load_vector(conn)[0]
        finally:
            conn.close()
        assert kept == _vector_from_the_log(path) and sum(kept.values()) >= 4_000
        node.start()
        assert node.result("stores.list")["stores"]  # it serves again
    finally:
        node.stop()
