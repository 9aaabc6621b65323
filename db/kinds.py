"""The replicated kinds: all that the change log and the merge know of each kind of row.

A change is shipped as its row read by the kind's ship_sql (whose columns are
the keys of the wire form's data), parsed by the receiver with the kind's
parse (MalformedChange when malformed) and applied there under the rules in
db.merge. A new kind is an entry here and a migration widening the CHECK on
changes.kind (a test compares the two).
"""

import logging
import sqlite3
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, Callable

from db.change_fields import cnpj_field, name_field, text_field, uuid_field
from db.merge_sales import apply_sales, parse_sale
from db.merge_users import apply_users, parse_user
from models.changes import Origin

log = logging.getLogger("onsell.merge")

Apply = Callable[[sqlite3.Connection, list[tuple[Origin, Any]], str], list[str]]


@dataclass(frozen=True)
class Kind:
    """One replicated kind. `batched` kinds are applied once per batch, after the others, since no row
    refers to them (sales, and inserting them together is fast); the others one change at a time, in order."""

    name: str
    ship_sql: str  # reads the rows whose ids fill "IN ({})"; the id column is named id
    parse: Callable[[dict, Origin], Any]  # (wire data, origin) -> the record apply takes
    apply: Apply  # (conn, [(origin, record)], merged_at) -> the CPF merges it made, as log lines
    entity_id: Callable[[Any], str] = itemgetter(0)  # of a record
    batched: bool = False


def _catalogue_kind(name: str, table: str, columns: str, parse: Callable[[dict, Origin], Any]) -> Kind:
    """Networks and stores: added when their id is new."""
    placeholders = ", ".join("?" for _ in columns.split(", "))
    insert = f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({placeholders})"

    def apply(conn: sqlite3.Connection, changes: list[tuple[Origin, tuple]], merged_at: str) -> list[str]:
        for _, values in changes:
            conn.execute(insert, values)
            if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (values[0],)).fetchone() is None:
                log.error("%s %s not added: its name or CNPJ is taken by another id", table, values[0])
        return []
    return Kind(name, f"SELECT {columns} FROM {table} WHERE id IN ({{}})", parse, apply)


def _parse_network(data: dict, origin: Origin) -> tuple:
    return (uuid_field(data, "id"), name_field(data), text_field(data, "created_at"))


def _parse_store(data: dict, origin: Origin) -> tuple:
    return (uuid_field(data, "id"), name_field(data), cnpj_field(data), uuid_field(data, "network_id"), text_field(data, "created_at"))


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    _catalogue_kind("network", "networks", "id, name, created_at", _parse_network),
    _catalogue_kind("store", "stores", "id, name, cnpj, network_id, created_at", _parse_store),
    Kind("user", "SELECT id, cpf, name, birth_year, role, pin_hash, created_at FROM users WHERE id IN ({})", parse_user, apply_users),
    Kind("sale", "SELECT sale_id AS id, seller_id, store_id, amount_cents, sold_on, recorded_at FROM sales WHERE sale_id IN ({})",
         parse_sale, apply_sales, entity_id=attrgetter("sale_id"), batched=True),
)}
