"""Errors over raw sockets: each bad input gets its code, changes nothing, and (except framing
errors) leaves the connection usable."""

import json
import os
import uuid

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, RawClient


def login(raw: RawClient, cpf: str) -> str:
    response = raw.call("auth.login", {"cpf": cpf, "pin": DEMO_PIN})
    return response["result"]["token"]


@pytest.fixture
def raw(demo_server):
    client = demo_server.raw()
    yield client
    client.close()


@pytest.fixture
def seller_token(raw):
    return login(raw, DEMO_SELLER_CPF)


@pytest.fixture
def manager_token(raw):
    return login(raw, DEMO_MANAGER_CPF)


def assert_usable(raw: RawClient):
    assert raw.call("ping", request_id="still-there") == {"jsonrpc": "2.0", "id": "still-there", "result": raw_ping(raw)}


def raw_ping(raw: RawClient) -> dict:
    return {"node_id": 1, "role": "coordinator", "epoch": 1, "coordinator_id": 1}


def sales_count(demo_server) -> int:
    api = api_for(demo_server)
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    return sum(r["count"] for r in api.report("best_store", limit=100)["ranking"])


@pytest.mark.parametrize("line,code", [
    (b"{not json}", -32700),
    (b"\xff\xfe\xfd", -32700),
    (b"[]", -32600),
    (b'"just a string"', -32600),
    (b'{"jsonrpc":"1.0","id":1,"method":"ping"}', -32600),
    (b'{"jsonrpc":"2.0","id":1}', -32600),
    (b'{"jsonrpc":"2.0","id":1,"method":"no.such"}', -32601),
    (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}', -32602),
    (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"extra":1}}', -32602),
])
def test_malformed_requests_get_their_code_and_the_connection_stays_usable(raw, line, code):
    raw.send_bytes(line + b"\n")
    response = raw.read()
    assert response["jsonrpc"] == "2.0" and response["error"]["code"] == code
    assert "Traceback" not in json.dumps(response)
    assert_usable(raw)


def test_a_notification_gets_no_answer(raw):
    raw.send({"jsonrpc": "2.0", "method": "ping"})
    raw.send({"jsonrpc": "2.0", "method": "no.such"})
    assert raw.call("ping", request_id=9)["id"] == 9  # the next line read is the answer to the request


def test_a_batch_is_answered_in_order_without_notifications(raw, seller_token):
    raw.send([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "ping"},
        5,
        {"jsonrpc": "2.0", "id": 2, "method": "sales.mine", "params": {"token": seller_token, "limit": 1}},
        {"jsonrpc": "2.0", "id": 3, "method": "reports.best_store", "params": {"token": seller_token}},
    ])
    answers = raw.read()
    assert [a.get("id") for a in answers] == [1, None, 2, 3]
    assert answers[1]["error"]["code"] == -32600
    assert len(answers[2]["result"]["sales"]) == 1
    assert answers[3]["error"]["code"] == 1002


def test_an_all_notification_batch_gets_nothing(raw):
    raw.send([{"jsonrpc": "2.0", "method": "ping"}, {"jsonrpc": "2.0", "method": "ping"}])
    assert raw.call("ping", request_id="after")["id"] == "after"


def error_of(raw: RawClient, method: str, params: dict) -> dict:
    response = raw.call(method, params)
    assert "error" in response, response
    return response["error"]


def test_tokens_and_roles_are_checked_on_the_server(raw, seller_token, manager_token, demo_server):
    assert error_of(raw, "sales.mine", {})["data"]["reason"] == "unauthenticated"
    assert error_of(raw, "sales.mine", {"token": "v1.forged.token"})["code"] == 1001
    assert error_of(raw, "sales.mine", {"token": manager_token[:-3] + "abc"})["code"] == 1001
    for method in ("reports.best_store", "reports.best_seller", "sellers.list", "users.create"):
        error = error_of(raw, method, {"token": seller_token})
        assert (error["code"], error["data"]["reason"]) == (1002, "forbidden")
    store_id = api_for(demo_server).stores()[0]["id"]
    sale = {"token": manager_token, "sale_id": str(uuid.uuid4()), "store_id": store_id, "amount": "10.00"}
    assert error_of(raw, "sales.record", sale)["code"] == 1002


def test_a_seller_cannot_record_for_another_seller(raw, seller_token, demo_server):
    before = sales_count(demo_server)
    store_id = api_for(demo_server).stores()[0]["id"]
    params = {"token": seller_token, "sale_id": str(uuid.uuid4()), "store_id": store_id, "amount": "10.00",
              "seller_id": str(uuid.uuid4())}
    error = error_of(raw, "sales.record", params)
    assert error["code"] == -32602 and error["data"]["field"] == "seller_id"
    assert sales_count(demo_server) == before


