"""Concurrency and durability: no acknowledged sale lost or counted twice."""

import threading
import uuid

from client.api import Api
from client.connection import Connection, ServerUnreachable
from conftest import api_for
from models.documents import cpf_check_digits
from support import DEMO_MANAGER_CPF, DEMO_PIN, wait_until

SELLERS = 50
SALES_EACH = 10


def make_cpf(n: int) -> str:
    nine = f"{700000000 + n:09d}"
    return nine + cpf_check_digits(nine)


def totals_by_seller(server) -> dict:
    manager = api_for(server)
    manager.login(DEMO_MANAGER_CPF, DEMO_PIN)
    return {s["id"]: manager.report("seller_total", seller_id=s["id"]) for s in manager.sellers()}


def test_fifty_concurrent_sellers_every_acknowledged_sale_counted_once(fresh_server):
    server = fresh_server(demo=True)
    stores = api_for(server).stores()
    acknowledged: dict[str, list[int]] = {}
    errors: list[Exception] = []
    start = threading.Barrier(SELLERS)

    def seller(n: int):
        api = Api(Connection({1: ("127.0.0.1", server.port)}))
        try:
            cpf = make_cpf(n)
            api.register(cpf, f"Vendedor {n:02d}", 1990, "4321")
            user = api.login(cpf, "4321")
            start.wait()
            mine = acknowledged.setdefault(user["id"], [])
            for i in range(SALES_EACH):
                sale_id = str(uuid.uuid4())
                cents = 100 * n + i + 1
                api.record_sale(sale_id, stores[(n + i) % len(stores)]["id"], cents)
                api.record_sale(sale_id, stores[(n + i) % len(stores)]["id"], cents)  # a retry: must not count again
                mine.append(cents)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            api.connection.close()

    threads = [threading.Thread(target=seller, args=(n,)) for n in range(SELLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    totals = totals_by_seller(server)
    assert len(acknowledged) == SELLERS
    for seller_id, amounts in acknowledged.items():
        report = totals[seller_id]
        assert report["count"] == SALES_EACH
        assert report["total"] == f"{sum(amounts) // 100}.{sum(amounts) % 100:02d}"


def test_kill_9_during_a_stream_of_sales_loses_no_acknowledged_sale(fresh_server):
    server = fresh_server(demo=True)
    api = api_for(server)
    api.login("45678901249", DEMO_PIN)
    store = api.stores()[0]
    before = api.my_sales(None, None)["count"]
    acknowledged: list[str] = []

    def keep_selling():
        try:
            while True:
                sale_id = str(uuid.uuid4())
                api.record_sale(sale_id, store["id"], 1000 + len(acknowledged))
                acknowledged.append(sale_id)
        except (ServerUnreachable, OSError):
            return  # the server was killed under us
    writer = threading.Thread(target=keep_selling)
    writer.start()
    wait_until(lambda: len(acknowledged) >= 30, what="30 acknowledged sales")
    server.kill9()
    writer.join(timeout=60)
    server.start()
    after = api_for(server)
    after.login("45678901249", DEMO_PIN)
    mine = after.my_sales(None, None, limit=1000)
    stored = {s["sale_id"] for s in mine["sales"]}
    assert set(acknowledged) <= stored
    assert mine["count"] - before in (len(acknowledged), len(acknowledged) + 1)  # + the one in flight, if it committed
    assert "demo data skipped" in server.log()
