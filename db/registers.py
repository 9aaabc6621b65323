"""Registers: the fields that change after a row is created (a name, a store's network, open, a person's
PIN, active flag and stores), each group with a version column (models.changes.version).

Rules: a local update writes a version above the current one (version_after); a change from a peer
overwrites a register only when its version is higher. So concurrent updates on two sides of a
partition end the same on every node, whatever order they arrive in: the later by (time, node) wins,
register by register (a rename on one side and a move on the other both stay).
"""

import sqlite3
from dataclasses import dataclass

from models.changes import Origin, version_after


@dataclass(frozen=True)
class Register:
    table: str
    columns: tuple[str, ...]
    version: str  # the column holding the version of these columns

    @property
    def all_columns(self) -> tuple[str, ...]:
        return (*self.columns, self.version)


NETWORK_NAME = Register("networks", ("name",), "name_version")
STORE_NAME = Register("stores", ("name",), "name_version")
STORE_NETWORK = Register("stores", ("network_id",), "network_version")
STORE_OPEN = Register("stores", ("open",), "open_version")
USER_ACTIVE = Register("users", ("active",), "active_version")
USER_PIN = Register("users", ("pin_hash",), "pin_version")
USER_STORES = Register("users", ("store_ids",), "stores_version")

REGISTERS = {"networks": (NETWORK_NAME,), "stores": (STORE_NAME, STORE_NETWORK, STORE_OPEN),
             "users": (USER_ACTIVE, USER_PIN, USER_STORES)}


def set_register(conn: sqlite3.Connection, register: Register, row_id: str, values: tuple, now_ms: int, origin: Origin,
                 floor: str = "") -> str:
    """A local update of one register, inside the write that logged `origin`; its new version, above the current
    one and above `floor` (a user's credential version must change whichever register moves it)."""
    current = conn.execute(f"SELECT {register.version} FROM {register.table} WHERE id = ?", (row_id,)).fetchone()[0]
    new_version = version_after(max(current, floor), now_ms, origin)
    assignments = ", ".join(f"{column} = ?" for column in register.all_columns)
    conn.execute(f"UPDATE {register.table} SET {assignments} WHERE id = ?", (*values, new_version, row_id))
    return new_version


def merge_registers(conn: sqlite3.Connection, table: str, row: dict) -> None:
    """Take each register of a peer's row (a dict with every column) whose version beats ours."""
    for register in REGISTERS[table]:
        assignments = ", ".join(f"{column} = ?" for column in register.all_columns)
        conn.execute(f"UPDATE {table} SET {assignments} WHERE id = ? AND {register.version} < ?",
                     (*(row[c] for c in register.all_columns), row["id"], row[register.version]))


def settle_merged_accounts(conn: sqlite3.Connection, winner_id: str) -> None:
    """Give every account of one person (the winner of a CPF merge and the accounts merged into it) each register's
    latest value (highest version) among them: the same result whatever order the accounts and changes came in."""
    columns = [c for register in REGISTERS["users"] for c in register.all_columns]
    members = conn.execute(f"SELECT {', '.join(columns)} FROM users WHERE id = ? OR merged_into = ?", (winner_id, winner_id)).fetchall()
    if len(members) < 2:
        return
    for register in REGISTERS["users"]:
        latest = dict(zip(columns, max(members, key=lambda m: m[columns.index(register.version)])))
        assignments = ", ".join(f"{column} = ?" for column in register.all_columns)
        conn.execute(f"UPDATE users SET {assignments} WHERE (id = ? OR merged_into = ?) AND {register.version} < ?",
                     (*(latest[c] for c in register.all_columns), winner_id, winner_id, latest[register.version]))
