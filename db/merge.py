"""Applying changes received from peers: histories merge by union, to the same result on every node.

Rules:
- Each origin's changes are applied in sequence order. A change already held
  is skipped; one that would leave a gap stops that origin for this batch (the
  sender starts again from our vector).
- Networks and stores are added when their id is new.
- Users are keyed by CPF. When a CPF arrives with another id, the
  registration with the higher (epoch, node, id) of its origin wins on every
  node; the loser is kept, marked merged_into the winner, and its sales and
  totals move to the winner. Each merge is recorded in user_merges.
- Sales form a grow-only set keyed by sale_id: a sale already held is not
  added again. If the same sale_id comes with other content (only a
  misbehaving client can cause it), the lower origin wins on every node.
- Entries are validated; a malformed one fails the whole batch, which changes
  nothing.
"""

import datetime as dt
import logging
import sqlite3
from dataclasses import dataclass, field

from db.changes import SQL_VARIABLES_PER_QUERY, insert_change, user_origin
from models.changes import Origin
from db.sales import insert_sales
from models.dates import parse_iso_date
from models.documents import parse_cnpj, parse_cpf
from models.errors import ValidationError
from models.money import MAX_SALE_CENTS
from models.people import parse_name, parse_role
from models.records import Sale, parse_uuid

log = logging.getLogger("onsell.merge")


class MalformedChange(ValueError):
    """A change from a peer that is not well formed; the batch is refused."""


@dataclass
class ApplyResult:
    applied: int = 0
    skipped: int = 0
    merges: list = field(default_factory=list)  # "CPF …: user X merged into Y"


def parse_entries(entries: object) -> list[tuple[Origin, str, object]]:
    """Check a whole batch before anything is written (and outside the writer thread); MalformedChange if any is bad."""
    if not isinstance(entries, list):
        raise MalformedChange("entries must be a list")
    return [_parse_entry(entry) for entry in entries]


def apply_entries(conn: sqlite3.Connection, entries: object, merged_at: str) -> ApplyResult:
    """Apply a batch of changes inside the writer's transaction; MalformedChange (and no change) if any is bad."""
    return apply_parsed(conn, parse_entries(entries), merged_at)


def apply_parsed(conn: sqlite3.Connection, parsed: list[tuple[Origin, str, object]], merged_at: str) -> ApplyResult:
    """Apply a batch that parse_entries accepted, inside the writer's transaction."""
    result = ApplyResult()
    last_seq: dict[tuple[int, int], int] = {}
    blocked: set[tuple[int, int]] = set()
    sales: list[Sale] = []
    for origin, kind, record in parsed:
        if origin.key in blocked:
            continue
        if origin.key not in last_seq:
            last_seq[origin.key] = conn.execute(
                "SELECT COALESCE(MAX(origin_seq), 0) FROM changes WHERE origin_node = ? AND origin_epoch = ?", origin.key).fetchone()[0]
        if origin.seq <= last_seq[origin.key]:
            result.skipped += 1
            continue
        if origin.seq != last_seq[origin.key] + 1:
            blocked.add(origin.key)
            continue
        last_seq[origin.key] = origin.seq
        result.applied += 1
        if kind == "sale":
            sales.append(record)  # applied together below, after their sellers and stores (with their change rows)
            continue
        if kind == "user":
            _apply_user(conn, origin, record, merged_at, result)
        elif kind == "store":
            _insert_or_note(conn, "stores", "INSERT OR IGNORE INTO stores (id, name, cnpj, network_id, created_at) VALUES (?, ?, ?, ?, ?)", record)
        else:
            _insert_or_note(conn, "networks", "INSERT OR IGNORE INTO networks (id, name, created_at) VALUES (?, ?, ?)", record)
        insert_change(conn, origin, kind, record[0])
    _apply_sales(conn, sales)
    return result


