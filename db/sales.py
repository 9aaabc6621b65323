"""Sales: the idempotent insert that keeps the totals (db.aggregates), voids, and the seller's list.

A sale is immutable and keyed by the client's sale_id. Inserting an existing
sale_id with the same content is a no-op that returns the stored sale; with
other content it raises SaleConflict. Each new sale takes the accepting node's
next sequence number, so "everything after position N" is well defined.
A sale is stored compactly (db.codec, db.local_keys) and its row is the log
entry of the change that first brought it (db.change_rows).
A voided sale stays stored but counts nowhere (rules: db.voids).
"""

import datetime as dt
import sqlite3
from typing import TYPE_CHECKING, Callable

from db import aggregates
from db.change_rows import Logged, insert_change, sales_logged
from db.codec import day_number, day_of, iso_day, iso_time, time_ms, uuid_bytes, uuid_text
from db.database import Database
from db.errors import NotFound, SaleConflict
from db.incarnations import first_change, labelled_change
from db.local_keys import KEY_OF, keys_of
from db.voids import Void, find_void, list_voids, store_void, voided_among
from db.where_in import OPEN_HIGH, OPEN_LOW, held_values, rows_where_in
from models.changes import Origin, version
from models.records import Sale, Total

if TYPE_CHECKING:  # the annotation only: db.changes reads the kinds' registry, which applies sales with this module
    from db.changes import Stamp

# A sale's UUID text from its 16 bytes, in SQL (to match the voids, which keep UUID text).
UUID_TEXT_SQL = ("lower(substr(hex({0}), 1, 8) || '-' || substr(hex({0}), 9, 4) || '-' || substr(hex({0}), 13, 4) || '-' || "
                 "substr(hex({0}), 17, 4) || '-' || substr(hex({0}), 21, 12))")
NOT_VOIDED = f"NOT EXISTS (SELECT 1 FROM sale_voids v WHERE v.sale_id = {UUID_TEXT_SQL.format('s.sale_id')})"

# A sale with its content's origin (label_* when set, else its row's change) and its row's change.
_COLUMNS = """s.local_pos, s.sale_id, ks.id, kt.id, s.amount_cents, s.day, s.recorded_ms,
              COALESCE(s.label_node, i.node), COALESCE(s.label_epoch, s.origin_epoch), COALESCE(s.label_seq, s.origin_seq),
              i.node, i.incarnation, s.origin_epoch, s.origin_seq"""
_JOINS = "JOIN local_keys ks ON ks.key = s.seller JOIN local_keys kt ON kt.key = s.store JOIN incarnations i ON i.id = s.origin_inc"
_SELECT = f"SELECT {_COLUMNS} FROM sales s {_JOINS}"
# One seller's sales are found by seeking (day, seller) in the sales_by_day_seller index on each day held (held_values):
# an index by seller first would cost a random page per sale written (the seller's place in it); by day first, a day's
# sales are written side by side.
_HELD_DAYS = held_values("sales", "day")
_INSERT = "INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SUMMED_BY_SQLITE_FROM = 64  # a batch of this many new sales has its totals summed by SQLite (one sale: in Python, fewer statements)


def _sale(row) -> Sale:
    return Sale(uuid_text(row[1]), row[2], row[3], row[4], day_of(row[5]), iso_time(row[6]), row[7], row[8], row[9])


def _row_origin(row) -> Origin:
    """The origin of the change the row is the log entry of."""
    return Origin(row[10], row[12], row[13], row[11])


def find_sale(conn: sqlite3.Connection, sale_id: str) -> Sale | None:
    row = conn.execute(f"{_SELECT} WHERE s.sale_id = ?", (uuid_bytes(sale_id),)).fetchone()
    return _sale(row) if row else None


def find_sales(conn: sqlite3.Connection, sale_ids: list[str]) -> dict[str, Sale]:
    """The stored sales among these ids, by id."""
    rows = rows_where_in(conn, f"{_SELECT} WHERE s.sale_id IN ({{}})", [uuid_bytes(i) for i in sale_ids])
    return {sale.sale_id: sale for sale in map(_sale, rows)}


class _Shipping:
    """Sales rows (as _SELECT reads them) in their wire form; a batch's sales share their recording time and days, each
    written out once."""

    def __init__(self):
        self.times: dict[int, str] = {}
        self.days: dict[int, str] = {}

    def wire(self, row) -> dict:
        at = self.times.get(row[6]) or self.times.setdefault(row[6], iso_time(row[6]))
        day = self.days.get(row[5]) or self.days.setdefault(row[5], iso_day(row[5]))
        return {"id": uuid_text(row[1]), "seller_id": row[2], "store_id": row[3], "amount_cents": row[4], "sold_on": day,
                "recorded_at": at, "origin_node": row[7], "origin_epoch": row[8], "origin_seq": row[9]}


