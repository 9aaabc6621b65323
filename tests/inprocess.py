"""Helpers for tests that drive a node in-process: built without sockets (listen=False) on a FakeClock,
called through dispatcher.call() and dispatcher.handle_line()."""

import datetime as dt
import json
import uuid

import pytest
from support import DEMO_PIN, TEST_SECRET

from runtime.clock import FakeClock
from server.app import Node, build_node
from server.config import load_config
from wire.jsonrpc import RpcError

UTC = dt.timezone.utc
NOON_IN_SAO_PAULO = dt.datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 12:00 on 26/11/2026 in America/Sao_Paulo
TODAY = dt.date(2026, 11, 26)  # the fake clock's today in the chain's time zone, not the machine's
TOKEN_TTL_S = 12 * 3600


def make_node(data_dir, clock: FakeClock, **env: str) -> Node:
    """Node 1 of a one-node cluster with the demo chain, no sockets, on `clock`; env overrides settings."""
    config = load_config(1, env={"DATA_DIR": str(data_dir), "CLUSTER": "1=127.0.0.1:1", "CLUSTER_SECRET": TEST_SECRET, **env})
    return build_node(config, demo=True, clock=clock, listen=False).start()


def call(node: Node, method: str, **params):
    return node.dispatcher.call(method, params)


def error(node: Node, method: str, **params) -> RpcError:
    """The RpcError that the call raises (the test fails if it succeeds)."""
    with pytest.raises(RpcError) as raised:
        node.dispatcher.call(method, params)
    return raised.value


def reason(err: RpcError) -> tuple[int, str]:
    return err.code, (err.data or {}).get("reason", "")


def login(node: Node, cpf: str, pin: str = DEMO_PIN) -> str:
    return call(node, "auth.login", cpf=cpf, pin=pin)["token"]


def stores_by_name(node: Node) -> dict[str, str]:
    return {s["name"]: s["id"] for s in call(node, "stores.list")["stores"]}


def record(node: Node, token: str, store_id: str, amount: str, sold_on: dt.date | None = None, sale_id: str | None = None) -> dict:
    params = {"token": token, "sale_id": sale_id or str(uuid.uuid4()), "store_id": store_id, "amount": amount}
    if sold_on is not None:
        params["sold_on"] = sold_on.isoformat()
    return node.dispatcher.call("sales.record", params)


def rpc_line(node: Node, request: dict) -> dict:
    """One request through handle_line, as the TCP server hands it over; the decoded answer."""
    return json.loads(node.dispatcher.handle_line(json.dumps(request).encode()))
