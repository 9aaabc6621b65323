"""The totals per store and per seller, per day, pentad, dekad, month, quarter and year: the one place that names their
tables.

Each sale counts in twelve rows (its store's and its seller's, at each level),
written in the transaction that writes the sale, so reports read these rows and
never the sales table. A table is keyed by (period, key) for rankings over a
range. One store's or seller's rows are found by seeking (period, key) for each
period of the range (_periods): there is no index by key, which would cost a
B-tree write per new row. Keys are local keys (db.local_keys), periods are
numbered by db.periods.
"""

import sqlite3
from typing import Iterable

from db.codec import day_number, day_of, id_hash, uuid_text
from db.periods import LEVELS, cover, period_of
from db.where_in import OPEN_HIGH, OPEN_LOW, held_values

WHO = ("store", "seller")
_TABLES = {(who, level): f"totals_{who}_{level}" for who in WHO for level in LEVELS}

# A sale as the totals see it: (seller key, store key, cents, day number).
SaleRow = tuple[int, int, int, int]


MIGRATION_6_LEVELS = ("day", "dekad", "month", "quarter", "year")  # the levels migration 6 made; 8 added pentads


def create_totals(conn: sqlite3.Connection) -> None:
    """The ten tables of migration 6 (migration 7 dropped their (key, period) indexes, which cost a B-tree per new row)."""
    for who in WHO:
        for level in MIGRATION_6_LEVELS:
            _create_table(conn, _TABLES[who, level])
            conn.execute(f"CREATE INDEX {_TABLES[who, level]}_by_key ON {_TABLES[who, level]}(key, period)")


def _create_table(conn: sqlite3.Connection, table: str) -> None:
    conn.execute(f"""CREATE TABLE {table} (period INTEGER NOT NULL, key INTEGER NOT NULL, total_cents INTEGER NOT NULL,
                     sale_count INTEGER NOT NULL, PRIMARY KEY (period, key)) WITHOUT ROWID""")


def rebuild_totals(conn: sqlite3.Connection) -> None:
    """Every total of migration 6's levels again from the unvoided sales (migration 6)."""
    _define_period_function(conn)
    conn.create_function("onsell_uuid_text", 1, uuid_text, deterministic=True)
    for who in WHO:
        for level in MIGRATION_6_LEVELS:
            table = _TABLES[who, level]
            conn.execute(f"DELETE FROM {table}")
            conn.execute(f"""INSERT INTO {table} (period, key, total_cents, sale_count)
                             SELECT onsell_period(?, day), {who}, SUM(amount_cents), COUNT(*) FROM sales s
                             WHERE NOT EXISTS (SELECT 1 FROM sale_voids v WHERE v.sale_id = onsell_uuid_text(s.sale_id))
                             GROUP BY 1, 2""", (level,))


def _define_period_function(conn: sqlite3.Connection) -> None:
    """onsell_period(level, day number): db.periods.period_of, for the migrations' SQL."""
    conn.create_function("onsell_period", 2, lambda level, day: period_of(level, day_of(day)), deterministic=True)


def add_level_from_days(conn: sqlite3.Connection, level: str) -> None:
    """A new level's two tables, summed from the day totals (migration 8: pentads)."""
    _define_period_function(conn)
    for who in WHO:
        _create_table(conn, _TABLES[who, level])
        conn.execute(f"""INSERT INTO {_TABLES[who, level]} (period, key, total_cents, sale_count)
                         SELECT onsell_period(?, period), key, SUM(total_cents), SUM(sale_count) FROM {_TABLES[who, "day"]}
                         GROUP BY 1, 2""", (level,))


def _upsert(table: str) -> str:
    return f"""INSERT INTO {table} (period, key, total_cents, sale_count) VALUES (?, ?, ?, ?)
               ON CONFLICT (period, key) DO UPDATE SET
                   total_cents = total_cents + excluded.total_cents, sale_count = sale_count + excluded.sale_count"""


_UPSERT = {where: _upsert(table) for where, table in _TABLES.items()}


