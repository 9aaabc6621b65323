"""Totals and rankings, read from the daily and monthly aggregates only (never from the sales table).

Each report sums one key's aggregate rows over the range, split by
db.periods into whole months (monthly table) and leftover days (daily table).
"""

import datetime as dt

from db.database import Database
from db.periods import split_range
from models.records import Total


def _aggregate_rows(who: str, start: dt.date | None, end: dt.date | None, key_filter: str = "",
                    key_params: tuple = ()) -> tuple[str, list]:
    """SQL and params selecting (key, total_cents, sale_count) rows of `who` (store/seller) covering the range."""
    split = split_range(start, end)
    parts, params = [], []
    for first, last in split.day_ranges:
        parts.append(f"SELECT {who}_id AS key, total_cents, sale_count FROM {who}_daily_totals "
                     f"WHERE day >= ? AND day <= ? {key_filter}")
        params += [first, last, *key_params]
    if split.month_range:
        parts.append(f"SELECT {who}_id AS key, total_cents, sale_count FROM {who}_monthly_totals "
                     f"WHERE month >= ? AND month <= ? {key_filter}")
        params += [*split.month_range, *key_params]
    return " UNION ALL ".join(parts), params


class ReportsRepository:
    def __init__(self, database: Database):
        self.db = database

    def _total(self, who: str, key_filter: str, key: str, start, end) -> Total:
        rows_sql, params = _aggregate_rows(who, start, end, key_filter, (key,))
        row = self.db.read(lambda c: c.execute(f"SELECT SUM(total_cents), SUM(sale_count) FROM ({rows_sql})", params).fetchone())
        return Total(row[0] or 0, row[1] or 0)

    def seller_total(self, seller_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total("seller", "AND seller_id = ?", seller_id, start, end)

    def store_total(self, store_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total("store", "AND store_id = ?", store_id, start, end)

    def network_total(self, network_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total("store", "AND store_id IN (SELECT id FROM stores WHERE network_id = ?)", network_id, start, end)

    def best_stores(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(store id, name, total) by total descending, then name."""
        return self._ranking("store", "stores", start, end, limit)

    def best_sellers(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(seller id, name, total) by total descending, then name."""
        return self._ranking("seller", "users", start, end, limit)

    def _ranking(self, who: str, names_table: str, start, end, limit: int) -> list[tuple[str, str, Total]]:
        rows_sql, params = _aggregate_rows(who, start, end)
        sql = f"""SELECT n.id, n.name, t.total, t.count FROM (
                      SELECT key, SUM(total_cents) AS total, SUM(sale_count) AS count FROM ({rows_sql}) GROUP BY key
                  ) t JOIN {names_table} n ON n.id = t.key
                  ORDER BY t.total DESC, n.name, n.id LIMIT ?"""
        rows = self.db.read(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [(r[0], r[1], Total(r[2], r[3])) for r in rows]
