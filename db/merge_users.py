"""Users from peers, keyed by CPF: a CPF registered twice is merged the same way on every node (rules: db.merge);
a user already held takes the peer's registers that are newer (db.registers)."""

import json
import logging
import sqlite3

from db.change_fields import checked, name_field, text_field, time_field, uuid_field, version_field
from db.errors import MalformedChange
from db.incarnations import first_change
from db.registers import REGISTERS, merge_registers, settle_merged_accounts
from db.sales import move_seller_sales
from models.changes import Origin, origin_from_text, origin_text
from models.documents import parse_cpf
from models.errors import ValidationError
from models.numbers import is_int
from models.people import parse_role
from models.records import parse_uuid

log = logging.getLogger("onsell.merge")

USER_COLUMNS = ("id", "cpf", "name", "birth_year", "role", "pin_hash", "created_at",
                "active", "active_version", "pin_version", "store_ids", "stores_version", "registration")


def parse_user(data: dict, origin: Origin) -> dict:
    """The users row's values by column (USER_COLUMNS); registers absent from an older peer's row start at ''."""
    year = data.get("birth_year")
    if not is_int(year):
        raise MalformedChange("birth_year must be a number")
    active = data.get("active", 1)
    if active not in (0, 1) or isinstance(active, float):
        raise MalformedChange("active must be 0 or 1")
    store_ids = data.get("store_ids", "[]")
    try:
        parsed = json.loads(text_field({"store_ids": store_ids}, "store_ids", 40_000))
        if not isinstance(parsed, list):
            raise ValueError
        store_ids = json.dumps(sorted({parse_uuid(s, "store_ids") for s in parsed}))
    except (ValueError, ValidationError):
        raise MalformedChange("store_ids must be a JSON list of UUIDs") from None
    registration = data.get("registration") or origin_text(origin)  # rows from before it was kept: the change's origin
    try:
        origin_from_text(registration if isinstance(registration, str) else "")
    except ValueError:
        raise MalformedChange("registration must be an origin") from None
    row = {"id": uuid_field(data, "id"), "cpf": checked(parse_cpf, data, "cpf"), "name": name_field(data), "birth_year": year,
           "role": checked(parse_role, data, "role"), "pin_hash": text_field(data, "pin_hash", 512),
           "created_at": time_field(data, "created_at"), "active": int(active), "store_ids": store_ids, "registration": registration}
    for register in REGISTERS["users"]:
        row[register.version] = version_field(data, register.version)
    return row


def apply_users(conn: sqlite3.Connection, changes: list[tuple[Origin, dict]], merged_at: str) -> list[str]:
    """Add the users or merge their registers; the CPF merges this made, as log lines."""
    return [line for origin, row in changes if (line := _apply_user(conn, origin, row, merged_at))]


def _apply_user(conn: sqlite3.Connection, origin: Origin, row: dict, merged_at: str) -> str | None:
    user_id, cpf = row["id"], row["cpf"]
    held = conn.execute("SELECT merged_into FROM users WHERE id = ?", (user_id,)).fetchone()
    if held is not None:
        merge_registers(conn, "users", row)
        settle_merged_accounts(conn, held[0] or user_id)  # a change to one account of a merged CPF counts for them all
        return None
    rival = conn.execute("SELECT id, registration FROM users WHERE cpf = ? AND merged_into IS NULL", (cpf,)).fetchone()
    insert = (f"INSERT INTO users ({', '.join(USER_COLUMNS)}, merged_into) "
              f"VALUES ({', '.join('?' for _ in USER_COLUMNS)}, ?)")
    values = [row[c] for c in USER_COLUMNS]
    if rival is None:
        conn.execute(insert, (*values, None))
        return None
    rival_id = rival[0]
    conn.execute(insert, (*values, rival_id))  # enters as merged; promoted below if it wins
    if _rank(row["registration"], user_id) > _rank(rival[1] or _first_change(conn, rival_id), rival_id):
        winner, loser = user_id, rival_id
        conn.execute("UPDATE users SET merged_into = ? WHERE id = ? OR merged_into = ?", (winner, loser, loser))
        conn.execute("UPDATE users SET merged_into = NULL WHERE id = ?", (winner,))
        conn.execute("UPDATE user_merges SET winner_id = ? WHERE winner_id = ?", (winner, loser))
        move_seller_sales(conn, loser, winner)
    else:
        winner, loser = rival_id, user_id
        move_seller_sales(conn, loser, winner)  # sales may arrive before their seller (no foreign key: db.schema)
    settle_merged_accounts(conn, winner)
    conn.execute("INSERT OR REPLACE INTO user_merges (loser_id, winner_id, cpf, merged_at) VALUES (?, ?, ?, ?)",
                 (loser, winner, cpf, merged_at))
    line = f"one CPF registered twice: user {loser} merged into {winner} (listed in cluster.status for managers)"
    log.warning("%s", line)
    return line


def _rank(registration: str, user_id: str) -> tuple:
    """Which of two registrations of a CPF wins: the higher (epoch, node) of the write that made it, then id.
    Decided by where each was registered (kept in the row), never by which of its changes arrived first."""
    origin = origin_from_text(registration) if registration else Origin(0, 0, 0)
    return (origin.epoch, origin.node, user_id)


def _first_change(conn: sqlite3.Connection, user_id: str) -> str:
    """A row from before registrations were kept: its first change here."""
    origin = first_change(conn, "user", user_id)
    return origin_text(origin) if origin else ""
