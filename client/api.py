"""The onsell methods as Python calls; remembers the signed-in user's token."""

import datetime as dt
from typing import Any

from client.connection import Connection
from models.money import format_cents


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

    def _call(self, method: str, **params) -> Any:
        return self.connection.call(method, params)

    def _authed(self, method: str, **params) -> Any:
        return self.connection.call(method, {"token": self.token, **params})

    def login(self, cpf: str, pin: str) -> dict:
        result = self._call("auth.login", cpf=cpf, pin=pin)
        self.token, self.user = result["token"], result["user"]
        return self.user

    def logout(self) -> None:
        self.token = self.user = None

    def register(self, cpf: str, name: str, birth_year: int, pin: str) -> dict:
        return self._call("auth.register", cpf=cpf, name=name, birth_year=birth_year, pin=pin)["user"]

    def create_user(self, cpf: str, name: str, birth_year: int, pin: str, role: str) -> dict:
        return self._authed("users.create", cpf=cpf, name=name, birth_year=birth_year, pin=pin, role=role)["user"]

    def stores(self) -> list[dict]:
        return self._call("stores.list")["stores"]

    def networks(self) -> list[dict]:
        return self._call("networks.list")["networks"]

    def sellers(self) -> list[dict]:
        return self._authed("sellers.list")["sellers"]

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
        return self._call("cluster.status")