# -- parsing -----------------------------------------------------------------------------------
def _parse_entry(entry: object) -> tuple[Origin, str, object]:
    """(origin, kind, record): a Sale, or the tuple of column values for the other kinds."""
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict) or entry.get("kind") not in ("network", "store", "user", "sale"):
        raise MalformedChange("an entry must be {origin, kind, data}")
    origin = entry.get("origin")
    if not (isinstance(origin, list) and len(origin) == 3 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in origin)):
        raise MalformedChange("origin must be [node, epoch, seq]")
    origin, kind, data = Origin(*origin), entry["kind"], entry["data"]
    if kind == "sale":
        return origin, kind, _parse_sale(data, origin)
    if kind == "user":
        year = data.get("birth_year")
        if not isinstance(year, int) or isinstance(year, bool):
            raise MalformedChange("birth_year must be a number")
        return origin, kind, (_uuid(data, "id"), _checked(parse_cpf, data, "cpf"), _name(data), year,
                              _checked(parse_role, data, "role"), _text(data, "pin_hash", 512), _text(data, "created_at"))
    if kind == "store":
        return origin, kind, (_uuid(data, "id"), _name(data), _cnpj(data), _uuid(data, "network_id"), _text(data, "created_at"))
    return origin, kind, (_uuid(data, "id"), _name(data), _text(data, "created_at"))


def _checked(parse, data: dict, key: str):
    try:
        return parse(data.get(key))
    except ValidationError as exc:
        raise MalformedChange(f"{key}: {exc.reason}") from None


def _uuid(data: dict, key: str) -> str:
    return _checked(lambda v: parse_uuid(v, key), data, key)


def _name(data: dict) -> str:
    return _checked(parse_name, data, "name")


def _cnpj(data: dict) -> str:
    return _checked(parse_cnpj, data, "cnpj")


def _text(data: dict, key: str, max_length: int = 64) -> str:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > max_length:
        raise MalformedChange(f"{key} must be a string of at most {max_length} characters")
    return value


def _parse_sale(data: dict, origin: Origin) -> Sale:
    cents = data.get("amount_cents")
    if not isinstance(cents, int) or isinstance(cents, bool) or not 0 < cents <= MAX_SALE_CENTS:
        raise MalformedChange("amount_cents out of range")
    sold_on = _checked(lambda v: parse_iso_date(v, "sold_on"), data, "sold_on")
    return Sale(_uuid(data, "id"), _uuid(data, "seller_id"), _uuid(data, "store_id"), cents, sold_on,
                _text(data, "recorded_at"), origin.node, origin.epoch, origin.seq)


def _insert_or_note(conn: sqlite3.Connection, table: str, sql: str, values: tuple) -> None:
    conn.execute(sql, values)
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (values[0],)).fetchone() is None:
        log.error("%s %s not added: its name or CNPJ is taken by another id", table, values[0])


# -- users -------------------------------------------------------------------------------------
def _apply_user(conn: sqlite3.Connection, origin: Origin, values: tuple, merged_at: str, result: ApplyResult) -> None:
    user_id, cpf = values[0], values[1]
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone():
        return
    rival = conn.execute("SELECT id FROM users WHERE cpf = ? AND merged_into IS NULL", (cpf,)).fetchone()
    insert = "INSERT INTO users (id, cpf, name, birth_year, role, pin_hash, created_at, merged_into) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    if rival is None:
        conn.execute(insert, (*values, None))
        return
    rival_id = rival[0]
    rival_origin = user_origin(conn, rival_id) or Origin(0, 0, 0)
    conn.execute(insert, (*values, rival_id))  # enters as merged; promoted below if it wins
    if (origin.epoch, origin.node, user_id) > (rival_origin.epoch, rival_origin.node, rival_id):
        winner, loser = user_id, rival_id
        conn.execute("UPDATE users SET merged_into = ? WHERE id = ? OR merged_into = ?", (winner, loser, loser))
        conn.execute("UPDATE users SET merged_into = NULL WHERE id = ?", (winner,))
        conn.execute("UPDATE user_merges SET winner_id = ? WHERE winner_id = ?", (winner, loser))
        _move_sales(conn, loser, winner)
    else:
        winner, loser = rival_id, user_id
    conn.execute("INSERT OR REPLACE INTO user_merges (loser_id, winner_id, cpf, merged_at) VALUES (?, ?, ?, ?)",
                 (loser, winner, cpf, merged_at))
    line = f"CPF ***{cpf[-4:]} registered twice: user {loser} merged into {winner}"
    result.merges.append(line)
    log.warning("%s", line)


