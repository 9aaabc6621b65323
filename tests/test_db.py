"""Every query against a real temporary SQLite file, the empty database included."""

import datetime as dt
import sqlite3
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import FixedRole

from db.catalogue import CatalogueRepository
from db.changes import ChangeLog
from db.database import Database
from db.demo import demo_write
from db.errors import AlreadyExists, SaleConflict
from db.periods import LEVELS, cover, period_days, period_of
from db.reports import ReportsRepository
from db.sales import SalesRepository, record_sale
from db.schema import MIGRATIONS, schema_version
from db.users import UserRepository
from models.records import Network, Sale, Store, Total, User, new_id
from server.ledger import Ledger

TODAY = dt.date(2026, 11, 26)
AT = "2026-11-26T12:00:00.000000Z"


def fast_hash(pin: str) -> str:
    return "scrypt$2$1$1$00$00"  # demo loading does not need real hashes in these tests


def open_db(path) -> Database:
    database = Database(path)
    database.changes = ChangeLog()
    database.read(database.changes.load)
    database.after_commit.append(database.changes.on_commit)
    database.ledger = Ledger(1, database, FixedRole(1))
    return database


def record(db: Database, sale: Sale, date_given: bool = True) -> tuple[Sale, bool]:
    """Record a sale through the ledger, as the sales controller does; (stored, duplicate)."""
    return db.ledger.commit(lambda conn, stamp: record_sale(conn, sale, stamp, date_given))[0]


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "node-1.db")
    yield database
    database.close()


def _setup_chain(db: Database):
    network = Network(new_id(), "REDE")
    store_a, store_b = Store(new_id(), "Loja A", "11222333000181", network), Store(new_id(), "Loja B", "11444777000161", network)
    seller = User(new_id(), "12345678909", "Vendedor", 1990, "seller")

    def write(conn, stamp):
        CatalogueRepository.insert_network(conn, network, "t", stamp)
        CatalogueRepository.insert_store(conn, store_a, "t", stamp)
        CatalogueRepository.insert_store(conn, store_b, "t", stamp)
        UserRepository.insert(conn, seller, "hash", "t", stamp)
    db.ledger.commit(write)
    return network, store_a, store_b, seller


def test_schema_is_migrated_and_reopening_keeps_it(tmp_path):
    path = tmp_path / "x.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    assert schema_version(conn) == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    Database(path).close()


def test_empty_database_answers_every_query_with_empties_and_zeros(db):
    reports, sales = ReportsRepository(db), SalesRepository(db)
    catalogue, users = CatalogueRepository(db), UserRepository(db)
    assert catalogue.list_networks() == [] and catalogue.list_stores() == []
    assert catalogue.get_store(new_id()) is None and catalogue.get_network(new_id()) is None
    assert users.list_sellers() == [] and users.find_by_cpf("12345678909") is None and users.find_by_id(new_id()) is None
    assert sales.list_for_seller(new_id(), None, None, 10) == [] and sales.count() == 0
    for total in (reports.seller_total(new_id(), None, None), reports.store_total(new_id(), None, None),
                  reports.network_total(new_id(), TODAY, TODAY)):
        assert (total.total_cents, total.count) == (0, 0)
    assert reports.best_stores(None, None, 5) == [] and reports.best_sellers(None, None, 5) == []


def test_recording_is_idempotent_and_a_reused_id_with_other_content_conflicts(db):
    _, store_a, store_b, seller = _setup_chain(db)
    sales = SalesRepository(db)
    sale = Sale(new_id(), seller.id, store_a.id, 1050, TODAY, AT)
    stored, duplicate = record(db, sale)
    assert not duplicate and (stored.origin_node, stored.origin_epoch, stored.origin_seq) == (1, 1, 5)  # after 4 catalogue changes
    again, duplicate = record(db, sale)
    assert duplicate and again == stored
    _, duplicate = record(db, Sale(sale.sale_id, seller.id, store_a.id, 1050, TODAY - dt.timedelta(days=1), AT), date_given=False)
    assert duplicate  # a retry that did not name the date matches the stored one
    for other in (Sale(sale.sale_id, seller.id, store_b.id, 1050, TODAY, AT), Sale(sale.sale_id, seller.id, store_a.id, 1051, TODAY, AT)):
        with pytest.raises(SaleConflict):
            record(db, other)
    assert sales.count() == 1
    assert ReportsRepository(db).store_total(store_a.id, None, None).total_cents == 1050


