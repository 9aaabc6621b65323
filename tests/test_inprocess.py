"""The dispatcher and controllers in-process: a node built without sockets (listen=False) on a FakeClock,
driven through dispatcher.handle_line() and dispatcher.call(). Everything that depends on "now" (the
default date of a sale, the backdating limit, token expiry, the sign-in lock) is tested here, where
time moves only when the test moves it."""

import datetime as dt
import uuid

import pytest
from inprocess import TODAY, TOKEN_TTL_S, UTC, call, error, login, make_node, reason, record, rpc_line, stores_by_name
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER2_CPF, DEMO_SELLER_CPF

from runtime.clock import FakeClock
from server.app import Node
from wire.jsonrpc import RpcError

# -- sign-in and tokens ------------------------------------------------------------------------------------------

def test_sign_in_gives_a_token_that_expires_12_hours_later_on_the_fake_clock(node, clock):
    """A token works until 12 h have passed on the clock, then is refused with 1001 unauthenticated."""
    answer = call(node, "auth.login", cpf="123.456.789-09", pin=DEMO_PIN)
    assert answer["user"] == {"id": answer["user"]["id"], "name": "João de Alencar", "cpf": DEMO_SELLER_CPF, "role": "seller",
                              "active": True, "has_pin": True, "store_ids": []}
    token = answer["token"]
    assert "sales" in call(node, "sales.mine", token=token)
    clock.advance(TOKEN_TTL_S - 1)
    assert "sales" in call(node, "sales.mine", token=token)
    clock.advance(1)
    expired = error(node, "sales.mine", token=token)
    assert reason(expired) == (1001, "unauthenticated") and "expired" in expired.message
    assert "sales" in call(node, "sales.mine", token=login(node, DEMO_SELLER_CPF))  # signing in again works


def test_the_login_throttle_locks_after_the_configured_failures_and_unlocks_after_the_lock_time(tmp_path, clock):
    """LOGIN_MAX_FAILURES wrong PINs lock the CPF (1010, even with the right PIN); LOGIN_LOCK_MINUTES later it signs in."""
    node = make_node(tmp_path, clock, LOGIN_MAX_FAILURES="3", LOGIN_LOCK_MINUTES="2")
    try:
        for _ in range(3):
            assert reason(error(node, "auth.login", cpf=DEMO_SELLER_CPF, pin="0000")) == (1003, "bad_credentials")
        locked = error(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)
        assert reason(locked) == (1010, "rate_limited") and locked.data["retry_after_s"] == 121
        assert login(node, DEMO_SELLER2_CPF)  # only that CPF is locked
        clock.advance(119)
        assert error(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN).data["retry_after_s"] == 2
        clock.advance(1)
        assert login(node, DEMO_SELLER_CPF)
    finally:
        node.stop()


def test_failures_below_the_limit_then_a_right_pin_start_the_count_again(node):
    """Four wrong PINs (the default limit is five), a right one, four more: never locked."""
    for _ in range(2):
        for _ in range(4):
            assert reason(error(node, "auth.login", cpf=DEMO_SELLER_CPF, pin="0000")) == (1003, "bad_credentials")
        assert login(node, DEMO_SELLER_CPF)


# -- sales and "today" -------------------------------------------------------------------------------------------

def test_a_sale_without_a_date_is_dated_today_in_the_chains_time_zone(tmp_path):
    """At 02:30 UTC it is still the previous day in São Paulo (UTC-3): that is the sale's date; at 03:00 UTC the next."""
    clock = FakeClock(dt.datetime(2026, 11, 27, 2, 30, tzinfo=UTC))
    node = make_node(tmp_path, clock)
    try:
        token = login(node, DEMO_SELLER_CPF)
        store = stores_by_name(node)["Max Atacado Centro"]
        late = record(node, token, store, "10.50")["sale"]
        assert (late["sold_on"], late["recorded_at"]) == ("2026-11-26", "2026-11-27T02:30:00.000000Z")
        clock.advance(30 * 60)
        after_midnight = record(node, token, store, "1.00")["sale"]
        assert after_midnight["sold_on"] == "2026-11-27"
        today = call(node, "sales.mine", token=token, **{"from": "2026-11-27", "to": "2026-11-27"})
        assert today["sales"] == [after_midnight] and (today["total"], today["count"]) == ("1.00", 1)
        yesterday = call(node, "sales.mine", token=token, **{"from": "2026-11-26", "to": "2026-11-26"})
        assert yesterday["sales"] == [late] and (yesterday["total"], yesterday["count"]) == ("10.50", 1)
    finally:
        node.stop()


