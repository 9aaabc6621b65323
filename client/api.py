"""The onsell methods as Python calls; remembers the signed-in user's token.

Reports from followers: with `replica` on (REPORTS_FROM_FOLLOWERS=on, or `report --replica`) every reports.* call goes
to a follower, carrying min_position = the highest `position` this client saw in the answers to its own writes, and
to the coordinator when the follower refuses (Connection.call_follower). Off (the default), every call goes to the
coordinator, so a report right after a sale always sees it."""

import datetime as dt
from typing import Any

from client.connection import Connection
from models.money import format_cents
from models.names import name_order

REPORTS_PREFIX = "reports."  # every method under it only reads (docs/protocol.md): a follower in sync may answer it


def _range(start: dt.date | None, end: dt.date | None) -> dict:
    params = {}
    if start:
        params["from"] = start.isoformat()
    if end:
        params["to"] = end.isoformat()
    return params


class Api:
    def __init__(self, connection: Connection):
        self.connection = connection
        self.token: str | None = None
        self.user: dict | None = None
        self.void_window_minutes = 30  # the server's VOID_WINDOW_MINUTES, learnt at sign-in
        self.replica = False  # reports to a follower in sync (see the module's docstring)
        self.written_position = 0  # the highest `position` answered to this client's own writes

    def _call(self, method: str, **params) -> Any:
        return self.connection.call(method, params)

    def _authed(self, method: str, **params) -> Any:
        if self.replica and method.startswith(REPORTS_PREFIX):
            if self.written_position:
                params["min_position"] = self.written_position
            return self.connection.call_follower(method, {"token": self.token, **params})
        result = self.connection.call(method, {"token": self.token, **params})
        position = result.get("position") if isinstance(result, dict) else None
        if isinstance(position, int) and not isinstance(position, bool):  # a write's answer: the position that holds it
            self.written_position = max(self.written_position, position)
        return result

    def login(self, cpf: str, pin: str) -> dict:
        result = self._call("auth.login", cpf=cpf, pin=pin)
        self.token, self.user = result["token"], result["user"]
        self.void_window_minutes = result.get("void_window_minutes", self.void_window_minutes)
        return self.user

    def logout(self) -> None:
        self.token = self.user = None

    def register(self, cpf: str, name: str, birth_year: int, pin: str) -> dict:
        return self._call("auth.register", cpf=cpf, name=name, birth_year=birth_year, pin=pin)["user"]

    def create_user(self, cpf: str, name: str, birth_year: int, pin: str, role: str) -> dict:
        return self._authed("users.create", cpf=cpf, name=name, birth_year=birth_year, pin=pin, role=role)["user"]

    def stores(self) -> list[dict]:
        """Every store, by network, then by name, in a reader's order (models.names)."""
        stores = self._call("stores.list")["stores"]
        return sorted(stores, key=lambda s: (name_order(s["network"]["name"]), name_order(s["name"]), s["id"]))

    def networks(self) -> list[dict]:
        return by_name(self._call("networks.list")["networks"])

    def sellers(self) -> list[dict]:
        return by_name(self._authed("sellers.list")["sellers"])

    def record_sale(self, sale_id: str, store_id: str, amount_cents: int, sold_on: dt.date | None = None) -> dict:
        params = {"sale_id": sale_id, "store_id": store_id, "amount": format_cents(amount_cents)}
        if sold_on:
            params["sold_on"] = sold_on.isoformat()
        return self._authed("sales.record", **params)

    def my_sales(self, start: dt.date | None, end: dt.date | None, limit: int = 100) -> dict:
        return self._authed("sales.mine", limit=limit, **_range(start, end))

    def report(self, method: str, start: dt.date | None = None, end: dt.date | None = None, **params) -> dict:
        return self._authed(f"reports.{method}", **params, **_range(start, end))

    def status(self) -> dict:
        """cluster.status; with a manager's token it also lists the merges."""
        return self._call("cluster.status", **({"token": self.token} if self.token else {}))

    # -- administration (managers) and voids: see docs/protocol.md ---------------------------
    def change_pin(self, old_pin: str, new_pin: str) -> str:
        """Change the signed-in user's PIN; the new token replaces the old one (which the server now refuses)."""
        self.token = self._authed("auth.change_pin", old_pin=old_pin, new_pin=new_pin)["token"]
        return self.token

    def me(self) -> dict:
        """The signed-in person as the server has them now (their stores may have changed)."""
        self.user = self._authed("auth.me")["user"]
        return self.user

    def get_sale(self, sale_id: str) -> dict:
        """{sale, voided, void?}: a sale by its code (managers)."""
        return self._authed("sales.get", sale_id=sale_id)

    def seller_sales(self, seller_id: str, start: dt.date | None, end: dt.date | None, limit: int = 100) -> dict:
        """A manager's view of one seller's sales (sales.list), shaped as my_sales."""
        return self._authed("sales.list", seller_id=seller_id, limit=limit, **_range(start, end))

    def void_sale(self, sale_id: str, reason: str) -> dict:
        return self._authed("sales.void", sale_id=sale_id, reason=reason)

    def voids(self, start: dt.date | None = None, end: dt.date | None = None, limit: int = 100) -> list[dict]:
        return self._authed("reports.voids", limit=limit, **_range(start, end))["voids"]

    def create_network(self, name: str) -> dict:
        return self._authed("networks.create", name=name)["network"]

    def rename_network(self, network_id: str, name: str) -> dict:
        return self._authed("networks.rename", network_id=network_id, name=name)["network"]

    def create_store(self, name: str, cnpj: str, network_id: str) -> dict:
        return self._authed("stores.create", name=name, cnpj=cnpj, network_id=network_id)["store"]

    def update_store(self, store_id: str, name: str | None = None, network_id: str | None = None) -> dict:
        changes = {key: value for key, value in (("name", name), ("network_id", network_id)) if value is not None}
        return self._authed("stores.update", store_id=store_id, **changes)["store"]

    def close_store(self, store_id: str) -> dict:
        return self._authed("stores.close", store_id=store_id)["store"]

    def reopen_store(self, store_id: str) -> dict:
        return self._authed("stores.reopen", store_id=store_id)["store"]

    def users(self, role: str | None = None) -> list[dict]:
        return by_name(self._authed("users.list", **({"role": role} if role else {}))["users"])

    def deactivate_user(self, user_id: str) -> dict:
        return self._authed("users.deactivate", user_id=user_id)["user"]

    def reactivate_user(self, user_id: str) -> dict:
        return self._authed("users.reactivate", user_id=user_id)["user"]

    def reset_pin(self, user_id: str, pin: str) -> dict:
        return self._authed("users.reset_pin", user_id=user_id, pin=pin)["user"]

    def assign_stores(self, user_id: str, store_ids: list[str]) -> dict:
        return self._authed("users.assign_stores", user_id=user_id, store_ids=store_ids)["user"]

    def import_sales(self, rows: list[dict]) -> dict:
        """sales.import: {imported, duplicates, refused: [{index, field, reason}]}."""
        return self._authed("sales.import", rows=rows)

    def import_rows(self, kind: str, rows: list[dict]) -> list[dict]:
        """kind 'stores' or 'users': one result per row ({status, field?, reason?, ...}), in order."""
        return self._authed(f"{kind}.import", rows=rows)["results"]


def by_name(items: list[dict]) -> list[dict]:
    """People or networks in a reader's order of their names (models.names: the server's is the bytes' order, which puts
    "José" before "João" and "Loja 187" before "Loja 57")."""
    return sorted(items, key=lambda item: (name_order(item["name"]), item["id"]))
