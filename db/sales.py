"""Sales: the idempotent insert that keeps the daily aggregates, and the seller's list.

A sale is immutable and keyed by the client's sale_id. Inserting an existing
sale_id with the same content is a no-op that returns the stored sale; with
other content it raises SaleConflict. Each new sale takes the accepting node's
next sequence number, so "everything after position N" is well defined.
"""

import datetime as dt
import sqlite3

from db.changes import Stamp
from models.changes import Origin
from db.database import Database
from db.errors import SaleConflict
from models.records import Sale

_SALE_COLUMNS = "sale_id, seller_id, store_id, amount_cents, sold_on, recorded_at, origin_node, origin_epoch, origin_seq"
_ADD_TO_AGGREGATE = """
    INSERT INTO {table} ({key}, {period}, total_cents, sale_count) VALUES (?, ?, ?, ?)
    ON CONFLICT ({key}, {period}) DO UPDATE SET
        total_cents = total_cents + excluded.total_cents,
        sale_count = sale_count + excluded.sale_count
"""
_AGGREGATES = [
    (_ADD_TO_AGGREGATE.format(table=f"{who}_{span}_totals", key=f"{who}_id", period=period), who, period)
    for who in ("store", "seller")
    for span, period in (("daily", "day"), ("monthly", "month"))
]


def _sale(row: sqlite3.Row) -> Sale:
    return Sale(
        row["sale_id"], row["seller_id"], row["store_id"], row["amount_cents"],
        dt.date.fromisoformat(row["sold_on"]), row["recorded_at"], row["origin_node"], row["origin_epoch"], row["origin_seq"],
    )


def find_sale(conn: sqlite3.Connection, sale_id: str) -> Sale | None:
    row = conn.execute(f"SELECT {_SALE_COLUMNS} FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return _sale(row) if row else None


def insert_sale(conn: sqlite3.Connection, sale: Sale) -> None:
    """Insert a complete sale (with origin) and add it to the daily and monthly aggregates."""
    insert_sales(conn, [sale])


def insert_sales(conn: sqlite3.Connection, sales: list[Sale]) -> None:
    """Insert complete sales and add them to the aggregates, summed per key and period first (one upsert each)."""
    conn.executemany(
        f"INSERT INTO sales ({_SALE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(s.sale_id, s.seller_id, s.store_id, s.amount_cents, s.sold_on.isoformat(), s.recorded_at,
          s.origin_node, s.origin_epoch, s.origin_seq) for s in sales],
    )
    for sql, who, period in _AGGREGATES:
        sums: dict[tuple[str, str], list[int]] = {}
        for s in sales:
            day = s.sold_on.isoformat()
            entry = sums.setdefault((s.store_id if who == "store" else s.seller_id, day if period == "day" else day[:7]), [0, 0])
            entry[0] += s.amount_cents
            entry[1] += 1
        conn.executemany(sql, [(key, when, cents, count) for (key, when), (cents, count) in sums.items()])


def record_sale(conn: sqlite3.Connection, sale: Sale, stamp: Stamp, date_given: bool = True) -> tuple[Sale, bool]:
    """Store a new sale as this node's next change; (stored, duplicate). SaleConflict on a reused id.

    A retry of a stored sale changes nothing, but its answer waits for that sale's replication too."""
    stored = find_sale(conn, sale.sale_id)
    if stored is not None:
        if not stored.same_content(sale, compare_date=date_given):
            raise SaleConflict(f"sale {sale.sale_id} was already recorded with other content")
        stamp.touch(sale_origin(stored))
        return stored, True
    origin = stamp.log(conn, "sale", sale.sale_id)
    new = Sale(sale.sale_id, sale.seller_id, sale.store_id, sale.amount_cents, sale.sold_on,
               sale.recorded_at, origin.node, origin.epoch, origin.seq)
    insert_sale(conn, new)
    return new, False


def sale_origin(sale: Sale) -> Origin:
    return Origin(sale.origin_node, sale.origin_epoch, sale.origin_seq)


class SalesRepository:
    def __init__(self, database: Database):
        self.db = database

    def list_for_seller(self, seller_id: str, start: dt.date | None, end: dt.date | None, limit: int) -> list[Sale]:
        """The seller's sales in the range, newest first, at most `limit`."""
        def query(conn: sqlite3.Connection) -> list[Sale]:
            rows = conn.execute(
                f"""SELECT {_SALE_COLUMNS} FROM sales
                    WHERE seller_id = ? AND sold_on >= ? AND sold_on <= ?
                    ORDER BY sold_on DESC, recorded_at DESC, sale_id LIMIT ?""",
                (seller_id, *date_bounds(start, end), limit),
            ).fetchall()
            return [_sale(r) for r in rows]
        return self.db.read(query)

    def count(self) -> int:
        return self.db.read(lambda c: c.execute("SELECT COUNT(*) FROM sales").fetchone()[0])


def date_bounds(start: dt.date | None, end: dt.date | None) -> tuple[str, str]:
    """Inclusive ISO bounds for a range where either end may be open."""
    return (start.isoformat() if start else "0000-01-01", end.isoformat() if end else "9999-12-31")
