"""What anti-entropy compares (replication/anti_entropy.py): digests of the sales and voids a file holds, the ids
behind one bucket of them, their rows, and shipping a row again as this node's own change.

A bucket is a kind and a day ("sale:2026-11-27" by the day sold, "void:2026-11-27" by the day voided), summed up as
(count, sum of cents, sum of a 32-bit hash of each id): two nodes holding the same rows have the same digest.
Sales that arrived at this node after a local position (`settled_pos`, this node's own of some seconds ago) do not
count, nor voids voided after a time both sides are given: what is still on its way does not make two nodes differ
under a steady flow of sales. The sales' digests per day are kept with the sales (db.aggregates), so a digest
reads one row per day and the sales of the last seconds, never the whole table."""

import datetime as dt
import re
import sqlite3

from db.changes import Stamp
from db.codec import day_number, id_hash, iso_day, uuid_bytes, uuid_text
from db.kinds import KINDS

BUCKET_PATTERN = re.compile(r"(sale|void):[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TAIL_SQL = ("SELECT day, COUNT(*), SUM(amount_cents), SUM(onsell_sale_hash(sale_id)) FROM sales WHERE local_pos > ? "
             "GROUP BY day")
_VOIDS_SQL = ("SELECT 'void:' || substr(voided_at, 1, 10), COUNT(*), 0, SUM(onsell_void_hash(sale_id)) FROM sale_voids "
              "WHERE voided_at < ? GROUP BY 1")
# A day's sales by the (day, seller) index.
_SALE_IDS_SQL = "SELECT sale_id FROM sales WHERE day = ? AND local_pos <= ? AND +sale_id > ? ORDER BY +sale_id LIMIT ?"
_VOID_IDS_SQL = ("SELECT sale_id FROM sale_voids WHERE substr(voided_at, 1, 10) = ? AND voided_at < ? AND sale_id > ? "
                 "ORDER BY sale_id LIMIT ?")
EVERY_SALE = 2**62  # a settled position beyond any: every sale held counts


def digest(conn: sqlite3.Connection, before: str, settled_pos: int = EVERY_SALE) -> dict[str, tuple[int, int, int]]:
    """Every bucket: the sales that arrived here at or before local position `settled_pos`, the voids voided before
    `before` (ISO time): bucket -> (count, cents, hash sum)."""
    conn.create_function("onsell_sale_hash", 1, id_hash, deterministic=True)
    conn.create_function("onsell_void_hash", 1, lambda text: id_hash(uuid_bytes(text)), deterministic=True)
    days = {row[0]: list(row[1:]) for row in conn.execute("SELECT day, sale_count, total_cents, id_hashes FROM sale_digests")}
    for day, count, cents, hashes in conn.execute(_TAIL_SQL, (settled_pos,)):
        held = days[day]
        held[0], held[1], held[2] = held[0] - count, held[1] - cents, held[2] - hashes
    buckets = {f"sale:{iso_day(day)}": tuple(value) for day, value in days.items() if value[0] > 0}
    buckets.update((row[0], (row[1], row[2], row[3])) for row in conn.execute(_VOIDS_SQL, (before,)))
    return buckets


def bucket_ids(conn: sqlite3.Connection, bucket: str, before: str, after: str, limit: int,
               settled_pos: int = EVERY_SALE) -> tuple[list[str], bool]:
    """The ids of one bucket (as digest counts them) after `after`, in order, at most `limit`; and whether more remain."""
    kind, _, day = bucket.partition(":")
    if kind == "sale":  # ids as 16 bytes sort as their UUID text does
        params = (day_number(dt.date.fromisoformat(day)), settled_pos, uuid_bytes(after) if after else b"", limit + 1)
        ids = [uuid_text(row[0]) for row in conn.execute(_SALE_IDS_SQL, params)]
    else:
        ids = [row[0] for row in conn.execute(_VOID_IDS_SQL, (day, before, after, limit + 1))]
    return ids[:limit], len(ids) > limit


def rows_of(conn: sqlite3.Connection, kind: str, ids: list[str]) -> list[dict]:
    """The rows of these ids as replication ships them (db.kinds)."""
    return KINDS[kind].ship(conn, ids)


def ship_again(conn: sqlite3.Connection, stamp: Stamp, kind: str, held_ids: list[str], fetched: list, merged_at: str) -> int:
    """Log rows as this node's new changes, so replication pushes them to every node lacking them: `held_ids` are
    here already, `fetched` are records parsed from a peer's rows (added here first, under the merge's rules).
    How many changes were logged."""
    for record in fetched:
        KINDS[kind].keep(conn, [(stamp.allocate(conn, 1)[0], record)], merged_at)
    for entity_id in held_ids:
        stamp.log(conn, kind, entity_id)
    return len(fetched) + len(held_ids)