def test_sequence_numbers_only_grow_per_node_and_the_vector_follows_commits(db):
    _, store_a, _, seller = _setup_chain(db)
    seqs = [record(db, Sale(new_id(), seller.id, store_a.id, 100, TODAY, AT))[0].origin_seq for _ in range(5)]
    assert seqs == [5, 6, 7, 8, 9]
    assert db.changes.vector() == {(1, db.incarnation.text, 1): 9} and db.changes.position() == 9


def test_aggregates_equal_sums_of_the_sales_in_any_range(db):
    network, store_a, store_b, seller = _setup_chain(db)
    sales, reports = SalesRepository(db), ReportsRepository(db)
    rows = [(store_a, 1000, 0), (store_a, 250, 1), (store_b, 999, 1), (store_b, 1, 10)]
    for store, cents, days_ago in rows:
        record(db, Sale(new_id(), seller.id, store.id, cents, TODAY - dt.timedelta(days=days_ago), AT))
    yesterday = TODAY - dt.timedelta(days=1)
    assert reports.store_total(store_a.id, None, None).total_cents == 1250
    assert reports.store_total(store_b.id, yesterday, TODAY).total_cents == 999
    assert reports.seller_total(seller.id, yesterday, yesterday).count == 2
    assert reports.network_total(network.id, None, None).total_cents == 2250
    ranking = reports.best_stores(None, None, 10)
    assert [(name, t.total_cents, t.count) for _, name, t in ranking] == [("Loja A", 1250, 2), ("Loja B", 1000, 2)]
    assert [name for _, name, _ in reports.best_stores(TODAY, TODAY, 1)] == ["Loja A"]
    listed = sales.list_for_seller(seller.id, yesterday, None, 10)
    assert [s.amount_cents for s in listed][0] == 1000 and len(listed) == 3
    assert len(sales.list_for_seller(seller.id, None, None, 2)) == 2


def test_rankings_break_ties_by_name(db):
    network, store_a, store_b, seller = _setup_chain(db)
    reports = ReportsRepository(db)
    for store in (store_b, store_a):
        record(db, Sale(new_id(), seller.id, store.id, 500, TODAY, AT))
    assert [name for _, name, _ in reports.best_stores(None, None, 2)] == ["Loja A", "Loja B"]


def test_unique_keys_raise_already_exists(db):
    _, store_a, _, seller = _setup_chain(db)
    with pytest.raises(AlreadyExists):
        db.ledger.commit(lambda c, stamp: UserRepository.insert(c, User(new_id(), seller.cpf, "Outro", 1990, "seller"), "h", "t", stamp))
    with pytest.raises(AlreadyExists):
        duplicate = Store(new_id(), "X", store_a.cnpj, store_a.network)
        db.ledger.commit(lambda c, stamp: CatalogueRepository.insert_store(c, duplicate, "t", stamp))


def test_a_failing_write_in_a_group_commit_leaves_the_others_committed(db):
    _, store_a, _, seller = _setup_chain(db)
    sales = SalesRepository(db)
    errors, barrier = [], threading.Barrier(20)

    def writer(i):
        barrier.wait()
        try:
            if i % 5 == 0:
                record(db, Sale(new_id(), seller.id, store_a.id, 0, TODAY, AT))  # the CHECK on amount_cents fails
            else:
                record(db, Sale(new_id(), seller.id, store_a.id, 100, TODAY, AT))
        except sqlite3.IntegrityError as exc:
            errors.append(exc)
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 4 and sales.count() == 16
    assert ReportsRepository(db).seller_total(seller.id, None, None).count == 16


