"""Networks and stores: queries, creation and the changes a manager makes (rules of the registers: db.registers).

Ids are derived (models.records.network_id_for / store_id_for), so creating the same network name or CNPJ on
two sides of a partition makes one record. Every write logs a change of the row's kind; replication ships
the row as it is then.
"""

import json
import sqlite3

from db.changes import Stamp
from db.database import Database
from db.errors import AlreadyExists, NotFound
from db.registers import NETWORK_NAME, STORE_NAME, STORE_NETWORK, STORE_OPEN, set_register
from db.where_in import rows_where_in
from models.changes import Origin, origin_text, version
from models.records import Network, Store, new_id

_STORE_SELECT = """
    SELECT s.id, s.name, s.cnpj, s.open, n.id AS network_id, n.name AS network_name
    FROM stores s JOIN networks n ON n.id = s.network_id
"""


def _store(row: sqlite3.Row) -> Store:
    return Store(row["id"], row["name"], row["cnpj"], Network(row["network_id"], row["network_name"]), bool(row["open"]))


def read_store(conn: sqlite3.Connection, store_id: str) -> Store | None:
    row = conn.execute(_STORE_SELECT + " WHERE s.id = ?", (store_id,)).fetchone()
    return _store(row) if row else None


def read_network(conn: sqlite3.Connection, network_id: str) -> Network | None:
    row = conn.execute("SELECT id, name FROM networks WHERE id = ?", (network_id,)).fetchone()
    return Network(row["id"], row["name"]) if row else None


def network_named(conn: sqlite3.Connection, name: str) -> Network | None:
    """The network with this name, ignoring case also beyond ASCII (Ômega, ômega); the first by id if a partition
    left two. A chain has tens of networks: reading them all is cheap."""
    key = name.casefold()
    for row in conn.execute("SELECT id, name FROM networks ORDER BY id"):
        if row["name"].casefold() == key:
            return Network(row["id"], row["name"])
    return None


def _first_version(at_ms: int | None, stamp_origin) -> str:
    """A new row's registers start at its creation; demo rows (at_ms None) start at '' alike on every node."""
    return "" if at_ms is None else version(at_ms, stamp_origin)


def _creations(at_ms: int | None, origin: Origin) -> str:
    """The row's creations (see db.schema): this write's origin; none for demo rows, which every node loads alike."""
    return "[]" if at_ms is None else json.dumps([origin_text(origin)])


class CatalogueRepository:
    def __init__(self, database: Database):
        self.db = database

    def list_networks(self) -> list[Network]:
        rows = self.db.read(lambda c: c.execute("SELECT id, name FROM networks ORDER BY name, id").fetchall())
        return [Network(r["id"], r["name"]) for r in rows]

    def list_stores(self) -> list[Store]:
        rows = self.db.read(lambda c: c.execute(_STORE_SELECT + " ORDER BY n.name, s.name").fetchall())
        return [_store(r) for r in rows]

    def store_ids(self, ids: list[str], cnpjs: list[str]) -> dict[str, str]:
        """Which of these ids and CNPJs name a store (as list_stores would find them): each one found -> its id."""
        def read(c: sqlite3.Connection) -> dict[str, str]:
            found = {}
            for column, keys in (("id", ids), ("cnpj", cnpjs)):
                sql = f"SELECT s.{column}, s.id FROM stores s JOIN networks n ON n.id = s.network_id WHERE s.{column} IN ({{}})"
                found.update((row[0], row[1]) for row in rows_where_in(c, sql, keys))
            return found
        return self.db.read(read)

    def get_network(self, network_id: str) -> Network | None:
        return self.db.read(lambda c: read_network(c, network_id))

    def get_store(self, store_id: str) -> Store | None:
        return self.db.read(lambda c: read_store(c, store_id))

    @staticmethod
    def insert_network(conn: sqlite3.Connection, network: Network, created_at: str, stamp: Stamp,
                       at_ms: int | None = None) -> Network:
        """Insert inside a writer transaction and log the change; AlreadyExists on a taken name.

        The id derived from the name may belong to a network since renamed: then this one gets a fresh id
        (two sides creating that name again during a partition would make two networks, not one)."""
        if network_named(conn, network.name) is not None:
            raise AlreadyExists(f"network {network.name!r} already exists", "name")
        if read_network(conn, network.id) is not None:
            network = Network(new_id(), network.name)
        origin = stamp.log(conn, "network", network.id)
        conn.execute("INSERT INTO networks (id, name, created_at, name_version, creations) VALUES (?, ?, ?, ?, ?)",
                     (network.id, network.name, created_at, _first_version(at_ms, origin), _creations(at_ms, origin)))
        return network

    @staticmethod
    def insert_store(conn: sqlite3.Connection, store: Store, created_at: str, stamp: Stamp, at_ms: int | None = None) -> Store:
        """Insert inside a writer transaction and log the change; AlreadyExists on a taken CNPJ, NotFound on an unknown network."""
        if conn.execute("SELECT 1 FROM stores WHERE cnpj = ? OR id = ?", (store.cnpj, store.id)).fetchone():
            raise AlreadyExists(f"a store with CNPJ {store.cnpj} already exists", "cnpj")
        if read_network(conn, store.network.id) is None:
            raise NotFound("network_id")
        origin = stamp.log(conn, "store", store.id)
        first = _first_version(at_ms, origin)
        conn.execute(
            "INSERT INTO stores (id, name, cnpj, network_id, created_at, open, name_version, network_version, open_version, creations) "
            "VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (store.id, store.name, store.cnpj, store.network.id, created_at, first, first, first, _creations(at_ms, origin)),
        )
        return read_store(conn, store.id)

    @staticmethod
    def rename_network(conn: sqlite3.Connection, network_id: str, name: str, stamp: Stamp, now_ms: int) -> Network:
        if read_network(conn, network_id) is None:
            raise NotFound("network_id")
        taken = network_named(conn, name)
        if taken is not None and taken.id != network_id:
            raise AlreadyExists(f"network {name!r} already exists", "name")
        set_register(conn, NETWORK_NAME, network_id, (name,), now_ms, stamp.log(conn, "network", network_id))
        return read_network(conn, network_id)

    @staticmethod
    def update_store(conn: sqlite3.Connection, store_id: str, stamp: Stamp, now_ms: int,
                     name: str | None = None, network_id: str | None = None, open_: bool | None = None) -> Store:
        """Change the given registers of a store in one change; NotFound on an unknown store or network."""
        if read_store(conn, store_id) is None:
            raise NotFound("store_id")
        if network_id is not None and read_network(conn, network_id) is None:
            raise NotFound("network_id")
        origin = stamp.log(conn, "store", store_id)
        for register, value in ((STORE_NAME, name), (STORE_NETWORK, network_id), (STORE_OPEN, None if open_ is None else int(open_))):
            if value is not None:
                set_register(conn, register, store_id, (value,), now_ms, origin)
        return read_store(conn, store_id)
