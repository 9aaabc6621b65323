"""Totals and rankings, read from the daily aggregates only (never from the sales table)."""

import datetime as dt

from db.database import Database
from db.sales import date_bounds
from models.records import Total

_RANGE = "day >= ? AND day <= ?"


class ReportsRepository:
    def __init__(self, database: Database):
        self.db = database

    def _total(self, sql: str, params: tuple) -> Total:
        row = self.db.read(lambda c: c.execute(sql, params).fetchone())
        return Total(row[0] or 0, row[1] or 0)

    def seller_total(self, seller_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total(
            f"SELECT SUM(total_cents), SUM(sale_count) FROM seller_daily_totals WHERE seller_id = ? AND {_RANGE}",
            (seller_id, *date_bounds(start, end)),
        )

    def store_total(self, store_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total(
            f"SELECT SUM(total_cents), SUM(sale_count) FROM store_daily_totals WHERE store_id = ? AND {_RANGE}",
            (store_id, *date_bounds(start, end)),
        )

    def network_total(self, network_id: str, start: dt.date | None, end: dt.date | None) -> Total:
        return self._total(
            f"""SELECT SUM(d.total_cents), SUM(d.sale_count) FROM store_daily_totals d
                JOIN stores s ON s.id = d.store_id WHERE s.network_id = ? AND {_RANGE}""",
            (network_id, *date_bounds(start, end)),
        )

    def best_stores(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(store id, name, total) by total descending, then name."""
        return self._ranking(
            f"""SELECT s.id, s.name, SUM(d.total_cents) AS total, SUM(d.sale_count)
                FROM store_daily_totals d JOIN stores s ON s.id = d.store_id
                WHERE {_RANGE} GROUP BY s.id ORDER BY total DESC, s.name, s.id LIMIT ?""",
            (*date_bounds(start, end), limit),
        )

    def best_sellers(self, start: dt.date | None, end: dt.date | None, limit: int) -> list[tuple[str, str, Total]]:
        """(seller id, name, total) by total descending, then name."""
        return self._ranking(
            f"""SELECT u.id, u.name, SUM(d.total_cents) AS total, SUM(d.sale_count)
                FROM seller_daily_totals d JOIN users u ON u.id = d.seller_id
                WHERE {_RANGE} GROUP BY u.id ORDER BY total DESC, u.name, u.id LIMIT ?""",
            (*date_bounds(start, end), limit),
        )

    def _ranking(self, sql: str, params: tuple) -> list[tuple[str, str, Total]]:
        rows = self.db.read(lambda c: c.execute(sql, params).fetchall())
        return [(r[0], r[1], Total(r[2], r[3])) for r in rows]
