"""Totals and rankings, read from the totals per day, pentad, dekad, month, quarter and year only (never from the sales
table).

Each report sums the total rows that cover the range (db.aggregates.rows_covering).
"""

import datetime as dt
import json
from dataclasses import dataclass

from db.aggregates import rows_covering, sums_by_period
from db.database import Database
from db.local_keys import KEY_OF
from db.periods import cover
from models.records import Total


@dataclass(frozen=True)
class Rows:
    """Which total rows a report reads: `who`'s (store or seller), all of them or those whose local key is IN (keys_sql)."""

    who: str
    keys_sql: str = ""
    keys_params: tuple = ()


CHAIN = Rows("store")
_KEYS_GIVEN = "SELECT value FROM json_each(?)"  # local keys given as a JSON array


def seller_rows(seller_id: str) -> Rows:
    return Rows("seller", KEY_OF, (seller_id,))


def store_rows(store_id: str) -> Rows:
    return Rows("store", KEY_OF, (store_id,))


def network_rows(network_id: str) -> Rows:
    return Rows("store", "SELECT key FROM local_keys WHERE id IN (SELECT id FROM stores WHERE network_id = ?)", (network_id,))


def _names(conn, names_table: str, keys: list[tuple[int, int]]) -> dict[int, tuple[str, str]]:
    """local key -> (name, id) of the (key, total) rows' keys that have a row in names_table (stores or users)."""
    found = conn.execute(f"""SELECT k.key, n.name, k.id FROM json_each(?) j JOIN local_keys k ON k.key = j.value
                             JOIN {names_table} n ON n.id = k.id""", (json.dumps([key for key, _ in keys]),))
    return {key: (name, key_id) for key, name, key_id in found}


class ReportsRepository:
    def __init__(self, database: Database):
        self.db = database

    def total(self, rows: Rows, start: dt.date | None, end: dt.date | None) -> Total:
        def query(conn):
            rows_sql, params = rows_covering(conn, rows.who, start, end, rows.keys_sql, rows.keys_params)
            return conn.execute(f"SELECT SUM(total_cents), SUM(sale_count) FROM ({rows_sql})", params).fetchone()
        row = self.db.read(query)
        return Total(row[0] or 0, row[1] or 0)

    def seller_total(self, seller_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self.total(seller_rows(seller_id), start, end)

    def store_total(self, store_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self.total(store_rows(store_id), start, end)

    def network_total(self, network_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self.total(network_rows(network_id), start, end)

    def series(self, rows: Rows, buckets: list[tuple[dt.date, dt.date]]) -> list[Total]:
        """The total of each (first, last) bucket, each covered by days, pentads, dekads, months, quarters and years (db.periods); one
        query per level for the whole series."""
        covers = [cover(first, last) for first, last in buckets]
        wanted: dict[str, list[int]] = {}
        for runs in covers:
            for level, first, last in runs:
                span = wanted.setdefault(level, [first, last])
                span[0], span[1] = min(span[0], first), max(span[1], last)
        sums: dict[tuple[str, int], Total] = {}
        for level, (first, last) in wanted.items():
            sql, params = sums_by_period(rows.who, level, first, last, rows.keys_sql, rows.keys_params)
            found = self.db.read(lambda c, sql=sql, params=params: c.execute(sql, params).fetchall())
            sums.update(((level, period), Total(cents, count)) for period, cents, count in found)
        totals = []
        for runs in covers:
            parts = [sums.get((level, period), Total()) for level, first, last in runs for period in range(first, last + 1)]
            totals.append(Total(sum(t.total_cents for t in parts), sum(t.count for t in parts)))
        return totals

    def best_stores(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(store id, name, total) by total descending, then name; only stores with sales (voids leave rows at zero)."""
        return self._ranking("store", "stores", start, end, limit)

    def best_sellers(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(seller id, name, total) by total descending, then name."""
        return self._ranking("seller", "users", start, end, limit)

    def network_by_store(self, network_id: str, start: dt.date | None, end: dt.date | None) -> list[tuple[str, str, Total]]:
        """(store id, name, total) of each of the network's stores with sales in the range, highest first."""
        return self._ranking("store", "stores", start, end, -1, network_rows(network_id))

    def _ranking(self, who: str, names_table: str, start, end, limit: int, rows: Rows | None = None) -> list[tuple[str, str, Total]]:
        """limit -1: all of them. Ranked by total descending, then name and id, among the keys with a name (a sale may
        come before its seller). Sums cents alone (every sale counted has cents > 0, so a key with sales in the range
        has a total above 0): the range's rows are sorted by key to be summed, and a narrower row sorts faster. Names
        and counts are then read for the highest limit + 1 keys only; should those not settle the ranking (a tie across
        the cut, or a key without a name), for every key: five thousand sellers usually cost one sort of integers."""
        rows = rows or Rows(who)

        def query(conn):
            rows_sql, params = rows_covering(conn, who, start, end, rows.keys_sql, rows.keys_params, "t.total_cents")
            summed = f"SELECT key, SUM(total_cents) AS total FROM ({rows_sql}) GROUP BY key HAVING SUM(total_cents) > 0"
            top = conn.execute(summed if limit < 0 else f"{summed} ORDER BY total DESC LIMIT ?",
                               params if limit < 0 else [*params, limit + 1]).fetchall()
            named = _names(conn, names_table, top)
            if 0 <= limit < len(top) and sum(1 for key, total in top if key in named and total > top[-1][1]) < limit:
                top = conn.execute(summed, params).fetchall()  # the keys above the last fetched do not fill the limit
                named = _names(conn, names_table, top)
            rows_sql, params = rows_covering(conn, who, start, end, _KEYS_GIVEN, (json.dumps(list(named)),))
            counts = dict(conn.execute(f"SELECT key, SUM(sale_count) FROM ({rows_sql}) GROUP BY key", params).fetchall())
            ranked = sorted((-total, *named[key], key) for key, total in top if key in named)[:None if limit < 0 else limit]
            return [(key_id, name, -minus_total, counts.get(key, 0)) for minus_total, name, key_id, key in ranked]
        found = self.db.read(query)
        return [(r[0], r[1], Total(r[2], r[3])) for r in found]
