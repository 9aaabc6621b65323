"""Every method, happy path, on a real demo server through the client's connection code.

The server reads the system clock, so no test here computes "today" itself: a date is either sent
explicitly or taken from what the server answered. What depends on the clock (the default date, the
backdating limit, token expiry, the sign-in lock) is tested with a FakeClock in test_inprocess.py."""

import datetime as dt
import uuid

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF

from client.connection import RemoteError


def test_ping_and_cluster_status_on_a_single_node(demo_server):
    api = api_for(demo_server)
    assert api.connection.call("ping") == {"node_id": 1, "role": "coordinator", "epoch": 1, "coordinator_id": 1}
    status = api.status()
    assert status["position"] >= 374 and "merges" not in status  # parts of CPFs: for a manager's token only
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    assert api.status()["merges"] == []
    assert status["nodes"] == [{"id": 1, "address": f"127.0.0.1:{demo_server.port}", "role": "coordinator", "alive": True,
                                "epoch": 1, "position": status["position"], "behind": 0}]


def test_login_returns_a_token_and_the_user(demo_server):
    api = api_for(demo_server)
    user = api.login("123.456.789-09", DEMO_PIN)
    assert user == {"id": user["id"], "name": "João de Alencar", "cpf": DEMO_SELLER_CPF, "role": "seller", "active": True,
                    "has_pin": True, "store_ids": []}
    assert api.token.startswith("v1.")


def test_public_lists(demo_server):
    api = api_for(demo_server)
    networks = api.networks()
    assert sorted(n["name"] for n in networks) == ["ATAKADAO", "LOJAS MARTINS", "MAX ATACADO"]
    stores = api.stores()
    assert len(stores) == 6
    max_stores = sorted(s["name"] for s in stores if s["network"]["name"] == "MAX ATACADO")
    assert max_stores == ["Max Atacado Centro", "Max Atacado Sul"]
    assert all(len(s["cnpj"]) == 14 for s in stores)


def cents(amount: str) -> int:
    return int(amount.replace(".", ""))


def test_seller_records_a_sale_and_sees_it_first_among_their_sales(seller_api):
    """A sale with no date is dated by the server; it comes back first in the seller's list and moves their total."""
    store = seller_api.stores()[0]
    sale_id = str(uuid.uuid4())
    before = seller_api.my_sales(None, None)
    result = seller_api.record_sale(sale_id, store["id"], 1050)
    assert result["duplicate"] is False and result["replicas"] == 1
    sale = result["sale"]
    assert sale["sale_id"] == sale_id and sale["amount"] == "10.50" and sale["store_id"] == store["id"]
    assert sale["seller_id"] == seller_api.user["id"] and sale["recorded_at"].endswith("Z")
    server_today = dt.date.fromisoformat(sale["sold_on"])
    after = seller_api.my_sales(server_today, server_today)
    assert after["sales"][0] == sale  # newest first: the sale just recorded
    everything = seller_api.my_sales(None, None)
    assert everything["count"] == before["count"] + 1
    assert cents(everything["total"]) - cents(before["total"]) == 1050


def test_a_retried_sale_is_a_duplicate_and_counted_once(seller_api, manager_api):
    store = seller_api.stores()[1]
    sale_id = str(uuid.uuid4())
    first = seller_api.record_sale(sale_id, store["id"], 777)
    total_before = manager_api.report("store_total", store_id=store["id"])
    again = seller_api.record_sale(sale_id, store["id"], 777)
    assert again["duplicate"] is True and again["sale"] == first["sale"]
    assert manager_api.report("store_total", store_id=store["id"]) == total_before
    with pytest.raises(RemoteError) as conflict:
        seller_api.record_sale(sale_id, store["id"], 778)
    assert conflict.value.code == 1007 and conflict.value.reason == "conflict"


def test_backdated_sale_and_my_sales_in_a_range(seller_api):
    """A sale sent with an explicit date 300 days before the server's today (no demo sale is that old) is
    the only one in that day's range."""
    store = seller_api.stores()[2]
    server_today = dt.date.fromisoformat(seller_api.record_sale(str(uuid.uuid4()), store["id"], 100)["sale"]["sold_on"])
    day = server_today - dt.timedelta(days=300)
    recorded = seller_api.record_sale(str(uuid.uuid4()), store["id"], 12345, day)["sale"]
    assert recorded["sold_on"] == day.isoformat()
    result = seller_api.my_sales(day, day)
    assert result["sales"] == [recorded] and (result["count"], result["total"]) == (1, "123.45")


def test_the_five_reports_and_rankings(manager_api):
    sellers = manager_api.sellers()
    assert {s["name"] for s in sellers} >= {"João de Alencar", "Maria das Dores", "Pedro Solto Aguiar", "Ana Milena da Silva"}
    stores, networks = manager_api.stores(), manager_api.networks()
    seller_sum = sum(int(manager_api.report("seller_total", seller_id=s["id"])["total"].replace(".", "")) for s in sellers)
    store_sum = sum(int(manager_api.report("store_total", store_id=s["id"])["total"].replace(".", "")) for s in stores)
    network_sum = sum(int(manager_api.report("network_total", network_id=n["id"])["total"].replace(".", "")) for n in networks)
    assert seller_sum == store_sum == network_sum > 0
    best = manager_api.report("best_store", limit=100)["ranking"]
    totals = [int(r["total"].replace(".", "")) for r in best]
    assert totals == sorted(totals, reverse=True) and sum(totals) == store_sum
    assert len(manager_api.report("best_store")["ranking"]) == 1
    top = manager_api.report("best_seller", limit=2)["ranking"]
    assert len(top) == 2 and set(top[0]) == {"seller", "total", "count", "average"}


def test_reports_in_an_empty_range_are_zero_and_empty(manager_api):
    far_past = dt.date(2001, 1, 1)
    assert manager_api.report("best_store", far_past, far_past)["ranking"] == []
    assert manager_api.report("best_seller", far_past, far_past, limit=5)["ranking"] == []
    store = manager_api.stores()[0]
    assert manager_api.report("store_total", far_past, far_past, store_id=store["id"])["total"] == "0.00"


def test_register_and_manager_creates_users(demo_server, manager_api):
    api = api_for(demo_server)
    user = api.register("111.444.777-35", "Nova Vendedora", 2000, "97531")
    assert user["role"] == "seller" and user["cpf"] == "11144477735"
    assert api.login("11144477735", "97531")["id"] == user["id"]
    manager = manager_api.create_user("52998224725", "Gerente Dois", 1980, "1357", "manager")
    assert manager["role"] == "manager"
    assert api_for(demo_server).login("52998224725", "1357")["role"] == "manager"
    assert "Nova Vendedora" in {s["name"] for s in manager_api.sellers()}


def test_a_token_works_on_a_new_connection(seller_api, demo_server):
    other = api_for(demo_server)
    other.token = seller_api.token
    assert "sales" in other.my_sales(None, None)
