"""Networks and stores: queries and inserts."""

import sqlite3

from db.changes import Stamp
from db.database import Database
from db.errors import AlreadyExists
from models.records import Network, Store

_STORE_SELECT = """
    SELECT s.id, s.name, s.cnpj, n.id AS network_id, n.name AS network_name
    FROM stores s JOIN networks n ON n.id = s.network_id
"""


def _store(row: sqlite3.Row) -> Store:
    return Store(row["id"], row["name"], row["cnpj"], Network(row["network_id"], row["network_name"]))


class CatalogueRepository:
    def __init__(self, database: Database):
        self.db = database

    def list_networks(self) -> list[Network]:
        rows = self.db.read(lambda c: c.execute("SELECT id, name FROM networks ORDER BY name").fetchall())
        return [Network(r["id"], r["name"]) for r in rows]

    def list_stores(self) -> list[Store]:
        rows = self.db.read(lambda c: c.execute(_STORE_SELECT + " ORDER BY n.name, s.name").fetchall())
        return [_store(r) for r in rows]

    def get_network(self, network_id: str) -> Network | None:
        row = self.db.read(lambda c: c.execute("SELECT id, name FROM networks WHERE id = ?", (network_id,)).fetchone())
        return Network(row["id"], row["name"]) if row else None

    def get_store(self, store_id: str) -> Store | None:
        row = self.db.read(lambda c: c.execute(_STORE_SELECT + " WHERE s.id = ?", (store_id,)).fetchone())
        return _store(row) if row else None

    @staticmethod
    def insert_network(conn: sqlite3.Connection, network: Network, created_at: str, stamp: Stamp) -> Network:
        """Insert inside a writer transaction and log the change; AlreadyExists on a taken name."""
        try:
            conn.execute("INSERT INTO networks (id, name, created_at) VALUES (?, ?, ?)", (network.id, network.name, created_at))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"network {network.name!r} already exists") from None
        stamp.log(conn, "network", network.id)
        return network

    @staticmethod
    def insert_store(conn: sqlite3.Connection, store: Store, created_at: str, stamp: Stamp) -> Store:
        """Insert inside a writer transaction and log the change; AlreadyExists on a taken CNPJ."""
        try:
            conn.execute(
                "INSERT INTO stores (id, name, cnpj, network_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (store.id, store.name, store.cnpj, store.network.id, created_at),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"a store with CNPJ {store.cnpj} already exists") from None
        stamp.log(conn, "store", store.id)
        return store