def add_sales(conn: sqlite3.Connection, sales: Iterable[SaleRow], sign: int = 1) -> None:
    """Add new sales to their rows (sign -1: take removed ones out), summed per row first: one upsert per row."""
    by_day: dict[tuple[int, int, int], list[int]] = {}  # (who index, key, day): summed first, then rolled up per level
    for seller, store, cents, day in sales:
        for key in ((1, seller, day), (0, store, day)):
            row = by_day.get(key)
            if row is None:
                by_day[key] = [sign * cents, sign]
            else:
                row[0] += sign * cents
                row[1] += sign
    periods: dict[int, tuple[int, ...]] = {}
    sums: list[list[dict[tuple[int, int], list[int]]]] = [[{} for _ in LEVELS] for _ in WHO]
    for (who, key, day), (cents, count) in by_day.items():
        of_day = periods.get(day)
        if of_day is None:
            date = day_of(day)
            of_day = periods[day] = tuple(period_of(level, date) for level in LEVELS)
        for level_sums, period in zip(sums[who], of_day):
            row = level_sums.get((period, key))
            if row is None:
                level_sums[(period, key)] = [cents, count]
            else:
                row[0] += cents
                row[1] += count
    for who_index, who in enumerate(WHO):
        for level, level_sums in zip(LEVELS, sums[who_index]):
            conn.executemany(_UPSERT[who, level], [(period, key, cents, count) for (period, key), (cents, count) in level_sums.items()])


def add_stored(conn: sqlite3.Connection, first_pos: int, last_pos: int) -> None:
    """Add the sales rows at local positions first_pos..last_pos, just inserted and none of them voided, to their
    totals: summed by SQLite (the same rows add_sales would add, without a Python loop over them). The rows are read
    once per store and seller into day sums, which every level then adds up."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS batch_days (day INTEGER PRIMARY KEY, "
                 f"{', '.join(f'in_{level} INTEGER NOT NULL' for level in LEVELS)})")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS batch_sums (who INTEGER NOT NULL, day INTEGER NOT NULL, key INTEGER NOT NULL, "
                 "cents INTEGER NOT NULL, count INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.batch_days")
    conn.execute("DELETE FROM temp.batch_sums")
    for index, who in enumerate(WHO):
        conn.execute(f"INSERT INTO temp.batch_sums SELECT {index}, day, {who}, SUM(amount_cents), COUNT(*) FROM sales "
                     f"WHERE local_pos BETWEEN ? AND ? GROUP BY day, {who}", (first_pos, last_pos))
    days = [row[0] for row in conn.execute("SELECT DISTINCT day FROM temp.batch_sums")]
    conn.executemany(f"INSERT INTO temp.batch_days VALUES (?{', ?' * len(LEVELS)})",
                     [(day, *(period_of(level, day_of(day)) for level in LEVELS)) for day in days])
    for (who, level), table in _TABLES.items():
        index = WHO.index(who)
        if level == "day":  # one row per (day, key) already
            sums = f"SELECT day, key, cents, count FROM temp.batch_sums WHERE who = {index}"
        else:
            sums = (f"SELECT d.in_{level}, b.key, SUM(b.cents), SUM(b.count) FROM temp.batch_sums b "
                    f"JOIN temp.batch_days d ON d.day = b.day WHERE b.who = {index} GROUP BY 1, 2")
        conn.execute(f"""INSERT INTO {table} (period, key, total_cents, sale_count) {sums}
                         ON CONFLICT (period, key) DO UPDATE SET total_cents = total_cents + excluded.total_cents,
                             sale_count = sale_count + excluded.sale_count""")


def move_seller(conn: sqlite3.Connection, loser: int, winner: int) -> None:
    """Add the loser's rows to the winner's and drop them (found period by period: there is no index by key)."""
    for level in LEVELS:
        table = _TABLES["seller", level]
        held = (OPEN_LOW, OPEN_HIGH)
        conn.execute(f"""INSERT INTO {table} (period, key, total_cents, sale_count)
                         SELECT t.period, ?, t.total_cents, t.sale_count FROM ({held_values(table, "period")}) AS p
                         CROSS JOIN {table} t ON t.period = p.value WHERE t.key = ?
                         ON CONFLICT (period, key) DO UPDATE SET total_cents = total_cents + excluded.total_cents,
                             sale_count = sale_count + excluded.sale_count""", (winner, *held, loser))
        conn.execute(f"DELETE FROM {table} WHERE (period, key) IN (SELECT t.period, t.key FROM ({held_values(table, 'period')}) AS p "
                     f"CROSS JOIN {table} t ON t.period = p.value WHERE t.key = ?)", (*held, loser))


# Per day sold: how many sales the file holds, their cents and the sum of their id hashes, voided or not
# (db.digests compares them between nodes). Kept with every sale row, like the totals.
_ADD_DIGEST = """INSERT INTO sale_digests (day, sale_count, total_cents, id_hashes) VALUES (?, ?, ?, ?)
                 ON CONFLICT (day) DO UPDATE SET sale_count = sale_count + excluded.sale_count,
                     total_cents = total_cents + excluded.total_cents, id_hashes = id_hashes + excluded.id_hashes"""


def create_digests(conn: sqlite3.Connection) -> None:
    """The per-day digest table, filled from the sales held (migration 6)."""
    conn.create_function("onsell_id_hash", 1, id_hash, deterministic=True)
    conn.execute("""CREATE TABLE sale_digests (day INTEGER PRIMARY KEY, sale_count INTEGER NOT NULL, total_cents INTEGER NOT NULL,
                    id_hashes INTEGER NOT NULL)""")
    conn.execute("""INSERT INTO sale_digests SELECT day, COUNT(*), SUM(amount_cents), SUM(onsell_id_hash(sale_id)) FROM sales
                    GROUP BY day""")


def add_digests(conn: sqlite3.Connection, rows: Iterable[tuple[int, int, bytes]], sign: int = 1) -> None:
    """Add stored sales (day number, cents, id as stored) to their days' digests (sign -1: take them out)."""
    sums: dict[int, list[int]] = {}
    for day, cents, stored_id in rows:
        row = sums.setdefault(day, [0, 0, 0])
        row[0] += sign
        row[1] += sign * cents
        row[2] += sign * id_hash(stored_id)
    conn.executemany(_ADD_DIGEST, [(day, *row) for day, row in sums.items()])


