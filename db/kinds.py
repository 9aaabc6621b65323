"""The replicated kinds: all that the change log and the merge know of each kind of row.

A change is shipped as its row read by the kind's ship (whose keys are the
wire form's data), parsed by the receiver with the kind's parse
(MalformedChange when malformed) and applied there under the rules in
db.merge. A new kind is an entry here and a migration widening the CHECK on
changes.kind (a test compares the two).
"""

import json
import logging
import sqlite3
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, Callable

from db.change_fields import cnpj_field, name_field, text_field, time_field, uuid_field, version_field
from db.change_rows import Logged, insert_change
from db.errors import MalformedChange
from db.merge_sales import apply_sales, apply_voids, parse_sale, parse_void
from db.merge_users import USER_COLUMNS, apply_users, parse_user
from db.registers import REGISTERS, merge_registers
from db.sales import ship_sales
from db.where_in import rows_where_in
from models.changes import Origin, origin_from_text

log = logging.getLogger("onsell.merge")

Apply = Callable[[sqlite3.Connection, list[tuple[Origin, Any]], str], list[str]]


@dataclass(frozen=True)
class Kind:
    """One replicated kind. `batched` kinds are applied once per batch, after the others, since no row
    refers to them (sales, and inserting them together is fast); the others one change at a time, in order.
    A kind that `logs_itself` (sales) keeps each change's log entry itself (db.change_rows) and its apply takes
    (Logged, record) pairs; for the others the change is a row of `changes` written before apply."""

    name: str
    ship: Callable[[sqlite3.Connection, list[str]], list[dict]]  # the wire data of these held ids; the id key is "id"
    parse: Callable[[dict, Origin], Any]  # (wire data, origin) -> the record apply takes
    apply: Apply  # (conn, [(origin, record)], merged_at) -> the CPF merges it made, as log lines
    entity_id: Callable[[Any], str]  # of a record
    batched: bool = False
    logs_itself: bool = False

    def keep(self, conn: sqlite3.Connection, changes: list[tuple[Logged, Any]], merged_at: str) -> list[str]:
        """Log these changes at their places and apply their records: the CPF merges made, as log lines."""
        if self.logs_itself:
            return self.apply(conn, changes, merged_at)
        for logged, record in changes:
            insert_change(conn, logged, self.name, self.entity_id(record))
        return self.apply(conn, [(logged.origin, record) for logged, record in changes], merged_at)


def _ship_sql(sql: str) -> Callable[[sqlite3.Connection, list[str]], list[dict]]:
    return lambda conn, ids: [dict(row) for row in rows_where_in(conn, sql, ids)]


def _catalogue_kind(name: str, table: str, columns: tuple[str, ...], key: str, parse: Callable[[dict, Origin], Any]) -> Kind:
    """Networks and stores: added when their id is new, else their registers merged (db.registers).

    Their ids are derived from the name or CNPJ, so a second creation of the same one (two sides of a
    partition) is the same row: its creations (a set merged by union) then hold two origins, which is
    recorded as a merge; the earlier created_at is kept."""
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"

    def apply(conn: sqlite3.Connection, changes: list[tuple[Origin, dict]], merged_at: str) -> list[str]:
        lines = []
        for _, row in changes:
            held = conn.execute(f"SELECT creations FROM {table} WHERE id = ?", (row["id"],)).fetchone()
            if held is None:
                try:
                    conn.execute(insert, [row[c] for c in columns])
                except sqlite3.IntegrityError:  # only rows made before ids were derived can clash
                    log.error("%s %s not added: its CNPJ is taken by another id", table, row["id"])
                    continue
                held_creations: list = []
            else:
                merge_registers(conn, table, row)
                held_creations = json.loads(held[0])
                conn.execute(f"UPDATE {table} SET created_at = min(created_at, ?) WHERE id = ?", (row["created_at"], row["id"]))
            creations = sorted(set(held_creations) | set(json.loads(row["creations"])))
            if held is not None and len(creations) > len(held_creations):
                conn.execute(f"UPDATE {table} SET creations = ? WHERE id = ?", (json.dumps(creations), row["id"]))
            if len(creations) > 1 and conn.execute(
                    "INSERT OR IGNORE INTO catalogue_merges (kind, entity_id, key, merged_at) VALUES (?, ?, ?, ?)",
                    (name, row["id"], row[key], merged_at)).rowcount:
                line = f"{name} {row[key]!r} created on two nodes: kept as one ({row['id']})"
                log.warning("%s", line)
                lines.append(line)
        return lines
    return Kind(name, _ship_sql(f"SELECT {', '.join(columns)} FROM {table} WHERE id IN ({{}})"), parse, apply,
                entity_id=itemgetter("id"))


def _versions(data: dict, table: str) -> dict:
    """The version columns of a row's registers ('' when absent: rows from before registers existed), and its creations."""
    creations = data.get("creations", "[]")
    try:
        parsed = json.loads(text_field({"creations": creations}, "creations", 4_000))
        if not isinstance(parsed, list):
            raise ValueError
        for creation in parsed:
            origin_from_text(creation if isinstance(creation, str) else "")
    except ValueError:
        raise MalformedChange("creations must be a JSON list of origins") from None
    return {"creations": json.dumps(sorted(set(parsed))), **{r.version: version_field(data, r.version) for r in REGISTERS[table]}}


def _parse_network(data: dict, origin: Origin) -> dict:
    return {"id": uuid_field(data, "id"), "name": name_field(data), "created_at": time_field(data, "created_at"),
            **_versions(data, "networks")}


def _parse_store(data: dict, origin: Origin) -> dict:
    is_open = data.get("open", 1)
    if is_open not in (0, 1) or isinstance(is_open, float):
        raise MalformedChange("open must be 0 or 1")
    return {"id": uuid_field(data, "id"), "name": name_field(data), "cnpj": cnpj_field(data),
            "network_id": uuid_field(data, "network_id"), "created_at": time_field(data, "created_at"), "open": int(is_open),
            **_versions(data, "stores")}


NETWORK_COLUMNS = ("id", "name", "created_at", "name_version", "creations")
STORE_COLUMNS = ("id", "name", "cnpj", "network_id", "created_at", "open", "name_version", "network_version", "open_version",
                 "creations")

KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    _catalogue_kind("network", "networks", NETWORK_COLUMNS, "name", _parse_network),
    _catalogue_kind("store", "stores", STORE_COLUMNS, "cnpj", _parse_store),
    Kind("user", _ship_sql(f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE id IN ({{}})"), parse_user, apply_users,
         entity_id=itemgetter("id")),
    Kind("sale", ship_sales, parse_sale, apply_sales, entity_id=attrgetter("sale_id"), batched=True, logs_itself=True),
    Kind("void", _ship_sql("SELECT sale_id AS id, voided_by, reason, voided_at, version FROM sale_voids WHERE sale_id IN ({})"),
         parse_void, apply_voids, entity_id=attrgetter("sale_id")),
)}
