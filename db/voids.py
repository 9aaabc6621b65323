"""Voids: a sale cancelled for a reason. A void is a tombstone keyed by sale_id, kept apart from the sale:

- a voided sale counts in no total, ranking or list (db.sales and db.aggregates leave it out, in the
  transaction of the void or of the sale, whichever comes last);
- a void that arrives before its sale (a partition, a catch-up in another order) is kept and the sale,
  when it comes, is stored but never counted;
- two voids of the same sale count once: the one with the lower version (the earlier) is kept on every node.
"""

import sqlite3
from dataclasses import dataclass

from db.where_in import rows_where_in

_VOID_COLUMNS = "sale_id, voided_by, reason, voided_at, version"


@dataclass(frozen=True)
class Void:
    sale_id: str
    voided_by: str  # user id
    reason: str
    voided_at: str  # ISO UTC
    version: str  # models.changes.version of the void: the earlier of two voids wins


def _void(row) -> Void:
    return Void(row[0], row[1], row[2], row[3], row[4])


def find_void(conn: sqlite3.Connection, sale_id: str) -> Void | None:
    row = conn.execute(f"SELECT {_VOID_COLUMNS} FROM sale_voids WHERE sale_id = ?", (sale_id,)).fetchone()
    return _void(row) if row else None


def voided_among(conn: sqlite3.Connection, sale_ids: list[str]) -> set[str]:
    """Which of these sales are voided."""
    return {r[0] for r in rows_where_in(conn, "SELECT sale_id FROM sale_voids WHERE sale_id IN ({})", sale_ids)}


def store_void(conn: sqlite3.Connection, void: Void) -> bool:
    """Keep this void unless an earlier one of the same sale is held; True when the sale was not voided before
    (the caller then takes the sale, if held, out of the totals)."""
    held = find_void(conn, void.sale_id)
    if held is None:
        conn.execute(f"INSERT INTO sale_voids ({_VOID_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                     (void.sale_id, void.voided_by, void.reason, void.voided_at, void.version))
        return True
    if void.version < held.version:
        conn.execute("UPDATE sale_voids SET voided_by = ?, reason = ?, voided_at = ?, version = ? WHERE sale_id = ?",
                     (void.voided_by, void.reason, void.voided_at, void.version, void.sale_id))
    return False


def list_voids(conn: sqlite3.Connection, start_iso: str, end_iso: str, limit: int) -> list[Void]:
    """Voids with start_iso <= voided_at < end_iso, newest first."""
    rows = conn.execute(f"SELECT {_VOID_COLUMNS} FROM sale_voids WHERE voided_at >= ? AND voided_at < ? "
                        "ORDER BY voided_at DESC, sale_id LIMIT ?", (start_iso, end_iso, limit)).fetchall()
    return [_void(r) for r in rows]