@pytest.mark.parametrize("amount", ["0", "-1", "1e3", "NaN", "10.555", "1000000.01", 10.5, 10, None, "", "10,50"])
def test_bad_amounts_are_rejected_and_record_nothing(raw, seller_token, demo_server, amount):
    before = sales_count(demo_server)
    store_id = api_for(demo_server).stores()[0]["id"]
    params = {"token": seller_token, "sale_id": str(uuid.uuid4()), "store_id": store_id, "amount": amount}
    error = error_of(raw, "sales.record", params)
    assert error["code"] == -32602 and error["data"]["field"] == "amount"
    assert sales_count(demo_server) == before
    assert_usable(raw)


@pytest.mark.parametrize("field,value", [
    ("sold_on", "2026-02-30"), ("sold_on", "2999-01-01"), ("sold_on", "2000-01-01"), ("sold_on", "26/11/2026"),
    ("sale_id", "not-a-uuid"), ("sale_id", 5), ("store_id", "zzz"),
])
def test_bad_sale_fields_are_rejected(raw, seller_token, demo_server, field, value):
    store_id = api_for(demo_server).stores()[0]["id"]
    params = {"token": seller_token, "sale_id": str(uuid.uuid4()), "store_id": store_id, "amount": "1.00", field: value}
    error = error_of(raw, "sales.record", params)
    assert error["code"] == -32602 and error["data"]["field"] == field


def test_unknown_ids_are_not_found(raw, seller_token, manager_token):
    unknown = str(uuid.uuid4())
    sale = {"token": seller_token, "sale_id": str(uuid.uuid4()), "store_id": unknown, "amount": "1.00"}
    assert error_of(raw, "sales.record", sale)["data"]["reason"] == "not_found"
    for method, key in (("reports.seller_total", "seller_id"), ("reports.store_total", "store_id"),
                        ("reports.network_total", "network_id")):
        error = error_of(raw, method, {"token": manager_token, key: unknown})
        assert (error["code"], error["data"]["reason"]) == (1006, "not_found")


def test_report_params_are_validated(raw, manager_token):
    for params, field in (({"from": "2026-02-30"}, "from"), ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
                          ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "3"}, "limit"), ({"to": 20260101}, "to")):
        error = error_of(raw, "reports.best_store", {"token": manager_token, **params})
        assert error["code"] == -32602 and error["data"]["field"] == field


def test_sign_in_errors(raw):
    assert error_of(raw, "auth.login", {"cpf": "11144477735", "pin": "1234"})["data"]["reason"] == "unknown_user"
    assert error_of(raw, "auth.login", {"cpf": DEMO_SELLER_CPF, "pin": "9999"})["data"]["reason"] == "bad_credentials"
    for params, field in (({"cpf": "12345678900", "pin": "1234"}, "cpf"), ({"cpf": DEMO_SELLER_CPF, "pin": "12"}, "pin"),
                          ({"cpf": DEMO_SELLER_CPF}, "pin"), ({"cpf": 12345678909, "pin": "1234"}, "cpf")):
        assert error_of(raw, "auth.login", params)["data"]["field"] == field


def test_registration_errors_change_nothing(raw, manager_token):
    taken = error_of(raw, "auth.register", {"cpf": DEMO_SELLER_CPF, "name": "Outro", "birth_year": 1990, "pin": "1357"})
    assert (taken["code"], taken["data"]["reason"]) == (1005, "already_exists")
    for bad in ({"birth_year": 1800}, {"name": "A"}, {"pin": "12ab"}, {"cpf": "529.982.247-24"}):
        params = {"cpf": "529.982.247-25", "name": "Nome Bom", "birth_year": 1990, "pin": "1357", **bad}
        assert error_of(raw, "auth.register", params)["code"] == -32602
    assert error_of(raw, "users.create", {"token": manager_token, "cpf": "39053344705", "name": "X Y", "birth_year": 1990,
                                          "pin": "1357", "role": "admin"})["data"]["field"] == "role"
    assert error_of(raw, "auth.login", {"cpf": "39053344705", "pin": "1234"})["data"]["reason"] == "unknown_user"