def test_concurrent_writers_share_commits(db):
    _, store_a, _, seller = _setup_chain(db)
    sales, barrier = SalesRepository(db), threading.Barrier(40)
    commits_before = db.commits

    def writer():
        barrier.wait()
        for _ in range(10):
            record(db, Sale(new_id(), seller.id, store_a.id, 100, TODAY, AT))
    threads = [threading.Thread(target=writer) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sales.count() == 400
    assert db.commits - commits_before < 400  # group commit: fewer transactions than writes


def test_demo_loads_once_into_an_empty_database_only(db):
    assert db.ledger.commit(demo_write(TODAY, fast_hash, AT))[0]
    catalogue, users = CatalogueRepository(db), UserRepository(db)
    assert [n.name for n in catalogue.list_networks()] == ["ATAKADAO", "LOJAS MARTINS", "MAX ATACADO"]
    assert len(catalogue.list_stores()) == 6 and len(users.list_sellers()) == 4
    assert users.find_by_cpf("56789012303")[0].role == "manager"
    count = SalesRepository(db).count()
    assert count >= 300
    assert not db.ledger.commit(demo_write(TODAY, fast_hash, AT))[0]
    assert SalesRepository(db).count() == count
    ranking = ReportsRepository(db).best_stores(TODAY - dt.timedelta(days=90), TODAY, 100)
    assert sum(t.count for _, _, t in ranking) == count


@given(st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)), st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
       st.booleans(), st.booleans())
def test_a_range_is_covered_by_days_pentads_dekads_months_and_years_exactly(a, b, open_start, open_end):
    """Every day of a range once, whatever its ends: nothing missed, nothing counted twice; few periods."""
    start, end = (None if open_start else min(a, b)), (None if open_end else max(a, b))
    window_start, window_end = dt.date(2019, 12, 1), dt.date(2031, 1, 31)
    covered, periods = [], 0
    for level, first, last in cover(start, end):
        periods += min(last - first + 1, 3000)
        for period in range(max(first, 2019) if level == "year" else first, (min(last, 2031) if level == "year" else last) + 1):
            day, period_end = period_days(level, period)
            while day <= period_end:
                if window_start <= day <= window_end:
                    covered.append(day)
                day += dt.timedelta(days=1)
    expected = []
    day = window_start
    while day <= window_end:
        if (start is None or day >= start) and (end is None or day <= end):
            expected.append(day)
        day += dt.timedelta(days=1)
    assert sorted(covered) == expected
    if start is not None and end is not None:
        assert periods <= (4 + 1 + 2 + 2 + 3) * 2 + (end.year - start.year)  # days to quarters at each end, then years


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(1, 10_000), st.booleans()), min_size=1, max_size=30),
       st.integers(0, 420), st.integers(0, 420))
