"""What anti-entropy compares (replication/anti_entropy.py): digests of the sales and voids a file holds, the ids
behind one bucket of them, their rows, and shipping a row again as this node's own change.

A bucket is a kind and a day ("sale:2026-11-27" by the day sold, "void:2026-11-27" by the day voided), summed up as
(count, sum of cents, sum of a 32-bit hash of each id): two nodes holding the same rows have the same digest. Only
rows recorded (or voided) before a time both sides are given count, so the sales of the last seconds, which may
still be on their way, do not make two nodes differ under a steady flow of sales."""

import hashlib
import re
import sqlite3

from db.changes import Stamp
from db.kinds import KINDS
from db.where_in import rows_where_in

BUCKET_KINDS = ("sale", "void")
BUCKET_PATTERN = re.compile(r"(sale|void):[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HASH_BYTES = 4  # a sum of 32-bit hashes cannot overflow SQLite's 64-bit integers below 2**31 rows
_DIGEST_SQL = {
    "sale": "SELECT 'sale:' || sold_on, COUNT(*), SUM(amount_cents), SUM(onsell_id_hash(sale_id)) FROM sales "
            "WHERE recorded_at < ? GROUP BY sold_on",
    "void": "SELECT 'void:' || substr(voided_at, 1, 10), COUNT(*), 0, SUM(onsell_id_hash(sale_id)) FROM sale_voids "
            "WHERE voided_at < ? GROUP BY 1",
}
_IDS_SQL = {
    "sale": "SELECT sale_id FROM sales WHERE sold_on = ? AND recorded_at < ? AND sale_id > ? ORDER BY sale_id LIMIT ?",
    "void": "SELECT sale_id FROM sale_voids WHERE substr(voided_at, 1, 10) = ? AND voided_at < ? AND sale_id > ? "
            "ORDER BY sale_id LIMIT ?",
}


def id_hash(entity_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(entity_id.encode(), digest_size=_HASH_BYTES).digest(), "big")


def digest(conn: sqlite3.Connection, before: str) -> dict[str, tuple[int, int, int]]:
    """Every bucket of the rows recorded before `before` (ISO time): bucket -> (count, cents, hash sum).
    Reads every sale and void once."""
    conn.create_function("onsell_id_hash", 1, id_hash, deterministic=True)
    return {row[0]: (row[1], row[2], row[3]) for kind in BUCKET_KINDS for row in conn.execute(_DIGEST_SQL[kind], (before,))}


def bucket_ids(conn: sqlite3.Connection, bucket: str, before: str, after: str, limit: int) -> tuple[list[str], bool]:
    """The ids of one bucket (rows recorded before `before`) after `after`, in order, at most `limit`; and whether
    more remain."""
    kind, _, day = bucket.partition(":")
    ids = [row[0] for row in conn.execute(_IDS_SQL[kind], (day, before, after, limit + 1))]
    return ids[:limit], len(ids) > limit


def rows_of(conn: sqlite3.Connection, kind: str, ids: list[str]) -> list[dict]:
    """The rows of these ids as replication ships them (db.kinds)."""
    return [dict(row) for row in rows_where_in(conn, KINDS[kind].ship_sql, ids)]


def ship_again(conn: sqlite3.Connection, stamp: Stamp, kind: str, held_ids: list[str], fetched: list, merged_at: str) -> int:
    """Log rows as this node's new changes, so replication pushes them to every node lacking them: `held_ids` are
    here already, `fetched` are records parsed from a peer's rows (added here first, under the merge's rules).
    How many changes were logged."""
    logged = 0
    for record in fetched:
        origin = stamp.log(conn, kind, KINDS[kind].entity_id(record))
        KINDS[kind].apply(conn, [(origin, record)], merged_at)
        logged += 1
    for entity_id in held_ids:
        stamp.log(conn, kind, entity_id)
        logged += 1
    return logged
