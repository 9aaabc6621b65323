"""Totals and rankings, read from the daily and monthly aggregates only (never from the sales table).

Each report sums the aggregate rows that cover the range (db.aggregates.rows_covering).
"""

import datetime as dt

from db.aggregates import rows_covering
from db.database import Database
from models.records import Total


class ReportsRepository:
    def __init__(self, database: Database):
        self.db = database

    def _total(self, who: str, keys_sql: str, key: str, start, end) -> Total:
        rows_sql, params = rows_covering(who, start, end, keys_sql, (key,))
        row = self.db.read(lambda c: c.execute(f"SELECT SUM(total_cents), SUM(sale_count) FROM ({rows_sql})", params).fetchone())
        return Total(row[0] or 0, row[1] or 0)

    def seller_total(self, seller_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total("seller", "?", seller_id, start, end)

    def store_total(self, store_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total("store", "?", store_id, start, end)

    def network_total(self, network_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total("store", "SELECT id FROM stores WHERE network_id = ?", network_id, start, end)

    def best_stores(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(store id, name, total) by total descending, then name; only stores with sales (voids leave rows at zero)."""
        return self._ranking("store", "stores", start, end, limit)

    def best_sellers(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(seller id, name, total) by total descending, then name."""
        return self._ranking("seller", "users", start, end, limit)

    def _ranking(self, who: str, names_table: str, start, end, limit: int) -> list[tuple[str, str, Total]]:
        rows_sql, params = rows_covering(who, start, end)
        sql = f"""SELECT n.id, n.name, t.total, t.count FROM (
                      SELECT key, SUM(total_cents) AS total, SUM(sale_count) AS count FROM ({rows_sql}) GROUP BY key
                      HAVING SUM(sale_count) > 0
                  ) t JOIN {names_table} n ON n.id = t.key
                  ORDER BY t.total DESC, n.name, n.id LIMIT ?"""
        rows = self.db.read(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [(r[0], r[1], Total(r[2], r[3])) for r in rows]