def test_a_sale_in_another_time_zone_is_dated_there(tmp_path):
    """TIMEZONE decides "today": the same instant (02:30 UTC) is already the 27th in Lisbon."""
    node = make_node(tmp_path, FakeClock(dt.datetime(2026, 11, 27, 2, 30, tzinfo=UTC)), TIMEZONE="Europe/Lisbon")
    try:
        token = login(node, DEMO_SELLER_CPF)
        assert record(node, token, stores_by_name(node)["Max Atacado Sul"], "2.00")["sale"]["sold_on"] == "2026-11-27"
    finally:
        node.stop()


def test_a_sale_may_be_backdated_366_days_not_more_and_never_dated_tomorrow(node):
    """366 days before the fake today is accepted; 367 days and tomorrow are -32602 on sold_on and record nothing."""
    token = login(node, DEMO_SELLER_CPF)
    store = stores_by_name(node)["Atakadão Norte"]
    oldest = TODAY - dt.timedelta(days=366)
    assert record(node, token, store, "3.00", oldest)["sale"]["sold_on"] == oldest.isoformat()
    before = call(node, "sales.mine", token=token)["count"]
    for refused_day in (TODAY - dt.timedelta(days=367), TODAY + dt.timedelta(days=1)):
        refused = error(node, "sales.record", token=token, sale_id=str(uuid.uuid4()), store_id=store, amount="3.00",
                        sold_on=refused_day.isoformat())
        assert refused.code == -32602 and refused.data["field"] == "sold_on"
    assert call(node, "sales.mine", token=token)["count"] == before


def test_a_retried_sale_id_is_a_duplicate_counted_once_and_a_changed_one_a_conflict(node):
    """The same sale_id again answers duplicate=True with the stored sale; reports count it once; other values get 1007."""
    token, manager = login(node, DEMO_SELLER_CPF), login(node, DEMO_MANAGER_CPF)
    store = stores_by_name(node)["Lojas Martins 1"]
    before = call(node, "reports.store_total", token=manager, store_id=store)
    sale_id = str(uuid.uuid4())
    first = record(node, token, store, "7.77", sale_id=sale_id)
    again = record(node, token, store, "7.77", sale_id=sale_id)
    assert (first["duplicate"], again["duplicate"]) == (False, True) and again["sale"] == first["sale"]
    after = call(node, "reports.store_total", token=manager, store_id=store)
    assert after["count"] == before["count"] + 1
    assert int(after["total"].replace(".", "")) - int(before["total"].replace(".", "")) == 777
    for changed in ({"amount": "7.78"}, {"store_id": stores_by_name(node)["Lojas Martins 2"]}):
        params = {"token": token, "sale_id": sale_id, "store_id": store, "amount": "7.77", **changed}
        with pytest.raises(RpcError) as conflict:
            node.dispatcher.call("sales.record", params)
        assert reason(conflict.value) == (1007, "conflict")
    assert call(node, "reports.store_total", token=manager, store_id=store) == after


# -- the dispatcher: roles, methods, params ----------------------------------------------------------------------

def test_roles_are_checked_a_seller_gets_1002_on_reports_and_a_manager_on_sales(node):
    """Every manager-only method refuses a seller's token, sales.record refuses a manager's, no token is 1001."""
    seller, manager = login(node, DEMO_SELLER_CPF), login(node, DEMO_MANAGER_CPF)
    any_id = str(uuid.uuid4())
    for method, params in (("reports.best_store", {}), ("reports.best_seller", {}), ("reports.seller_total", {"seller_id": any_id}),
                           ("reports.store_total", {"store_id": any_id}), ("reports.network_total", {"network_id": any_id}),
                           ("sellers.list", {})):
        refused = error(node, method, token=seller, **params)
        assert reason(refused) == (1002, "forbidden") and refused.data["required_role"] == "manager"
    store = stores_by_name(node)["Max Atacado Centro"]
    assert reason(error(node, "sales.record", token=manager, sale_id=any_id, store_id=store, amount="1.00")) == (1002, "forbidden")
    assert reason(error(node, "sales.mine")) == (1001, "unauthenticated")
    assert reason(error(node, "reports.best_store", token=seller[:-2] + "xx")) == (1001, "unauthenticated")