def test_report_totals_match_summing_the_sales_for_any_range(tmp_path_factory, sales, a, b):
    db = open_db(tmp_path_factory.mktemp("agg") / "node-1.db")
    try:
        network, store_a, store_b, seller = _setup_chain(db)
        reports = ReportsRepository(db)
        for days_ago, cents, first_store in sales:
            record(db, Sale(new_id(), seller.id, (store_a if first_store else store_b).id, cents, TODAY - dt.timedelta(days=days_ago), AT))
        start, end = TODAY - dt.timedelta(days=max(a, b)), TODAY - dt.timedelta(days=min(a, b))
        inside = [(c, f) for d, c, f in sales if start <= TODAY - dt.timedelta(days=d) <= end]
        assert reports.seller_total(seller.id, start, end) == Total(sum(c for c, _ in inside), len(inside))
        assert reports.store_total(store_a.id, start, end) == Total(sum(c for c, f in inside if f), sum(1 for _, f in inside if f))
        assert reports.network_total(network.id, start, None).count == sum(1 for d, _, _ in sales if TODAY - dt.timedelta(days=d) >= start)
        ranked = {name: total for _, name, total in reports.best_stores(start, end, 10)}
        assert sum(t.total_cents for t in ranked.values()) == sum(c for c, _ in inside)
        assert sum(t.count for t in ranked.values()) == len(inside)
        # the seller's own sales, sought day by day in the (day, seller) index, open ends clipped to the days held
        listed = SalesRepository(db).list_for_seller(seller.id, start, end, 1000)
        assert sorted(sale.amount_cents for sale in listed) == sorted(c for c, _ in inside)
        assert [sale.sold_on for sale in listed] == sorted((sale.sold_on for sale in listed), reverse=True)
        up_to_end = SalesRepository(db).list_for_seller(seller.id, None, end, 1000)
        assert len(up_to_end) == sum(1 for d, _, _ in sales if TODAY - dt.timedelta(days=d) <= end)
        by_store = {store_id: total for store_id, _, total in SalesRepository(db).seller_by_store(seller.id, start, end)}
        assert by_store.get(store_a.id, Total()) == Total(sum(c for c, f in inside if f), sum(1 for _, f in inside if f))
    finally:
        db.close()


def test_a_version_1_file_with_sales_migrates_to_the_compact_schema_with_its_totals(tmp_path):
    """Every migration in turn, from the first schema: the sales and their totals survive."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO networks VALUES ('n1', 'REDE', 't')")
    conn.execute("INSERT INTO stores VALUES ('s1', 'Loja', '11222333000181', 'n1', 't')")
    conn.execute("INSERT INTO users VALUES ('u1', '52998224725', 'Ana', 1990, 'seller', 'h', 't')")
    sales = [("9d3c6f0e-0000-4000-8000-00000000000%d" % i, day, cents) for i, (day, cents) in
             enumerate([("2026-10-01", 100), ("2026-10-31", 250), ("2026-10-31", 1), ("2026-11-01", 7)])]
    conn.executemany("INSERT INTO sales VALUES (?, 'u1', 's1', ?, ?, '2026-11-01T10:00:00.000000Z', 1, ?)",
                     [(sale_id, cents, day, seq) for seq, (sale_id, day, cents) in enumerate(sales, 1)])
    conn.close()
    db = Database(path)
    try:
        reports = ReportsRepository(db)
        assert reports.store_total("s1", None, None) == Total(358, 4)
        assert reports.seller_total("u1", dt.date(2026, 10, 31), dt.date(2026, 11, 30)) == Total(258, 3)
        assert SalesRepository(db).find(sales[3][0]).sold_on == dt.date(2026, 11, 1)
    finally:
        db.close()


def test_a_ranking_leaves_out_a_seller_not_known_yet_and_still_fills_its_limit_by_name(tmp_path):
    """A sale may come before its seller: the highest total, with no name, is left out, and the limit is filled with
    the named sellers below it, ties by name."""
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store, _, _ = _setup_chain(db)
        people = [User(new_id(), cpf, name, 1990, "seller") for cpf, name in
                  (("52998224725", "Caio"), ("39053344705", "Bia"), ("11144477735", "Ana"))]
        db.ledger.commit(lambda c, stamp: [UserRepository.insert(c, p, "h", "t", stamp) for p in people])
        for seller_id, cents in ((new_id(), 900), *((p.id, 500) for p in reversed(people))):  # the first is nobody known
            record(db, Sale(new_id(), seller_id, store.id, cents, TODAY, AT))
        reports = ReportsRepository(db)
        assert [(name, total) for _, name, total in reports.best_sellers(None, None, 1)] == [("Ana", Total(500, 1))]
        assert [name for _, name, _ in reports.best_sellers(TODAY, TODAY, 2)] == ["Ana", "Bia"]
    finally:
        db.close()


@pytest.mark.parametrize("day", [dt.date(2024, 2, 29), dt.date(2023, 2, 28), dt.date(2025, 4, 30), dt.date(9999, 5, 26),
                                 dt.date(9999, 12, 31), dt.date(1, 1, 1)])
def test_every_period_holding_a_day_starts_on_or_before_it_and_ends_on_or_after_it(day):
    """Each level's period of a day holds it and nothing of the periods beside it, the calendar's last year included."""
    for level in LEVELS:
        period = period_of(level, day)
        first, last = period_days(level, period)
        assert first <= day <= last and period_of(level, first) == period_of(level, last) == period, level
        assert first == dt.date(1, 1, 1) or period_of(level, first - dt.timedelta(days=1)) != period, level
        assert last == dt.date(9999, 12, 31) or period_of(level, last + dt.timedelta(days=1)) != period, level


def test_a_ranking_cut_at_its_limit_keeps_ties_in_name_order(tmp_path):
    """Totals tied across the limit: the limit's rows are the highest, ties by name, as a ranking of everyone gives them."""
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store, _, _ = _setup_chain(db)
        people = [User(new_id(), cpf, name, 1990, "seller") for cpf, name in
                  (("52998224725", "Zeca"), ("11144477735", "Ana"), ("39053344705", "Bia"), ("87748248800", "Caio"))]
        db.ledger.commit(lambda c, stamp: [UserRepository.insert(c, p, "h", "t", stamp) for p in people])
        for person, cents in zip(people, (900, 500, 500, 500)):
            record(db, Sale(new_id(), person.id, store.id, cents, TODAY, AT))
        reports = ReportsRepository(db)
        everyone = [name for _, name, _ in reports.best_sellers(None, None, 100)]
        assert everyone == ["Zeca", "Ana", "Bia", "Caio"]
        for limit in range(1, 5):
            assert [name for _, name, _ in reports.best_sellers(None, None, limit)] == everyone[:limit]
    finally:
        db.close()


