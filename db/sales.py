"""Sales: the idempotent insert that keeps the aggregates (db.aggregates), voids, and the seller's list.

A sale is immutable and keyed by the client's sale_id. Inserting an existing
sale_id with the same content is a no-op that returns the stored sale; with
other content it raises SaleConflict. Each new sale takes the accepting node's
next sequence number, so "everything after position N" is well defined.
A voided sale stays stored but counts nowhere (rules: db.voids).
"""

import dataclasses
import datetime as dt
import sqlite3
from typing import TYPE_CHECKING, Callable

from db import aggregates
from db.database import Database
from db.errors import NotFound, SaleConflict
from db.incarnations import first_change, labelled_change
from db.periods import OPEN_END_DAY, OPEN_START_DAY
from db.voids import Void, find_void, list_voids, store_void, voided_among
from db.where_in import rows_where_in
from models.changes import Origin, version
from models.records import Sale, Total

if TYPE_CHECKING:  # the annotation only: db.changes reads the kinds' registry, which applies sales with this module
    from db.changes import Stamp

_SALE_COLUMNS = "sale_id, seller_id, store_id, amount_cents, sold_on, recorded_at, origin_node, origin_epoch, origin_seq"


def _sale(row: sqlite3.Row) -> Sale:
    return Sale(
        row["sale_id"], row["seller_id"], row["store_id"], row["amount_cents"],
        dt.date.fromisoformat(row["sold_on"]), row["recorded_at"], row["origin_node"], row["origin_epoch"], row["origin_seq"],
    )


def find_sale(conn: sqlite3.Connection, sale_id: str) -> Sale | None:
    row = conn.execute(f"SELECT {_SALE_COLUMNS} FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return _sale(row) if row else None


def find_sales(conn: sqlite3.Connection, sale_ids: list[str]) -> dict[str, Sale]:
    """The stored sales among these ids, by id."""
    rows = rows_where_in(conn, f"SELECT {_SALE_COLUMNS} FROM sales WHERE sale_id IN ({{}})", sale_ids)
    return {row["sale_id"]: _sale(row) for row in rows}


def insert_sales(conn: sqlite3.Connection, sales: list[Sale]) -> None:
    """Insert complete sales (with origin) and add them to the daily and monthly aggregates."""
    conn.executemany(
        f"INSERT INTO sales ({_SALE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(s.sale_id, s.seller_id, s.store_id, s.amount_cents, s.sold_on.isoformat(), s.recorded_at,
          s.origin_node, s.origin_epoch, s.origin_seq) for s in sales],
    )
    voided = voided_among(conn, [s.sale_id for s in sales])
    aggregates.add_sales(conn, [s for s in sales if s.sale_id not in voided] if voided else sales)


def remove_sale(conn: sqlite3.Connection, sale: Sale) -> None:
    """Delete a stored sale and take it out of the aggregates (a voided one is in none)."""
    conn.execute("DELETE FROM sales WHERE sale_id = ?", (sale.sale_id,))
    if not voided_among(conn, [sale.sale_id]):
        aggregates.subtract_sale(conn, sale)


def apply_void(conn: sqlite3.Connection, void: Void) -> None:
    """Keep a void (local or from a peer); the first void of a held sale takes it out of the totals."""
    if store_void(conn, void):
        sale = find_sale(conn, void.sale_id)
        if sale is not None:
            aggregates.subtract_sale(conn, sale)


def void_sale(conn: sqlite3.Connection, sale_id: str, voided_by: str, reason: str, voided_at: str, now_ms: int,
              stamp: "Stamp", allow: Callable[[Sale, bool], None]) -> tuple[Void, Sale, bool]:
    """Void a stored sale as this node's next change: (the void, the sale, duplicate). NotFound on an unknown sale;
    allow(sale, already_voided) raises when the caller may not void it. Voiding a voided sale answers the first void."""
    sale = find_sale(conn, sale_id)
    if sale is None:
        raise NotFound("sale_id")
    held = find_void(conn, sale_id)
    allow(sale, held is not None)
    if held is not None:
        origin = first_change(conn, "void", sale_id)
        if origin is not None:
            stamp.touch(origin)  # answered once that void is replicated too
        return held, sale, True
    origin = stamp.log(conn, "void", sale_id)
    void = Void(sale_id, voided_by, reason, voided_at, version(now_ms, origin))
    apply_void(conn, void)
    return void, sale, False