def test_an_unknown_method_is_32601_and_an_unknown_param_32602_naming_it(node):
    """Through handle_line as over TCP: -32601 for a method nobody registered, -32602 naming an extra parameter."""
    unknown = rpc_line(node, {"jsonrpc": "2.0", "id": 1, "method": "sales.delete", "params": {}})
    assert unknown["id"] == 1 and unknown["error"]["code"] == -32601 and unknown["error"]["data"]["method"] == "sales.delete"
    extra = rpc_line(node, {"jsonrpc": "2.0", "id": 2, "method": "stores.list", "params": {"network": "x"}})
    assert extra["error"]["code"] == -32602 and extra["error"]["data"]["field"] == "network"
    seller = login(node, DEMO_SELLER_CPF)
    sneaky = error(node, "sales.record", token=seller, sale_id=str(uuid.uuid4()), store_id=str(uuid.uuid4()), amount="1.00",
                   seller_id=str(uuid.uuid4()))
    assert sneaky.code == -32602 and sneaky.data["field"] == "seller_id"
    assert node.dispatcher.handle_line(b'{"jsonrpc":"2.0","method":"no.such"}') is None  # a notification: no answer
    assert rpc_line(node, {"jsonrpc": "2.0", "id": "p", "method": "ping"})["result"] == \
        {"node_id": 1, "role": "coordinator", "epoch": 1, "coordinator_id": 1}


# -- every report on a known data set ----------------------------------------------------------------------------

DAY_A = TODAY - dt.timedelta(days=100)  # the demo chain's sales are all within the 90 days before today
DAY_B = TODAY - dt.timedelta(days=101)
KNOWN_SALES = [  # (seller CPF, store, amount, day)
    (DEMO_SELLER_CPF, "Max Atacado Centro", "10.00", DAY_A),
    (DEMO_SELLER_CPF, "Max Atacado Sul", "5.50", DAY_A),
    (DEMO_SELLER_CPF, "Atakadão Norte", "20.00", DAY_B),
    (DEMO_SELLER2_CPF, "Max Atacado Centro", "7.25", DAY_B),
    (DEMO_SELLER2_CPF, "Lojas Martins 1", "3.00", DAY_A),
]


@pytest.fixture
def known(node, clock):
    """The five KNOWN_SALES recorded one second apart; the manager's token and the ids by name."""
    tokens = {cpf: login(node, cpf) for cpf in (DEMO_SELLER_CPF, DEMO_SELLER2_CPF)}
    stores = stores_by_name(node)
    for cpf, store, amount, day in KNOWN_SALES:
        record(node, tokens[cpf], stores[store], amount, day)
        clock.advance(1)
    manager = login(node, DEMO_MANAGER_CPF)
    sellers = {s["name"]: s["id"] for s in call(node, "sellers.list", token=manager)["sellers"]}
    networks = {n["name"]: n["id"] for n in call(node, "networks.list")["networks"]}
    return {"manager": manager, "stores": stores, "sellers": sellers, "networks": networks, "tokens": tokens}


def report(node: Node, known: dict, name: str, start: dt.date | None = DAY_B, end: dt.date | None = DAY_A, **params) -> dict:
    if start is not None:
        params["from"] = start.isoformat()
    if end is not None:
        params["to"] = end.isoformat()
    return call(node, f"reports.{name}", token=known["manager"], **params)


