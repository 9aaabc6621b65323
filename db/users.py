"""Users (sellers and managers): queries, creation and the changes a manager makes (rules of the registers:
db.registers). PIN hashes never leave this layer except to the sign-in check.

A user's credential version is the later of its PIN's and its active flag's versions: a token carries the
version it was issued under and is refused once the account's version is another (server.accounts)."""

import json
import sqlite3
from dataclasses import dataclass

from db.changes import Stamp
from db.database import Database
from db.errors import AlreadyExists, NotFound
from db.registers import USER_ACTIVE, USER_PIN, USER_STORES, set_register, settle_merged_accounts
from db.where_in import rows_where_in
from models.changes import Origin, origin_text, version
from models.people import MANAGER, SELLER
from models.records import User

_USER_COLUMNS = "id, cpf, name, birth_year, role, active, pin_hash != '' AS has_pin, store_ids"
CREDENTIAL_VERSION_SQL = "max(active_version, pin_version)"


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["cpf"], row["name"], row["birth_year"], row["role"], bool(row["active"]), bool(row["has_pin"]),
                tuple(json.loads(row["store_ids"])))


@dataclass(frozen=True)
class Account:
    """What each authenticated call checks: the user the token names stands for `user` now
    (itself or the account its CPF was merged into), under this credential version."""

    user: User
    credential_version: str


def read_user(conn: sqlite3.Connection, user_id: str) -> User | None:
    """The user with this id, or the one it was merged into."""
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = (SELECT COALESCE(merged_into, id) FROM users WHERE id = ?)",
                       (user_id,)).fetchone()
    return _user(row) if row else None


def read_account(conn: sqlite3.Connection, user_id: str) -> Account | None:
    row = conn.execute(f"SELECT {CREDENTIAL_VERSION_SQL} FROM users WHERE id = ?", (user_id,)).fetchone()
    user = read_user(conn, user_id)
    return Account(user, row[0]) if row and user else None


