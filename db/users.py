"""Users (sellers and managers): queries and inserts. PIN hashes never leave this layer
except to the sign-in check."""

import sqlite3

from db.changes import Stamp
from db.database import Database
from db.errors import AlreadyExists
from models.changes import Origin
from models.people import SELLER
from models.records import User

_USER_COLUMNS = "id, cpf, name, birth_year, role"


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["cpf"], row["name"], row["birth_year"], row["role"])


class UserRepository:
    """Users that were merged into another (same CPF registered twice, see db.merge) answer as that one."""

    def __init__(self, database: Database):
        self.db = database

    def find_by_cpf(self, cpf: str) -> tuple[User, str] | None:
        """The active user with this CPF and its PIN hash, or None."""
        row = self.db.read(lambda c: c.execute(
            f"SELECT {_USER_COLUMNS}, pin_hash FROM users WHERE cpf = ? AND merged_into IS NULL", (cpf,)).fetchone())
        return (_user(row), row["pin_hash"]) if row else None

    def find_by_id(self, user_id: str) -> User | None:
        """The user with this id, or the one it was merged into."""
        row = self.db.read(lambda c: c.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE id = (SELECT COALESCE(merged_into, id) FROM users WHERE id = ?)",
            (user_id,)).fetchone())
        return _user(row) if row else None

    def canonical_id(self, user_id: str) -> str | None:
        """The id that stands for this user now (itself, or the one it was merged into); None if unknown."""
        row = self.db.read(lambda c: c.execute("SELECT COALESCE(merged_into, id) FROM users WHERE id = ?", (user_id,)).fetchone())
        return row[0] if row else None

    def list_sellers(self) -> list[User]:
        rows = self.db.read(lambda c: c.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE role = ? AND merged_into IS NULL ORDER BY name", (SELLER,)).fetchall())
        return [_user(r) for r in rows]

    @staticmethod
    def insert(conn: sqlite3.Connection, user: User, pin_hash: str, created_at: str, stamp: Stamp) -> Origin:
        """Insert inside a writer transaction and log the change (its origin is returned); AlreadyExists on a taken CPF."""
        try:
            conn.execute(
                "INSERT INTO users (id, cpf, name, birth_year, role, pin_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user.id, user.cpf, user.name, user.birth_year, user.role, pin_hash, created_at),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"CPF {user.cpf} already has an account") from None
        return stamp.log(conn, "user", user.id)
