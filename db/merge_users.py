"""Users from peers, keyed by CPF: a CPF registered twice is merged the same way on every node (rules: db.merge)."""

import logging
import sqlite3

from db.change_fields import checked, name_field, text_field, uuid_field
from db.errors import MalformedChange
from db.sales import move_seller_sales
from models.changes import Origin
from models.documents import parse_cpf
from models.numbers import is_int
from models.people import parse_role

log = logging.getLogger("onsell.merge")


def parse_user(data: dict, origin: Origin) -> tuple:
    """The users row's values (id, cpf, name, birth_year, role, pin_hash, created_at)."""
    year = data.get("birth_year")
    if not is_int(year):
        raise MalformedChange("birth_year must be a number")
    return (uuid_field(data, "id"), checked(parse_cpf, data, "cpf"), name_field(data), year,
            checked(parse_role, data, "role"), text_field(data, "pin_hash", 512), text_field(data, "created_at"))


def apply_users(conn: sqlite3.Connection, changes: list[tuple[Origin, tuple]], merged_at: str) -> list[str]:
    """Add the users; the CPF merges this made, as log lines."""
    return [line for origin, values in changes if (line := _apply_user(conn, origin, values, merged_at))]


def _apply_user(conn: sqlite3.Connection, origin: Origin, values: tuple, merged_at: str) -> str | None:
    user_id, cpf = values[0], values[1]
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone():
        return None
    rival = conn.execute("SELECT id FROM users WHERE cpf = ? AND merged_into IS NULL", (cpf,)).fetchone()
    insert = "INSERT INTO users (id, cpf, name, birth_year, role, pin_hash, created_at, merged_into) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    if rival is None:
        conn.execute(insert, (*values, None))
        return None
    rival_id = rival[0]
    rival_origin = _user_origin(conn, rival_id) or Origin(0, 0, 0)
    conn.execute(insert, (*values, rival_id))  # enters as merged; promoted below if it wins
    if (origin.epoch, origin.node, user_id) > (rival_origin.epoch, rival_origin.node, rival_id):
        winner, loser = user_id, rival_id
        conn.execute("UPDATE users SET merged_into = ? WHERE id = ? OR merged_into = ?", (winner, loser, loser))
        conn.execute("UPDATE users SET merged_into = NULL WHERE id = ?", (winner,))
        conn.execute("UPDATE user_merges SET winner_id = ? WHERE winner_id = ?", (winner, loser))
        move_seller_sales(conn, loser, winner)
    else:
        winner, loser = rival_id, user_id
    conn.execute("INSERT OR REPLACE INTO user_merges (loser_id, winner_id, cpf, merged_at) VALUES (?, ?, ?, ?)",
                 (loser, winner, cpf, merged_at))
    line = f"CPF ***{cpf[-4:]} registered twice: user {loser} merged into {winner}"
    log.warning("%s", line)
    return line


def _user_origin(conn: sqlite3.Connection, user_id: str) -> Origin | None:
    """Where a user was registered."""
    row = conn.execute("SELECT origin_node, origin_epoch, origin_seq FROM changes WHERE kind = 'user' AND entity_id = ? "
                       "ORDER BY origin_epoch, origin_node, origin_seq LIMIT 1", (user_id,)).fetchone()
    return Origin(*row) if row else None
