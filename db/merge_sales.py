"""Sales and voids from peers: a grow-only set keyed by sale_id, where the lower origin wins a reused id
(rules: db.merge), and tombstones that commute with their sales (rules: db.voids)."""

import dataclasses
import logging
import sqlite3

from db.change_fields import checked, time_field, uuid_field, version_field
from db.change_rows import Logged
from db.errors import MalformedChange
from db.sales import apply_void, find_sales, log_held, replace_content, store_if_new, store_sales
from db.voids import Void
from db.where_in import rows_where_in
from models.changes import Origin
from models.dates import parse_iso_date
from models.money import MAX_SALE_CENTS
from models.numbers import is_whole
from models.records import Sale, parse_void_reason

log = logging.getLogger("onsell.merge")


def parse_sale(data: dict, origin: Origin) -> Sale:
    """The sale with the origin of its content: a sale_id reused with other content keeps the lower origin's on
    every node (apply_sales), and a relay ships that content under its own change, so the content's origin travels
    with it (rows from older nodes have none: then it is the change's)."""
    cents = data.get("amount_cents")
    if not is_whole(cents, 1) or cents > MAX_SALE_CENTS:
        raise MalformedChange("amount_cents out of range")
    sold_on = checked(lambda v: parse_iso_date(v, "sold_on"), data, "sold_on")
    content = (data.get("origin_node"), data.get("origin_epoch"), data.get("origin_seq"))
    if content != (None, None, None):
        if not all(is_whole(v, 1) for v in content):
            raise MalformedChange("origin_node, origin_epoch and origin_seq must be whole numbers")
        origin = Origin(*content)
    return Sale(uuid_field(data, "id"), uuid_field(data, "seller_id"), uuid_field(data, "store_id"), cents, sold_on,
                time_field(data, "recorded_at"), origin.node, origin.epoch, origin.seq)


def apply_sales(conn: sqlite3.Connection, changes: list[tuple[Logged, Sale]], merged_at: str) -> list[str]:
    """Keep each change: a sale not held yet becomes its row (the change's log entry), credited to its seller's merged
    user if any; any other change of a sale is kept in `changes`. No CPF merges here."""
    canonical = _canonical_users(conn, {s.seller_id for _, s in changes})
    if canonical:
        changes = [(logged, dataclasses.replace(sale, seller_id=canonical.get(sale.seller_id, sale.seller_id)))
                   for logged, sale in changes]
    if len({sale.sale_id for _, sale in changes}) == len(changes) and store_if_new(conn, changes):
        return []  # the usual batch: sales not held here yet, each once
    held = find_sales(conn, [s.sale_id for _, s in changes])
    new: dict[str, tuple[Logged, Sale]] = {}
    for logged, sale in changes:
        pending = new.get(sale.sale_id)
        existing = pending[1] if pending else held.get(sale.sale_id)
        if existing is None:
            new[sale.sale_id] = (logged, sale)
            continue
        log_held(conn, logged, sale.sale_id)
        if existing.same_content(sale) or _rank(existing) <= _rank(sale):
            continue
        log.warning("sale %s arrived twice with different content: keeping the one of the lower origin", sale.sale_id)
        if pending:
            new[sale.sale_id] = (pending[0], sale)
        else:
            replace_content(conn, existing, sale)
            held[sale.sale_id] = sale
    store_sales(conn, list(new.values()))
    return []


def _rank(sale: Sale) -> tuple[int, int, int]:
    return (sale.origin_epoch, sale.origin_node, sale.origin_seq)


def _canonical_users(conn: sqlite3.Connection, user_ids: set[str]) -> dict[str, str]:
    """merged user id -> the id it was merged into."""
    rows = rows_where_in(conn, "SELECT id, merged_into FROM users WHERE id IN ({}) AND merged_into IS NOT NULL", sorted(user_ids))
    return {user_id: merged_into for user_id, merged_into in rows}


def parse_void(data: dict, origin: Origin) -> Void:
    if not data.get("version"):
        raise MalformedChange("version is required")
    return Void(uuid_field(data, "id"), uuid_field(data, "voided_by"), checked(parse_void_reason, data, "reason"),
                time_field(data, "voided_at"), version_field(data, "version"))


def apply_voids(conn: sqlite3.Connection, changes: list[tuple[Origin, Void]], merged_at: str) -> list[str]:
    """Keep the voids: a held sale leaves the totals, one not yet held will never enter them."""
    for _, void in changes:
        apply_void(conn, void)
    return []
