"""Networks and stores: listing, and the manager's changes (create, rename, move, close, reopen, import)."""

import logging
import sqlite3

from db.catalogue import CatalogueRepository, network_named
from db.changes import Stamp
from db.errors import AlreadyExists, NotFound
from db.users import UserRepository
from models.documents import parse_cnpj
from models.errors import ValidationError
from models.people import MANAGER, parse_name
from models.records import Network, Store, network_id_for, store_id_for
from runtime.clock import iso_utc
from server.controllers.params import rows_param, uuid_param
from server.controllers.present import network_json, store_json
from server.dispatch import Method, Param
from server.ledger import Ledger
from wire.errors import ALREADY_EXISTS, NOT_FOUND, app_error

log = logging.getLogger("onsell.catalogue")


def refused(field: str, reason: str) -> dict:
    return {"status": "refused", "field": field, "reason": reason}


class CatalogueController:
    def __init__(self, ledger: Ledger, catalogue: CatalogueRepository, users: UserRepository, clock):
        self.ledger = ledger
        self.catalogue = catalogue
        self.users = users
        self.clock = clock

    def methods(self) -> list[Method]:
        store_id = uuid_param("store_id")
        return [
            Method("networks.list", self.networks),
            Method("stores.list", self.stores),
            Method("sellers.list", self.sellers, role=MANAGER),
            Method("networks.create", self.create_network, (Param("name", parse_name),), role=MANAGER),
            Method("networks.rename", self.rename_network, (uuid_param("network_id"), Param("name", parse_name)), role=MANAGER),
            Method("stores.create", self.create_store, (Param("name", parse_name), Param("cnpj", parse_cnpj),
                                                        uuid_param("network_id")), role=MANAGER),
            Method("stores.update", self.update_store, (store_id, Param("name", parse_name, required=False),
                                                        Param("network_id", uuid_param("network_id").parse, required=False)),
                   role=MANAGER),
            Method("stores.close", self.close_store, (store_id,), role=MANAGER),
            Method("stores.reopen", self.reopen_store, (store_id,), role=MANAGER),
            Method("stores.import", self.import_stores, (rows_param(),), role=MANAGER),
        ]

    def networks(self, caller) -> dict:
        return {"networks": [network_json(n) for n in self.catalogue.list_networks()]}

    def stores(self, caller) -> dict:
        return {"stores": [store_json(s) for s in self.catalogue.list_stores()]}

    def sellers(self, caller) -> dict:
        return {"sellers": [{"id": u.id, "name": u.name, "cpf": u.cpf} for u in self.users.list_sellers()]}

    def _commit(self, write):
        """Commit a catalogue write; its AlreadyExists and NotFound become the protocol's errors."""
        try:
            return self.ledger.commit(write)[0]
        except AlreadyExists as exc:
            raise app_error(ALREADY_EXISTS, str(exc), field=exc.field) from None
        except NotFound as exc:
            raise app_error(NOT_FOUND, f"No such {exc.field.removesuffix('_id')}", field=exc.field) from None

    def create_network(self, caller, name: str) -> dict:
        network, created_at, now_ms = Network(network_id_for(name), name), iso_utc(self.clock.now()), self.clock.wall_ms()
        network = self._commit(lambda conn, stamp: CatalogueRepository.insert_network(conn, network, created_at, stamp, now_ms))
        log.info("network created: %s", name)
        return {"network": network_json(network)}

    def rename_network(self, caller, network_id: str, name: str) -> dict:
        now_ms = self.clock.wall_ms()
        network = self._commit(lambda conn, stamp: CatalogueRepository.rename_network(conn, network_id, name, stamp, now_ms))
        return {"network": network_json(network)}

    def create_store(self, caller, name: str, cnpj: str, network_id: str) -> dict:
        store = Store(store_id_for(cnpj), name, cnpj, Network(network_id, ""))
        created_at, now_ms = iso_utc(self.clock.now()), self.clock.wall_ms()
        stored = self._commit(lambda conn, stamp: CatalogueRepository.insert_store(conn, store, created_at, stamp, now_ms))
        log.info("store created: %s", name)
        return {"store": store_json(stored)}

    def update_store(self, caller, store_id: str, name: str | None = None, network_id: str | None = None) -> dict:
        if name is None and network_id is None:
            raise ValidationError("name", "give a name, a network_id or both")
        return self._change_store(store_id, name=name, network_id=network_id)

    def close_store(self, caller, store_id: str) -> dict:
        return self._change_store(store_id, open_=False)

    def reopen_store(self, caller, store_id: str) -> dict:
        return self._change_store(store_id, open_=True)

    def _change_store(self, store_id: str, **changes) -> dict:
        now_ms = self.clock.wall_ms()
        store = self._commit(lambda conn, stamp: CatalogueRepository.update_store(conn, store_id, stamp, now_ms, **changes))
        return {"store": store_json(store)}

    def import_stores(self, caller, rows: list) -> dict:
        """Rows {network, name, cnpj}: each created (its network too, when new), already there, or refused; one commit."""
        parsed = [_parse_store_row(row) for row in rows]
        created_at, now_ms = iso_utc(self.clock.now()), self.clock.wall_ms()

        def write(conn: sqlite3.Connection, stamp: Stamp) -> list[dict]:
            return [entry if "status" in entry else _import_store(conn, stamp, entry, created_at, now_ms) for entry in parsed]
        results = self.ledger.commit(write)[0]
        log.info("stores imported: %d created of %d rows", sum(r["status"] == "created" for r in results), len(rows))
        return {"results": results}


def _parse_store_row(row: object) -> dict:
    """The row's values, or its refusal (a result with a status)."""
    if not isinstance(row, dict) or set(row) - {"network", "name", "cnpj"}:
        return refused("rows", "each row must be an object with network, name and cnpj")
    try:
        return {"network": parse_name(row.get("network"), "network"), "name": parse_name(row.get("name")),
                "cnpj": parse_cnpj(row.get("cnpj"))}
    except ValidationError as exc:
        return refused(exc.field, exc.reason)


def _import_store(conn: sqlite3.Connection, stamp: Stamp, row: dict, created_at: str, now_ms: int) -> dict:
    if conn.execute("SELECT 1 FROM stores WHERE cnpj = ?", (row["cnpj"],)).fetchone():
        return {"status": "exists", "field": "cnpj"}
    network = network_named(conn, row["network"])
    try:
        if network is None:
            network = CatalogueRepository.insert_network(conn, Network(network_id_for(row["network"]), row["network"]), created_at,
                                                         stamp, now_ms)
        store = CatalogueRepository.insert_store(conn, Store(store_id_for(row["cnpj"]), row["name"], row["cnpj"], network),
                                                 created_at, stamp, now_ms)
    except AlreadyExists as exc:  # a network renamed away from this name still owns its id
        return refused(exc.field, str(exc))
    return {"status": "created", "store": store_json(store)}

