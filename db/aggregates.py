"""The daily and monthly totals per store and per seller: the one place that names their tables.

Each sale counts in four rows (its store's and its seller's, for its day and
for its month), written in the transaction that writes the sale, so reports
read these rows and never the sales table.
"""

import datetime as dt
import sqlite3

from db.periods import split_range
from models.records import Sale

_TABLES = {(who, period): f"{who}_{span}_totals"
           for who in ("store", "seller") for span, period in (("daily", "day"), ("monthly", "month"))}


def _upsert(who: str, period: str, rows_sql: str) -> str:
    """Add the (key, period, cents, count) rows of rows_sql to the table's rows."""
    return f"""INSERT INTO {_TABLES[who, period]} ({who}_id, {period}, total_cents, sale_count) {rows_sql}
               ON CONFLICT ({who}_id, {period}) DO UPDATE SET
                   total_cents = total_cents + excluded.total_cents, sale_count = sale_count + excluded.sale_count"""


_ADD = [(who, period, _upsert(who, period, "VALUES (?, ?, ?, ?)")) for who, period in _TABLES]
_MOVE_SELLER = [(_upsert(who, period, f"SELECT ?, {period}, total_cents, sale_count FROM {table} WHERE seller_id = ?"),
                 f"DELETE FROM {table} WHERE seller_id = ?") for (who, period), table in _TABLES.items() if who == "seller"]


def add_sales(conn: sqlite3.Connection, sales: list[Sale]) -> None:
    """Add new sales to their rows, summed per row first: one upsert per row."""
    _add(conn, sales, 1)


def subtract_sale(conn: sqlite3.Connection, sale: Sale) -> None:
    """Take a removed sale out of its rows (they exist: it was added to them)."""
    _add(conn, [sale], -1)


def _add(conn: sqlite3.Connection, sales: list[Sale], sign: int) -> None:
    for who, period, sql in _ADD:
        sums: dict[tuple[str, str], list[int]] = {}
        for sale in sales:
            day = sale.sold_on.isoformat()
            row = sums.setdefault((sale.store_id if who == "store" else sale.seller_id, day if period == "day" else day[:7]), [0, 0])
            row[0] += sign * sale.amount_cents
            row[1] += sign
        conn.executemany(sql, [(key, when, cents, count) for (key, when), (cents, count) in sums.items()])


def move_seller(conn: sqlite3.Connection, loser: str, winner: str) -> None:
    """Add the loser's rows to the winner's and drop them."""
    for add, delete in _MOVE_SELLER:
        conn.execute(add, (winner, loser))
        conn.execute(delete, (loser,))


def _key_filter(who: str, keys_sql: str) -> str:
    return f"AND {who}_id IN ({keys_sql})" if keys_sql else ""


def rows_covering(who: str, start: dt.date | None, end: dt.date | None,
                  keys_sql: str = "", keys_params: tuple = ()) -> tuple[str, list]:
    """SQL and params selecting (key, total_cents, sale_count) rows of `who` (store/seller) covering the range exactly:
    whole months from the monthly table, leftover days from the daily one (db.periods).

    With keys_sql ("?", or a SELECT of ids) only the rows of keys IN (keys_sql)."""
    split = split_range(start, end)
    spans = [("day", first, last) for first, last in split.day_ranges]
    spans += [("month", *split.month_range)] if split.month_range else []
    key_filter = _key_filter(who, keys_sql)
    parts, params = [], []
    for period, first, last in spans:
        parts.append(f"SELECT {who}_id AS key, total_cents, sale_count FROM {_TABLES[who, period]} "
                     f"WHERE {period} >= ? AND {period} <= ? {key_filter}")
        params += [first, last, *keys_params]
    return " UNION ALL ".join(parts), params


def sums_by_period(who: str, period: str, first: str, last: str,
                   keys_sql: str = "", keys_params: tuple = ()) -> tuple[str, list]:
    """SQL and params selecting (day or month, total_cents, sale_count) summed over `who`'s rows (all, or those of
    keys IN (keys_sql)) from `first` to `last` inclusive (ISO days, or YYYY-MM months)."""
    key_filter = _key_filter(who, keys_sql)
    sql = (f"SELECT {period}, SUM(total_cents), SUM(sale_count) FROM {_TABLES[who, period]} "
           f"WHERE {period} >= ? AND {period} <= ? {key_filter} GROUP BY {period}")
    return sql, [first, last, *keys_params]