def test_a_batch_summed_by_sqlite_gives_the_totals_a_sale_at_a_time_gives(tmp_path):
    """Every level's totals after one batch of new sales (summed in SQL) equal those after the same sales one by one."""
    import random

    from db.aggregates import _TABLES
    from db.sales import record_new_sales
    rng = random.Random(5)
    totals = []
    for name, one_by_one in (("batch", False), ("single", True)):
        db = open_db(tmp_path / f"{name}.db")
        try:
            network, store_a, store_b, seller = _setup_chain(db)
            rng.seed(5)
            sales = [Sale(new_id(), seller.id, rng.choice([store_a, store_b]).id, rng.randint(1, 99_999),
                          TODAY - dt.timedelta(days=rng.randrange(400)), AT) for _ in range(300)]
            if one_by_one:
                for sale in sales:
                    record(db, sale)
            else:
                db.ledger.commit(lambda c, stamp, sales=sales: record_new_sales(c, stamp, sales))
            totals.append(db.read(lambda c: {table: sorted(tuple(r) for r in c.execute(  # keys are local: compare by UUID
                f"SELECT t.period, COALESCE((SELECT name FROM stores WHERE id = k.id), (SELECT name FROM users WHERE id = k.id)), "
                f"t.total_cents, t.sale_count FROM {table} t JOIN local_keys k ON k.key = t.key"))
                for table in _TABLES.values()}))
        finally:
            db.close()
    assert totals[0] == totals[1] and sum(len(rows) for rows in totals[0].values()) > 300