def move_seller_sales(conn: sqlite3.Connection, loser: str, winner: str) -> None:
    """Give one seller's sales and totals to another."""
    conn.execute("UPDATE sales SET seller_id = ? WHERE seller_id = ?", (winner, loser))
    aggregates.move_seller(conn, loser, winner)


def record_sale(conn: sqlite3.Connection, sale: Sale, stamp: "Stamp", date_given: bool = True) -> tuple[Sale, bool]:
    """Store a new sale as this node's next change; (stored, duplicate). SaleConflict on a reused id.

    A retry of a stored sale changes nothing, but its answer waits for that sale's replication too."""
    stored = find_sale(conn, sale.sale_id)
    if stored is not None:
        if not stored.same_content(sale, compare_date=date_given):
            raise SaleConflict(f"sale {sale.sale_id} was already recorded with other content")
        touch_stored(conn, stamp, stored)
        return stored, True
    origin = stamp.log(conn, "sale", sale.sale_id)
    new = dataclasses.replace(sale, origin_node=origin.node, origin_epoch=origin.epoch, origin_seq=origin.seq)
    insert_sales(conn, [new])
    return new, False


def touch_stored(conn: sqlite3.Connection, stamp: "Stamp", sale: Sale) -> None:
    """A write found `sale` already stored: its answer waits for the sale's change to be replicated too."""
    origin = labelled_change(conn, "sale", sale.sale_id, sale_origin(sale))
    if origin is not None:  # None: content relayed under another change whose origin is not that label
        stamp.touch(origin)


def sale_origin(sale: Sale) -> Origin:
    """The (node, epoch, seq) label of the sale's content: its first change's, without the incarnation."""
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
                      AND NOT EXISTS (SELECT 1 FROM sale_voids v WHERE v.sale_id = sales.sale_id)
                    ORDER BY sold_on DESC, recorded_at DESC, sale_id LIMIT ?""",
                (seller_id, *date_bounds(start, end), limit),
            ).fetchall()
            return [_sale(r) for r in rows]
        return self.db.read(query)

    def seller_by_store(self, seller_id: str, start: dt.date | None, end: dt.date | None) -> list[tuple[str, str, Total]]:
        """(store id, name, total) of the seller's unvoided sales in the range per store, highest first. From the sales
        (there is no seller-and-store aggregate): one seller's rows, found by the (seller, day) index."""
        def query(conn: sqlite3.Connection):
            return conn.execute(
                """SELECT s.store_id, COALESCE(st.name, ''), SUM(s.amount_cents) AS total, COUNT(*) FROM sales s
                   LEFT JOIN stores st ON st.id = s.store_id
                   WHERE s.seller_id = ? AND s.sold_on >= ? AND s.sold_on <= ?
                     AND NOT EXISTS (SELECT 1 FROM sale_voids v WHERE v.sale_id = s.sale_id)
                   GROUP BY s.store_id ORDER BY total DESC, st.name""",
                (seller_id, *date_bounds(start, end)),
            ).fetchall()
        return [(store_id, name, Total(cents, count)) for store_id, name, cents, count in self.db.read(query)]

    def find_void(self, sale_id: str) -> Void | None:
        return self.db.read(lambda c: find_void(c, sale_id))

    def is_voided(self, sale_id: str) -> bool:
        return self.db.read(lambda c: bool(voided_among(c, [sale_id])))

    def find(self, sale_id: str) -> Sale | None:
        return self.db.read(lambda c: find_sale(c, sale_id))

    def list_voids(self, start_iso: str, end_iso: str, limit: int) -> list[tuple[Void, Sale | None]]:
        """Voids in [start_iso, end_iso), newest first, each with its sale (None if it has not arrived yet)."""
        def query(conn: sqlite3.Connection):
            voids = list_voids(conn, start_iso, end_iso, limit)
            sales = find_sales(conn, [v.sale_id for v in voids])
            return [(v, sales.get(v.sale_id)) for v in voids]
        return self.db.read(query)

    def count(self) -> int:
        return self.db.read(lambda c: c.execute("SELECT COUNT(*) FROM sales").fetchone()[0])


def date_bounds(start: dt.date | None, end: dt.date | None) -> tuple[str, str]:
    """Inclusive ISO bounds for a range where either end may be open."""
    return (start.isoformat() if start else OPEN_START_DAY, end.isoformat() if end else OPEN_END_DAY)