def _rows_of(table: str, columns: str, keys_sql: str) -> str:
    """FROM ... WHERE selecting `columns` of the table's rows with period BETWEEN ? AND ? (its two params, then
    keys_sql's): a range of the primary key for every key, or one seek per period and key for the keys keys_sql
    selects, the periods clipped to those the table holds (an open range's years run from 1 to 9999)."""
    if not keys_sql:
        return f"SELECT {columns} FROM {table} t WHERE t.period BETWEEN ? AND ?"
    return (f"SELECT {columns} FROM ({held_values(table, 'period')}) AS p CROSS JOIN {table} t ON t.period = p.value "
            f"WHERE t.key IN ({keys_sql})")


def rows_covering(conn: sqlite3.Connection, who: str, start, end, keys_sql: str = "", keys_params: tuple = (),
                  columns: str = "t.total_cents, t.sale_count") -> tuple[str, list]:
    """SQL and params selecting (key, *columns) rows of `who` (store/seller) covering [start, end]
    exactly (db.periods.cover); with keys_sql (a SELECT of local keys) only the rows of those keys. Run the SQL in the
    read transaction `conn` was asked in: an end at or after the last day any sale is held for is taken as open (so is
    a start at or before the first), which sums the same rows and lets "the last 30 days" read a month, not the days of
    two dekads."""
    days = _TABLES[who, "day"]
    held = conn.execute(f"SELECT (SELECT MIN(period) FROM {days}), (SELECT MAX(period) FROM {days})").fetchone()  # two seeks
    if held[0] is not None:
        start = None if start is None or day_number(start) <= held[0] else start
        end = None if end is None or day_number(end) >= held[1] else end
    parts, params = [], []
    for level, first, last in cover(start, end):
        parts.append(_rows_of(_TABLES[who, level], f"t.key, {columns}", keys_sql))
        params += [first, last, *keys_params]
    return " UNION ALL ".join(parts), params


def sums_by_period(who: str, level: str, first: int, last: int, keys_sql: str = "", keys_params: tuple = ()) -> tuple[str, list]:
    """SQL and params selecting (period, total_cents, sale_count) summed over `who`'s rows (all, or those of the keys
    keys_sql selects) at one level, periods first..last."""
    sql = f"{_rows_of(_TABLES[who, level], 't.period, SUM(t.total_cents), SUM(t.sale_count)', keys_sql)} GROUP BY t.period"
    return sql, [first, last, *keys_params]