def ship_sales(conn: sqlite3.Connection, sale_ids: list[str]) -> list[dict]:
    """The wire form of these held sales (db.kinds)."""
    shipping = _Shipping()
    wanted = [uuid_bytes(i) for i in dict.fromkeys(sale_ids)]  # each once, as asked
    return [shipping.wire(row) for row in rows_where_in(conn, f"{_SELECT} WHERE s.sale_id IN ({{}})", wanted)]


def ship_sales_at(conn: sqlite3.Connection, positions: list[int]) -> dict[int, dict]:
    """The wire form of the sales whose rows are at these local positions, by position: each run of consecutive
    positions (a batch of sales, the usual case) read as one range."""
    shipping = _Shipping()
    return {row[0]: shipping.wire(row) for first, last in _runs(sorted(positions))
            for row in conn.execute(f"{_SELECT} WHERE s.local_pos BETWEEN ? AND ?", (first, last))}


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Sorted positions as (first, last) runs of consecutive ones."""
    runs: list[list[int]] = []
    for pos in positions:
        if runs and pos == runs[-1][1] + 1:
            runs[-1][1] = pos
        else:
            runs.append([pos, pos])
    return [(first, last) for first, last in runs]


def store_sales(conn: sqlite3.Connection, entries: list[tuple[Logged, Sale]]) -> None:
    """Store new sales, each as the log entry of its change, and add them to the totals (unless voided)."""
    if entries:
        _insert_rows(conn, _entry_rows(conn, entries), [sale.sale_id for _, sale in entries])


def store_if_new(conn: sqlite3.Connection, entries: list[tuple[Logged, Sale]]) -> bool:
    """Store sales (each sale_id once) as store_sales does if none of them is held yet: True; else change nothing
    (False). A peer's batch of new sales then costs no lookup first (record_if_new's rule)."""
    return not entries or _insert_if_new(conn, _entry_rows(conn, entries), [sale.sale_id for _, sale in entries])


def _entry_rows(conn: sqlite3.Connection, entries: list[tuple[Logged, Sale]]) -> list[tuple]:
    """The sales rows of sales from peers, each the log entry of its change."""
    keys = keys_of(conn, {s.seller_id for _, s in entries} | {s.store_id for _, s in entries})
    ms: dict[str, int] = {}
    rows = []
    for logged, sale in entries:
        o = logged.origin
        own = (sale.origin_node, sale.origin_epoch, sale.origin_seq) == (o.node, o.epoch, o.seq)
        recorded = ms.get(sale.recorded_at)
        if recorded is None:
            recorded = ms[sale.recorded_at] = time_ms(sale.recorded_at)
        label = None if own else (sale.origin_node, sale.origin_epoch, sale.origin_seq)
        rows.append(_row(logged.pos, logged.inc, o.epoch, o.seq, sale, keys, day_number(sale.sold_on), recorded, label))
    return rows


def _row(pos: int, inc: int, epoch: int, seq: int, sale: Sale, keys: dict[str, int], day: int, recorded_ms: int,
         label: tuple[int, int, int] | None = None) -> tuple:
    """A sales row as _INSERT takes it: the sale as the log entry at `pos` of change (inc, epoch, seq); `label` is its
    content's origin when not that change's."""
    return (pos, uuid_bytes(sale.sale_id), keys[sale.seller_id], keys[sale.store_id], sale.amount_cents, day, recorded_ms,
            inc, epoch, seq, *(label or (None, None, None)))


def _counted(keys: dict[str, int], sale: Sale) -> aggregates.SaleRow:
    """The sale as the totals see it."""
    return keys[sale.seller_id], keys[sale.store_id], sale.amount_cents, day_number(sale.sold_on)


def _insert_rows(conn: sqlite3.Connection, rows: list[tuple], sale_ids: list[str]) -> None:
    """Insert sales rows (as _INSERT takes them) and count them (_count_rows)."""
    conn.executemany(_INSERT, rows)
    _count_rows(conn, rows, sale_ids)


def _count_rows(conn: sqlite3.Connection, rows: list[tuple], sale_ids: list[str]) -> None:
    """Sales rows just inserted: in the vector and the marks, the digests, and the totals unless voided. Rows whose
    local positions are one run (a batch of new sales, here or from a peer) are summed by SQLite itself."""
    sales_logged(conn, [(row[0], row[7], row[8], row[9]) for row in rows])
    voided = voided_among(conn, sale_ids)
    first, last = min(row[0] for row in rows), max(row[0] for row in rows)
    if last - first == len(rows) - 1 and not voided and len(rows) >= _SUMMED_BY_SQLITE_FROM:  # positions are unique
        aggregates.add_stored(conn, first, last)
    else:
        counted = rows if not voided else [row for row, sale_id in zip(rows, sale_ids) if sale_id not in voided]
        aggregates.add_sales(conn, [(row[2], row[3], row[4], row[5]) for row in counted])
    aggregates.add_digests(conn, [(row[5], row[4], row[1]) for row in rows])


def replace_content(conn: sqlite3.Connection, held: Sale, sale: Sale) -> None:
    """Give a held sale other content (a reused sale_id: the lower origin's wins, db.merge_sales); its row stays the
    log entry of the change that first brought it, with the new content's origin as its label."""
    keys = keys_of(conn, {held.seller_id, held.store_id, sale.seller_id, sale.store_id})
    counted = not voided_among(conn, [held.sale_id])
    stored_id = uuid_bytes(sale.sale_id)
    aggregates.add_digests(conn, [(day_number(held.sold_on), held.amount_cents, stored_id)], -1)
    aggregates.add_digests(conn, [(day_number(sale.sold_on), sale.amount_cents, stored_id)])
    if counted:
        aggregates.add_sales(conn, [_counted(keys, held)], -1)
    conn.execute("UPDATE sales SET seller = ?, store = ?, amount_cents = ?, day = ?, recorded_ms = ?, label_node = ?, "
                 "label_epoch = ?, label_seq = ? WHERE sale_id = ?",
                 (keys[sale.seller_id], keys[sale.store_id], sale.amount_cents, day_number(sale.sold_on), time_ms(sale.recorded_at),
                  sale.origin_node, sale.origin_epoch, sale.origin_seq, uuid_bytes(sale.sale_id)))
    if counted:
        aggregates.add_sales(conn, [_counted(keys, sale)])


def log_held(conn: sqlite3.Connection, logged: Logged, sale_id: str) -> None:
    """Keep a change of a sale already held here (a relay, a retry, a repair) as a row of `changes`."""
    insert_change(conn, logged, "sale", sale_id)


def record_new_sales(conn: sqlite3.Connection, stamp: "Stamp", sales: list[Sale]) -> list[Sale]:
    """Store sales known to be new as this node's next changes (one each, in order), with their origins; the sales as
    stored (their recording time to the millisecond, as kept)."""
    if not sales:
        return []
    stored: list[Sale] = []
    _insert_rows(conn, _new_rows(conn, stamp, sales, stored), [sale.sale_id for sale in sales])
    return stored


def record_if_new(conn: sqlite3.Connection, stamp: "Stamp", sales: list[Sale]) -> bool:
    """Store sales (each sale_id once) as record_new_sales does if none of them is held yet: True. The insert itself
    finds a held one, so a batch of new sales (an import's usual case) costs no lookup first; if one is held, nothing
    is changed but local keys (made on first use anyway) and the caller sorts the sales out (False)."""
    origins = len(stamp.origins)
    if not sales or _insert_if_new(conn, _new_rows(conn, stamp, sales, None), [sale.sale_id for sale in sales]):
        return True
    del stamp.origins[origins:]  # the run allocated is given back: the answer must not wait for it
    return False


def _insert_if_new(conn: sqlite3.Connection, rows: list[tuple], sale_ids: list[str]) -> bool:
    """Insert sales rows and count them (_count_rows) if none of their ids is held: True; else change nothing. A plain
    insert stops at the first held id (ON CONFLICT DO NOTHING would seek each id twice, and tell only a count)."""
    conn.execute("SAVEPOINT insert_if_new")
    try:
        conn.executemany(_INSERT, rows)
    except sqlite3.IntegrityError as exc:
        conn.execute("ROLLBACK TO insert_if_new")
        conn.execute("RELEASE insert_if_new")
        if "sales.sale_id" not in str(exc):  # only a held sale_id sends the batch down the slow path
            raise
        return False
    conn.execute("RELEASE insert_if_new")
    _count_rows(conn, rows, sale_ids)
    return True


def _new_rows(conn: sqlite3.Connection, stamp: "Stamp", sales: list[Sale], stored: list[Sale] | None) -> list[tuple]:
    """The sales rows of new sales as this node's next changes (a run allocated from the stamp); with `stored`, the
    sales as they will be stored are appended to it."""
    run = stamp.allocate_run(conn, len(sales))
    keys = keys_of(conn, {s.seller_id for s in sales} | {s.store_id for s in sales})
    kept: dict[str, tuple[int, str]] = {}
    days: dict[dt.date, int] = {}
    rows = []
    for i, sale in enumerate(sales):
        recorded = kept.get(sale.recorded_at)
        if recorded is None:
            ms = time_ms(sale.recorded_at)
            recorded = kept[sale.recorded_at] = (ms, iso_time(ms))
        day = days.get(sale.sold_on)
        if day is None:
            day = days[sale.sold_on] = day_number(sale.sold_on)
        rows.append(_row(run.pos + i, run.inc, run.epoch, run.seq + i, sale, keys, day, recorded[0]))
        if stored is not None:
            stored.append(Sale(sale.sale_id, sale.seller_id, sale.store_id, sale.amount_cents, sale.sold_on, recorded[1],
                               run.node, run.epoch, run.seq + i))
    return rows


def apply_void(conn: sqlite3.Connection, void: Void) -> None:
    """Keep a void (local or from a peer); the first void of a held sale takes it out of the totals."""
    if store_void(conn, void):
        sale = find_sale(conn, void.sale_id)
        if sale is not None:
            keys = keys_of(conn, {sale.seller_id, sale.store_id})
            aggregates.add_sales(conn, [_counted(keys, sale)], -1)


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
    keys = keys_of(conn, {loser, winner})
    conn.execute(f"""UPDATE sales SET seller = ? WHERE local_pos IN (
                         SELECT s.local_pos FROM ({_HELD_DAYS}) AS d CROSS JOIN sales s WHERE s.day = d.value AND s.seller = ?)""",
                 (keys[winner], OPEN_LOW, OPEN_HIGH, keys[loser]))
    aggregates.move_seller(conn, keys[loser], keys[winner])


def record_sale(conn: sqlite3.Connection, sale: Sale, stamp: "Stamp", date_given: bool = True) -> tuple[Sale, bool]:
    """Store a new sale as this node's next change; (stored, duplicate). SaleConflict on a reused id.

    A retry of a stored sale changes nothing, but its answer waits for that sale's replication too."""
    stored = find_sale(conn, sale.sale_id)
    if stored is not None:
        if not stored.same_content(sale, compare_date=date_given):
            raise SaleConflict(f"sale {sale.sale_id} was already recorded with other content")
        touch_stored(conn, stamp, stored)
        return stored, True
    return record_new_sales(conn, stamp, [sale])[0], False


def touch_stored(conn: sqlite3.Connection, stamp: "Stamp", sale: Sale) -> None:
    """A write found `sale` already stored: its answer waits for the sale's change to be replicated too."""
    label = sale_origin(sale)
    row = conn.execute(f"{_SELECT} WHERE s.sale_id = ?", (uuid_bytes(sale.sale_id),)).fetchone()
    if row is not None and (row[10], row[12], row[13]) == (label.node, label.epoch, label.seq):
        stamp.touch(_row_origin(row))
        return
    origin = labelled_change(conn, "sale", sale.sale_id, label)
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
                f"""SELECT {_COLUMNS} FROM ({_HELD_DAYS}) AS d CROSS JOIN sales s {_JOINS}
                    WHERE s.day = d.value AND s.seller = ({KEY_OF}) AND {NOT_VOIDED}
                    ORDER BY s.day DESC, s.recorded_ms DESC, s.sale_id LIMIT ?""",
                (*day_bounds(start, end), seller_id, limit),
            ).fetchall()
            return [_sale(r) for r in rows]
        return self.db.read(query)

    def seller_by_store(self, seller_id: str, start: dt.date | None, end: dt.date | None) -> list[tuple[str, str, Total]]:
        """(store id, name, total) of the seller's unvoided sales in the range per store, highest first. From the sales
        (there is no seller-and-store total): one seller's rows, sought day by day (_HELD_DAYS)."""
        def query(conn: sqlite3.Connection):
            return conn.execute(
                f"""SELECT kt.id, COALESCE(st.name, ''), SUM(s.amount_cents) AS total, COUNT(*) FROM ({_HELD_DAYS}) AS d
                    CROSS JOIN sales s JOIN local_keys kt ON kt.key = s.store LEFT JOIN stores st ON st.id = kt.id
                    WHERE s.day = d.value AND s.seller = ({KEY_OF}) AND {NOT_VOIDED}
                    GROUP BY s.store ORDER BY total DESC, st.name""",
                (*day_bounds(start, end), seller_id),
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


def day_bounds(start: dt.date | None, end: dt.date | None) -> tuple[int, int]:
    """Inclusive day-number bounds for a range where either end may be open."""
    return (day_number(start) if start else OPEN_LOW, day_number(end) if end else OPEN_HIGH)
