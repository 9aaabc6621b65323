"""Totals and rankings, read from the daily and monthly aggregates only (never from the sales table).

Each report sums the aggregate rows that cover the range (db.aggregates.rows_covering).
"""

import datetime as dt
from dataclasses import dataclass

from db.aggregates import rows_covering, sums_by_period
from db.database import Database
from db.periods import is_whole_month
from models.records import Total


@dataclass(frozen=True)
class Rows:
    """Which aggregate rows a report reads: `who`'s (store or seller), all of them or those whose key is IN (keys_sql)."""

    who: str
    keys_sql: str = ""
    keys_params: tuple = ()


CHAIN = Rows("store")


def seller_rows(seller_id: str) -> Rows:
    return Rows("seller", "?", (seller_id,))


def store_rows(store_id: str) -> Rows:
    return Rows("store", "?", (store_id,))


def network_rows(network_id: str) -> Rows:
    return Rows("store", "SELECT id FROM stores WHERE network_id = ?", (network_id,))


class ReportsRepository:
    def __init__(self, database: Database):
        self.db = database

    def total(self, rows: Rows, start: dt.date | None, end: dt.date | None) -> Total:
        rows_sql, params = rows_covering(rows.who, start, end, rows.keys_sql, rows.keys_params)
        row = self.db.read(lambda c: c.execute(f"SELECT SUM(total_cents), SUM(sale_count) FROM ({rows_sql})", params).fetchone())
        return Total(row[0] or 0, row[1] or 0)

    def seller_total(self, seller_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self.total(seller_rows(seller_id), start, end)

    def store_total(self, store_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self.total(store_rows(store_id), start, end)

    def network_total(self, network_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self.total(network_rows(network_id), start, end)

    def series(self, rows: Rows, buckets: list[tuple[dt.date, dt.date]]) -> list[Total]:
        """The total of each (first, last) bucket: whole months from the monthly rows, other days from the daily ones,
        one query per run of consecutive buckets of the same kind (a series of days or weeks is one query)."""
        sums: dict[str, Total] = {}
        for period, first, last in _runs(buckets):
            sql, params = sums_by_period(rows.who, period, first, last, rows.keys_sql, rows.keys_params)
            found = self.db.read(lambda c, sql=sql, params=params: c.execute(sql, params).fetchall())
            sums.update((when, Total(cents, count)) for when, cents, count in found)
        totals = []
        for first, last in buckets:
            if is_whole_month(first, last):
                totals.append(sums.get(first.isoformat()[:7], Total()))
                continue
            days = [sums.get((first + dt.timedelta(days=i)).isoformat(), Total()) for i in range((last - first).days + 1)]
            totals.append(Total(sum(t.total_cents for t in days), sum(t.count for t in days)))
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
        """limit -1: all of them (SQLite's LIMIT -1)."""
        rows = rows or Rows(who)
        rows_sql, params = rows_covering(who, start, end, rows.keys_sql, rows.keys_params)
        sql = f"""SELECT n.id, n.name, t.total, t.count FROM (
                      SELECT key, SUM(total_cents) AS total, SUM(sale_count) AS count FROM ({rows_sql}) GROUP BY key
                      HAVING SUM(sale_count) > 0
                  ) t JOIN {names_table} n ON n.id = t.key
                  ORDER BY t.total DESC, n.name, n.id LIMIT ?"""
        rows = self.db.read(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [(r[0], r[1], Total(r[2], r[3])) for r in rows]


def _runs(buckets: list[tuple[dt.date, dt.date]]) -> list[tuple[str, str, str]]:
    """(period, first, last) queries covering the buckets: consecutive whole months as one month query, other
    consecutive buckets as one day query."""
    runs: list[list] = []
    for first, last in buckets:
        period = "month" if is_whole_month(first, last) else "day"
        if runs and runs[-1][0] == period:
            runs[-1][2] = last
        else:
            runs.append([period, first, last])
    return [(p, f.isoformat()[:7], la.isoformat()[:7]) if p == "month" else (p, f.isoformat(), la.isoformat())
            for p, f, la in runs]