def test_an_idle_writer_checkpoints_and_cuts_the_wal_back(tmp_path):
    """After a burst of writes and a second with none, the WAL file is cut back (an import's WAL is tens of MiB)."""
    import time

    from db.database import IDLE_CHECKPOINT_S
    from db.sales import record_new_sales
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store, _, seller = _setup_chain(db)
        for _ in range(3):
            sales = [Sale(new_id(), seller.id, store.id, 100, TODAY, AT) for _ in range(3_000)]
            db.ledger.commit(lambda c, stamp, sales=sales: record_new_sales(c, stamp, sales))
        wal = tmp_path / "node-1.db-wal"
        assert wal.stat().st_size > 1_000_000, "the burst did not grow the WAL: the test proves nothing"
        deadline = time.monotonic() + IDLE_CHECKPOINT_S + 10
        while wal.exists() and wal.stat().st_size > 0:
            assert time.monotonic() < deadline, f"the WAL is still {wal.stat().st_size} bytes"
            time.sleep(0.05)
        assert SalesRepository(db).count() >= 9_000  # nothing lost by the checkpoint
    finally:
        db.close()


def test_a_batch_with_one_held_sale_is_refused_whole_by_record_if_new_and_changes_nothing(tmp_path):
    """record_if_new stores a batch of new sales, and leaves the file, the vector and the answer's wait untouched when
    one of a batch's ids is held already (the import then sorts the rows out one by one)."""
    from db.sales import record_if_new
    db = open_db(tmp_path / "node-1.db")
    try:
        _, store, _, seller = _setup_chain(db)
        first = [Sale(new_id(), seller.id, store.id, 100 + i, TODAY, AT) for i in range(100)]
        assert db.ledger.commit(lambda c, stamp: record_if_new(c, stamp, first))[0] is True

        def state(conn):
            return [[tuple(row) for row in conn.execute(sql)] for sql in (
                "SELECT COUNT(*), MAX(local_pos) FROM sales", "SELECT last_seq FROM vector", "SELECT origin_seq, local_pos FROM sale_marks",
                "SELECT * FROM totals_store_year", "SELECT * FROM sale_digests")]
        before = db.read(state)
        again = [Sale(new_id(), seller.id, store.id, 7, TODAY, AT) for _ in range(99)] + [first[50]]
        waits = []

        def write(conn, stamp):
            held_back = record_if_new(conn, stamp, again)
            waits.append(list(stamp.origins))
            return held_back
        assert db.ledger.commit(write)[0] is False
        assert waits == [[]], "a refused batch must not leave its run for the answer to wait on"
        assert db.read(state) == before
        # a network, two stores and a seller are changes 1-4: the sales are 5-104, the first of them marked
        assert before[:3] == [[(100, 104)], [(104,)], [(5, 5)]]
    finally:
        db.close()


def test_one_sellers_sales_are_walked_over_the_days_held_only(db):
    """A seller's sales (and a store's or seller's totals) are found by walking the days (periods) held, one seek each:
    a stray sale dated in year 1 adds one step to the walk, not every calendar day since."""
    from db.where_in import OPEN_HIGH, OPEN_LOW, held_values
    _, store, _, seller = _setup_chain(db)
    days = [dt.date(1, 1, 1), TODAY - dt.timedelta(days=400), TODAY]
    for day in days:
        record(db, Sale(new_id(), seller.id, store.id, 100, day, AT))
    sales = SalesRepository(db)
    assert [sale.sold_on for sale in sales.list_for_seller(seller.id, None, None, 10)] == days[::-1]
    assert [sale.sold_on for sale in sales.list_for_seller(seller.id, dt.date(1, 1, 2), None, 10)] == days[:0:-1]
    assert ReportsRepository(db).seller_total(seller.id, None, TODAY - dt.timedelta(days=1)) == Total(200, 2)
    for table, column in (("sales", "day"), ("totals_seller_day", "period")):
        walk = f"SELECT COUNT(*) FROM ({held_values(table, column)})"
        walked = db.read(lambda c, walk=walk: c.execute(walk, (OPEN_LOW, OPEN_HIGH)).fetchone()[0])
        assert walked == len(days), table