class UserRepository:
    """Users that were merged into another (same CPF registered twice, see db.merge) answer as that one."""

    def __init__(self, database: Database):
        self.db = database

    def find_by_cpf(self, cpf: str) -> tuple[User, str, str] | None:
        """The standing user with this CPF, its PIN hash ('' when none is set) and credential version; or None."""
        row = self.db.read(lambda c: c.execute(
            f"SELECT {_USER_COLUMNS}, pin_hash, {CREDENTIAL_VERSION_SQL} AS cv FROM users WHERE cpf = ? AND merged_into IS NULL",
            (cpf,)).fetchone())
        return (_user(row), row["pin_hash"], row["cv"]) if row else None

    def existing_cpfs(self, cpfs: list[str]) -> set[str]:
        """Those of these CPFs that have an account."""
        return self.db.read(lambda c: {r[0] for r in rows_where_in(c, "SELECT cpf FROM users WHERE cpf IN ({})", cpfs)})

    def find_by_id(self, user_id: str) -> User | None:
        """The user with this id, or the one it was merged into."""
        return self.db.read(lambda c: read_user(c, user_id))

    def canonical_id(self, user_id: str) -> str | None:
        """The id that stands for this user now (itself, or the one it was merged into); None if unknown."""
        row = self.db.read(lambda c: c.execute("SELECT COALESCE(merged_into, id) FROM users WHERE id = ?", (user_id,)).fetchone())
        return row[0] if row else None

    def account(self, user_id: str) -> Account | None:
        return self.db.read(lambda c: read_account(c, user_id))

    def list_users(self, role: str | None = None) -> list[User]:
        """Standing users (not merged into another) by name, of one role or all."""
        roles = (role,) if role else (SELLER, MANAGER)
        rows = self.db.read(lambda c: c.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE role IN ({', '.join('?' for _ in roles)}) AND merged_into IS NULL "
            "ORDER BY name, id", roles).fetchall())
        return [_user(r) for r in rows]

    def list_sellers(self) -> list[User]:
        return self.list_users(SELLER)

    def seller_ids(self, ids: list[str], cpfs: list[str]) -> dict[str, str]:
        """Which of these ids and CPFs name a standing seller (as list_sellers would find them): each one found -> its id."""
        return {key: user_id for key, (user_id, role) in self.roles_of(ids, cpfs).items() if role == SELLER}

    def non_sellers(self, ids: list[str], cpfs: list[str]) -> dict[str, str]:
        """Which of these ids and CPFs name a standing user who is not a seller (a manager): each one found -> its id."""
        return {key: user_id for key, (user_id, role) in self.roles_of(ids, cpfs).items() if role != SELLER}

    def roles_of(self, ids: list[str], cpfs: list[str]) -> dict[str, tuple[str, str]]:
        """Which of these ids and CPFs name a standing user, of any role: each one found -> (its id, its role)."""
        def read(c: sqlite3.Connection) -> dict[str, tuple[str, str]]:
            found = {}
            for column, keys in (("id", ids), ("cpf", cpfs)):
                sql = f"SELECT {column}, id, role FROM users WHERE merged_into IS NULL AND {column} IN ({{}})"
                found.update((row[0], (row[1], row[2])) for row in rows_where_in(c, sql, keys))
            return found
        return self.db.read(read)

    @staticmethod
    def insert(conn: sqlite3.Connection, user: User, pin_hash: str, created_at: str, stamp: Stamp, at_ms: int | None = None) -> Origin:
        """Insert inside a writer transaction and log the change (its origin is returned); AlreadyExists on a taken CPF.

        pin_hash '' makes a user who cannot sign in until a manager sets a PIN. Registers start at the creation's
        version, or at '' (demo data, at_ms None: alike on every node)."""
        if conn.execute("SELECT 1 FROM users WHERE cpf = ? AND merged_into IS NULL", (user.cpf,)).fetchone():
            raise AlreadyExists(f"CPF {user.cpf} already has an account", "cpf")
        origin = stamp.log(conn, "user", user.id)
        first = "" if at_ms is None else version(at_ms, origin)
        conn.execute(
            "INSERT INTO users (id, cpf, name, birth_year, role, pin_hash, created_at, active, active_version, pin_version, "
            "store_ids, stores_version, registration) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, '[]', ?, ?)",
            (user.id, user.cpf, user.name, user.birth_year, user.role, pin_hash, created_at, first, first, first, origin_text(origin)),
        )
        return origin

    @staticmethod
    def set_active(conn: sqlite3.Connection, user_id: str, active: bool, stamp: Stamp, now_ms: int) -> User:
        return _update(conn, user_id, USER_ACTIVE, (int(active),), stamp, now_ms)

    @staticmethod
    def set_pin_hash(conn: sqlite3.Connection, user_id: str, pin_hash: str, stamp: Stamp, now_ms: int) -> User:
        return _update(conn, user_id, USER_PIN, (pin_hash,), stamp, now_ms)

    @staticmethod
    def set_stores(conn: sqlite3.Connection, user_id: str, store_ids: list[str], stamp: Stamp, now_ms: int) -> User:
        missing = [s for s in store_ids if conn.execute("SELECT 1 FROM stores WHERE id = ?", (s,)).fetchone() is None]
        if missing:
            raise NotFound("store_ids")
        return _update(conn, user_id, USER_STORES, (json.dumps(sorted(set(store_ids))),), stamp, now_ms)

    @staticmethod
    def managers_who_can_sign_in(conn: sqlite3.Connection) -> list[str]:
        """Active managers with a PIN: without one of them nobody could run the chain."""
        return [r[0] for r in conn.execute(
            "SELECT id FROM users WHERE role = ? AND active = 1 AND pin_hash != '' AND merged_into IS NULL", (MANAGER,)).fetchall()]


def _update(conn: sqlite3.Connection, user_id: str, register, values: tuple, stamp: Stamp, now_ms: int) -> User:
    """Change one register of a standing user (a merged id stands for the user it was merged into). A change of the
    PIN or of the active flag gets a version above both, so the credential version (their max) always moves."""
    user = read_user(conn, user_id)
    if user is None:
        raise NotFound("user_id")
    floor = ""
    if register in (USER_ACTIVE, USER_PIN):
        floor = conn.execute(f"SELECT {CREDENTIAL_VERSION_SQL} FROM users WHERE id = ?", (user.id,)).fetchone()[0]
    set_register(conn, register, user.id, values, now_ms, stamp.log(conn, "user", user.id), floor)
    settle_merged_accounts(conn, user.id)  # as every node does when this change reaches it
    return read_user(conn, user.id)