def test_five_wrong_pins_lock_the_cpf(fresh_server):
    server = fresh_server()
    raw = server.raw()
    for _ in range(5):
        assert error_of(raw, "auth.login", {"cpf": "34567890175", "pin": "0000"})["code"] == 1003
    locked = error_of(raw, "auth.login", {"cpf": "34567890175", "pin": DEMO_PIN})
    assert (locked["code"], locked["data"]["reason"]) == (1010, "rate_limited") and locked["data"]["retry_after_s"] > 0
    assert "result" in raw.call("auth.login", {"cpf": DEMO_SELLER_CPF, "pin": DEMO_PIN})  # only that CPF is locked
    raw.close()


def test_random_bytes_get_errors_never_a_traceback(demo_server):
    raw = demo_server.raw()
    for _ in range(20):
        junk = os.urandom(200).replace(b"\n", b" ")
        raw.send_bytes(junk + b"\n")
        response = raw.read()
        assert response["error"]["code"] in (-32700, -32600) and "Traceback" not in json.dumps(response)
    assert_usable(raw)
    raw.close()


# -- malformed input that used to reach internal errors (the trust issue, finding 10) ------------------------------

def test_a_poisoned_batch_element_gets_its_own_error_and_the_sale_beside_it_its_result(raw, seller_token, demo_server):
    """A lone surrogate in one element's method used to fail the whole line (-32603, id null, a traceback logged)."""
    store_id = raw.call("stores.list")["result"]["stores"][0]["id"]
    sale = {"jsonrpc": "2.0", "id": 2, "method": "sales.record",
            "params": {"token": seller_token, "sale_id": str(uuid.uuid4()), "store_id": store_id, "amount": "3.21"}}
    raw.send_bytes(b'[{"jsonrpc":"2.0","id":1,"method":"\\ud800"},' + json.dumps(sale).encode() + b"]\n")
    answers = {a["id"]: a for a in raw.read()}
    assert answers[1]["error"]["code"] == -32600
    assert answers[2]["result"]["sale"]["amount"] == "3.21"
    assert "Traceback" not in demo_server.log()


@pytest.mark.parametrize("line, code, answer_id", [
    (b'{"jsonrpc":"2.0","id":"\\udc00","method":"ping"}', -32600, None),  # an id with no UTF-8 form
    (b'{"jsonrpc":"2.0","id":7,"method":"ping","params":{"\\ud800":1}}', -32602, 7),  # a param name
    (b'{"jsonrpc":"2.0","id":1e400,"method":"ping"}', -32600, None),  # would come back as Infinity, not JSON
    (b'{"jsonrpc":"2.0","id":8,"method":"sales.mine","params":{"token":"v1.abc.\xc3\xa9"}}', 1001, 8),  # a non-ASCII signature
])
def test_malformed_ids_names_and_signatures_get_their_error_never_an_internal_one(raw, demo_server, line, code, answer_id):
    raw.send_bytes(line + b"\n")
    answer = raw.read_line()
    parsed = json.loads(answer)  # valid JSON: no Infinity, no unencodable text
    assert (parsed["error"]["code"], parsed["id"]) == (code, answer_id)
    assert_usable(raw)
    assert "Traceback" not in demo_server.log()


@pytest.mark.parametrize("params", [
    {"cpf": DEMO_SELLER_CPF, "pin": "1234\n"},  # a trailing newline made a different PIN
    {"cpf": DEMO_SELLER_CPF, "pin": "١٢٣٤"},  # Arabic-Indic digits are digits to Python, not to a till
])
def test_pins_are_ascii_digits_matched_whole(raw, params):
    assert raw.call("auth.login", params)["error"]["data"]["field"] == "pin"


def test_amounts_are_matched_whole(raw, seller_token):
    store_id = raw.call("stores.list")["result"]["stores"][0]["id"]
    for amount in ("10.50\n", "１０.50"):
        answer = raw.call("sales.record", {"token": seller_token, "sale_id": str(uuid.uuid4()), "store_id": store_id,
                                           "amount": amount})
        assert answer["error"]["data"]["field"] == "amount"


def test_a_birth_year_of_thousands_of_digits_is_invalid_params_not_an_internal_error(raw):
    answer = raw.call("auth.register", {"cpf": "529.982.247-25", "name": "Nome Bom", "birth_year": "1" * 5000, "pin": "2580"})
    assert answer["error"]["code"] == -32602 and answer["error"]["data"]["field"] == "birth_year"


def test_a_public_method_with_a_token_that_does_not_hold_answers_anonymously(raw):
    """cluster.status takes a token only to show merges to a manager: a bad one does not make it fail."""
    answer = raw.call("cluster.status", {"token": "v1.not.valid"})
    assert "result" in answer and "merges" not in answer["result"]