def _move_sales(conn: sqlite3.Connection, loser: str, winner: str) -> None:
    """Give the loser's sales and totals to the winner."""
    conn.execute("UPDATE sales SET seller_id = ? WHERE seller_id = ?", (winner, loser))
    for table, period in (("seller_daily_totals", "day"), ("seller_monthly_totals", "month")):
        conn.execute(f"""INSERT INTO {table} (seller_id, {period}, total_cents, sale_count)
                         SELECT ?, {period}, total_cents, sale_count FROM {table} WHERE seller_id = ? AND true
                         ON CONFLICT (seller_id, {period}) DO UPDATE SET
                             total_cents = total_cents + excluded.total_cents, sale_count = sale_count + excluded.sale_count""",
                     (winner, loser))
        conn.execute(f"DELETE FROM {table} WHERE seller_id = ?", (loser,))


# -- sales -------------------------------------------------------------------------------------
def _apply_sales(conn: sqlite3.Connection, sales: list[Sale]) -> None:
    if not sales:
        return
    conn.executemany("INSERT INTO changes (origin_node, origin_epoch, origin_seq, kind, entity_id) VALUES (?, ?, ?, 'sale', ?)",
                     [(s.origin_node, s.origin_epoch, s.origin_seq, s.sale_id) for s in sales])
    held = _held_sales(conn, [s.sale_id for s in sales])
    canonical = _canonical_users(conn, {s.seller_id for s in sales})
    new: list[Sale] = []
    for sale in sales:
        seller = canonical.get(sale.seller_id, sale.seller_id)
        sale = Sale(sale.sale_id, seller, sale.store_id, sale.amount_cents, sale.sold_on, sale.recorded_at,
                    sale.origin_node, sale.origin_epoch, sale.origin_seq)
        existing = held.get(sale.sale_id)
        if existing is not None:
            if existing.same_content(sale) or _rank(existing) <= _rank(sale):
                continue
            log.warning("sale %s arrived twice with different content: keeping the one of the lower origin", sale.sale_id)
            if existing in new:
                new.remove(existing)
            else:
                _remove_sale(conn, existing)
        new.append(sale)
        held[sale.sale_id] = sale
    insert_sales(conn, new)


def _rank(sale: Sale) -> tuple[int, int, int]:
    return (sale.origin_epoch, sale.origin_node, sale.origin_seq)


def _held_sales(conn: sqlite3.Connection, sale_ids: list[str]) -> dict[str, Sale]:
    held = {}
    for i in range(0, len(sale_ids), SQL_VARIABLES_PER_QUERY):
        chunk = sale_ids[i : i + SQL_VARIABLES_PER_QUERY]
        for row in conn.execute(f"SELECT sale_id, seller_id, store_id, amount_cents, sold_on, recorded_at, origin_node, "
                                f"origin_epoch, origin_seq FROM sales WHERE sale_id IN ({','.join('?' * len(chunk))})", chunk):
            held[row[0]] = Sale(row[0], row[1], row[2], row[3], dt.date.fromisoformat(row[4]), row[5], row[6], row[7], row[8])
    return held


def _canonical_users(conn: sqlite3.Connection, user_ids: set[str]) -> dict[str, str]:
    ids = sorted(user_ids)
    mapping = {}
    for i in range(0, len(ids), SQL_VARIABLES_PER_QUERY):
        chunk = ids[i : i + SQL_VARIABLES_PER_QUERY]
        for user_id, merged_into in conn.execute(f"SELECT id, merged_into FROM users WHERE id IN ({','.join('?' * len(chunk))}) "
                                                 "AND merged_into IS NOT NULL", chunk):
            mapping[user_id] = merged_into
    return mapping


def _remove_sale(conn: sqlite3.Connection, sale: Sale) -> None:
    conn.execute("DELETE FROM sales WHERE sale_id = ?", (sale.sale_id,))
    day = sale.sold_on.isoformat()
    for who, key in (("store", sale.store_id), ("seller", sale.seller_id)):
        for span, period, value in (("daily", "day", day), ("monthly", "month", day[:7])):
            conn.execute(f"UPDATE {who}_{span}_totals SET total_cents = total_cents - ?, sale_count = sale_count - 1 "
                         f"WHERE {who}_id = ? AND {period} = ?", (sale.amount_cents, key, value))
