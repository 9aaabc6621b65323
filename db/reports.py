"""Totals and rankings, read from the totals per day, dekad, month, quarter and year only (never from the sales table).

Each report sums the total rows that cover the range (db.aggregates.rows_covering).
"""

import datetime as dt
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


def seller_rows(seller_id: str) -> Rows:
    return Rows("seller", KEY_OF, (seller_id,))


def store_rows(store_id: str) -> Rows:
    return Rows("store", KEY_OF, (store_id,))


def network_rows(network_id: str) -> Rows:
    return Rows("store", "SELECT key FROM local_keys WHERE id IN (SELECT id FROM stores WHERE network_id = ?)", (network_id,))


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
        """The total of each (first, last) bucket, each covered by days, dekads, months and years (db.periods); one
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
        """limit -1: all of them. Names are looked up only for the keys at or above the limit-th total (ties kept, so the
        order by name among them holds): a chain's five thousand sellers cost one sort of integers, not of names."""
        rows = rows or Rows(who)
        cut = "" if limit < 0 else "WHERE t.total >= COALESCE((SELECT total FROM t ORDER BY total DESC LIMIT 1 OFFSET ?), -9e18)"

        def query(conn):
            rows_sql, params = rows_covering(conn, who, start, end, rows.keys_sql, rows.keys_params)
            sql = f"""WITH t AS MATERIALIZED (
                          SELECT key, SUM(total_cents) AS total, SUM(sale_count) AS count FROM ({rows_sql}) GROUP BY key
                          HAVING SUM(sale_count) > 0
                      )
                      SELECT k.id, COALESCE(n.name, ''), t.total, t.count FROM t
                      JOIN local_keys k ON k.key = t.key JOIN {names_table} n ON n.id = k.id {cut}
                      ORDER BY t.total DESC, n.name, n.id LIMIT ?"""
            return conn.execute(sql, [*params, *([] if limit < 0 else [limit - 1]), limit]).fetchall()
        found = self.db.read(query)
        return [(r[0], r[1], Total(r[2], r[3])) for r in found]