def test_seller_store_and_network_totals_on_the_known_sales(node, known):
    """Totals and counts per seller, store and network over the two known days, one of them, and an open start."""
    sellers, stores, networks = known["sellers"], known["stores"], known["networks"]

    def seller(name, start=DAY_B, end=DAY_A):
        answer = report(node, known, "seller_total", start, end, seller_id=sellers[name])
        assert answer["seller"] == {"id": sellers[name], "name": name}
        return answer["total"], answer["count"]

    def store(name, start=DAY_B, end=DAY_A):
        answer = report(node, known, "store_total", start, end, store_id=stores[name])
        assert answer["store"] == {"id": stores[name], "name": name}
        return answer["total"], answer["count"]

    def network(name, start=DAY_B, end=DAY_A):
        answer = report(node, known, "network_total", start, end, network_id=networks[name])
        assert answer["network"] == {"id": networks[name], "name": name}
        return answer["total"], answer["count"]

    assert seller("João de Alencar") == ("35.50", 3)
    assert seller("Maria das Dores") == ("10.25", 2)
    assert seller("Pedro Solto Aguiar") == ("0.00", 0)
    assert seller("João de Alencar", DAY_A, DAY_A) == ("15.50", 2)
    assert seller("João de Alencar", None, DAY_A) == ("35.50", 3)  # open start: nothing older exists
    assert store("Max Atacado Centro") == ("17.25", 2)
    assert store("Max Atacado Centro", DAY_B, DAY_B) == ("7.25", 1)
    assert store("Max Atacado Sul") == ("5.50", 1)
    assert store("Atakadão Norte") == ("20.00", 1)
    assert store("Lojas Martins 1") == ("3.00", 1)
    assert store("Lojas Martins 2") == ("0.00", 0)
    assert network("MAX ATACADO") == ("22.75", 3)
    assert network("ATAKADAO") == ("20.00", 1)
    assert network("LOJAS MARTINS") == ("3.00", 1)
    assert network("MAX ATACADO", DAY_A, DAY_A) == ("15.50", 2)


def test_best_store_and_best_seller_rankings_on_the_known_sales(node, known):
    """Rankings by total, highest first, cut at `limit` (default 1); an empty range ranks nobody."""
    def ranking(name, start=DAY_B, end=DAY_A, **params):
        key = "store" if name == "best_store" else "seller"
        return [(r[key]["name"], r["total"], r["count"]) for r in report(node, known, name, start, end, **params)["ranking"]]

    assert ranking("best_store", limit=10) == [("Atakadão Norte", "20.00", 1), ("Max Atacado Centro", "17.25", 2),
                                               ("Max Atacado Sul", "5.50", 1), ("Lojas Martins 1", "3.00", 1)]
    assert ranking("best_store") == [("Atakadão Norte", "20.00", 1)]
    assert ranking("best_store", DAY_A, DAY_A, limit=2) == [("Max Atacado Centro", "10.00", 1), ("Max Atacado Sul", "5.50", 1)]
    assert ranking("best_seller", limit=10) == [("João de Alencar", "35.50", 3), ("Maria das Dores", "10.25", 2)]
    assert ranking("best_seller", DAY_B, DAY_B, limit=10) == [("João de Alencar", "20.00", 1), ("Maria das Dores", "7.25", 1)]
    quiet = TODAY - dt.timedelta(days=200)
    assert ranking("best_store", quiet, quiet) == [] and ranking("best_seller", quiet, quiet, limit=5) == []


def test_a_sellers_own_list_on_the_known_sales_is_newest_first(node, known):
    """sales.mine gives the caller's sales only, by date then time of recording, newest first, with their total."""
    mine = call(node, "sales.mine", token=known["tokens"][DEMO_SELLER_CPF], **{"from": DAY_B.isoformat(), "to": DAY_A.isoformat()})
    assert [(s["amount"], s["sold_on"]) for s in mine["sales"]] == [("5.50", DAY_A.isoformat()), ("10.00", DAY_A.isoformat()),
                                                                    ("20.00", DAY_B.isoformat())]
    assert (mine["total"], mine["count"]) == ("35.50", 3)
    limited = call(node, "sales.mine", token=known["tokens"][DEMO_SELLER_CPF], limit=1,
                   **{"from": DAY_B.isoformat(), "to": DAY_A.isoformat()})
    assert [s["amount"] for s in limited["sales"]] == ["5.50"] and limited["count"] == 3  # the count is the range's, not the page's


def test_all_time_reports_add_the_known_sales_to_the_demo_chain(node, known):
    """With no range, the rankings cover the demo chain's 360 sales and the five known ones, and agree with each other."""
    stores = report(node, known, "best_store", None, None, limit=100)["ranking"]
    sellers = report(node, known, "best_seller", None, None, limit=100)["ranking"]
    networks = [report(node, known, "network_total", None, None, network_id=i) for i in known["networks"].values()]
    assert sum(r["count"] for r in stores) == sum(r["count"] for r in sellers) == sum(n["count"] for n in networks) == 365

    def cents(rows):
        return sum(int(r["total"].replace(".", "")) for r in rows)
    assert cents(stores) == cents(sellers) == cents(networks)
