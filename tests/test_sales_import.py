"""sales.import: a manager's history import, in-process on a fake clock; counts, refusals, idempotence, aggregates."""

import datetime as dt
import uuid

from inprocess import TODAY, call, error, login
from support import DEMO_MANAGER_CPF, DEMO_SELLER2_CPF, DEMO_SELLER_CPF

from models.documents import cnpj_check_digits, cpf_check_digits, format_cnpj, format_cpf
from models.records import imported_sale_id
from server.controllers.sales_import import NOT_A_SELLER


def totals(node, token, seller_id) -> tuple[str, int]:
    answer = call(node, "reports.seller_total", token=token, seller_id=seller_id)
    return answer["total"], answer["count"]


def setup(node):
    manager = login(node, DEMO_MANAGER_CPF)
    stores = call(node, "stores.list")["stores"]
    sellers = {s["cpf"]: s for s in call(node, "sellers.list", token=manager)["sellers"]}
    return manager, stores, sellers


def test_rows_by_cpf_cnpj_or_id_go_in_once_and_add_to_the_totals(node):
    """Old history (three years back) by CPF/CNPJ, masked or bare, or by id: imported, then the same rows again: duplicates."""
    manager, stores, sellers = setup(node)
    seller = sellers[DEMO_SELLER_CPF]
    old = (TODAY - dt.timedelta(days=3 * 365)).isoformat()
    rows = [
        {"sale_id": str(uuid.uuid4()), "seller": DEMO_SELLER_CPF, "store": stores[0]["cnpj"], "amount": "10.00", "sold_on": old},
        {"sale_id": str(uuid.uuid4()), "seller": format_cpf(DEMO_SELLER_CPF), "store": format_cnpj(stores[1]["cnpj"]),
         "amount": "0.05", "sold_on": TODAY.isoformat()},
        {"seller": seller["id"], "store": stores[0]["id"], "amount": "1234.5", "sold_on": old, "line": 7},
    ]
    before = totals(node, manager, seller["id"])
    answer = call(node, "sales.import", token=manager, rows=rows)
    assert (answer["imported"], answer["duplicates"], answer["refused"]) == (3, 0, [])
    after = totals(node, manager, seller["id"])
    assert after[1] == before[1] + 3
    assert int(after[0].replace(".", "")) - int(before[0].replace(".", "")) == 1000 + 5 + 123450
    again = call(node, "sales.import", token=manager, rows=rows)
    assert (again["imported"], again["duplicates"], again["refused"]) == (0, 3, [])
    assert totals(node, manager, seller["id"]) == after
    derived = imported_sale_id(seller["id"], stores[0]["id"], 123450, old, 7)
    assert call(node, "sales.get", token=manager, sale_id=derived)["sale"]["amount"] == "1234.50"


def test_bad_rows_are_refused_with_their_index_and_field_and_the_good_ones_still_go_in(node):
    """Future day, unknown seller or store, a manager as seller, bad amount, no id nor line, extra column, same id twice with
    other content: each refused by index; the one good row imported."""
    manager, stores, sellers = setup(node)
    store = stores[0]["cnpj"]
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    same = str(uuid.uuid4())
    day = TODAY.isoformat()
    rows = [
        {"sale_id": str(uuid.uuid4()), "seller": DEMO_SELLER_CPF, "store": store, "amount": "5.00", "sold_on": tomorrow},
        {"sale_id": str(uuid.uuid4()), "seller": "52998224725", "store": store, "amount": "5.00", "sold_on": day},
        {"sale_id": str(uuid.uuid4()), "seller": DEMO_SELLER_CPF, "store": "11222333000181", "amount": "5.00", "sold_on": day},
        {"sale_id": str(uuid.uuid4()), "seller": DEMO_MANAGER_CPF, "store": store, "amount": "5.00", "sold_on": day},
        {"sale_id": str(uuid.uuid4()), "seller": DEMO_SELLER_CPF, "store": store, "amount": "5,00", "sold_on": day},
        {"seller": DEMO_SELLER_CPF, "store": store, "amount": "5.00", "sold_on": day},
        {"sale_id": str(uuid.uuid4()), "seller": DEMO_SELLER_CPF, "store": store, "amount": "5.00", "sold_on": day, "vendedor": "x"},
        {"sale_id": same, "seller": DEMO_SELLER_CPF, "store": store, "amount": "7.00", "sold_on": day},
        {"sale_id": same, "seller": DEMO_SELLER2_CPF, "store": store, "amount": "7.00", "sold_on": day},
        "not a row",
    ]
    answer = call(node, "sales.import", token=manager, rows=rows)
    assert answer["imported"] == 1 and answer["duplicates"] == 0
    assert [(r["index"], r["field"]) for r in answer["refused"]] == [
        (0, "sold_on"), (1, "seller"), (2, "store"), (3, "seller"), (4, "amount"), (5, "sale_id"), (6, "vendedor"),
        (8, "sale_id"), (9, "rows")]
    reasons = {r["index"]: r["reason"] for r in answer["refused"]}
    assert (reasons[1], reasons[3]) == ("no seller has this id or CPF", NOT_A_SELLER)  # a manager's CPF is told as such
    conflicting = [{**rows[7], "amount": "8.00"}]
    assert call(node, "sales.import", token=manager, rows=conflicting)["refused"] == [
        {"index": 0, "field": "sale_id", "reason": "already used for a different sale"}]


def test_only_a_manager_imports_and_a_batch_has_at_most_10000_rows(node):
    """A seller gets 1002; 10,001 rows or none: -32602 on rows."""
    seller = login(node, DEMO_SELLER_CPF)
    row = {"sale_id": str(uuid.uuid4()), "seller": DEMO_SELLER_CPF, "store": "11223444000102", "amount": "1.00",
           "sold_on": TODAY.isoformat()}
    assert error(node, "sales.import", token=seller, rows=[row]).code == 1002
    manager = login(node, DEMO_MANAGER_CPF)
    for rows in ([row] * 10_001, []):
        refused = error(node, "sales.import", token=manager, rows=rows)
        assert refused.code == -32602 and refused.data["field"] == "rows"


def test_a_batch_naming_many_sellers_and_stores_looks_each_one_up(node):
    """Sellers and stores are read once per call for what its rows name (in chunks under SQLite's limit on variables):
    600 unknown CPFs and CNPJs are each refused, the known ones (by CPF, masked or bare, or by id) imported."""
    manager, stores, sellers = setup(node)
    seller = sellers[DEMO_SELLER_CPF]
    day = TODAY.isoformat()
    unknown_cpfs = [f"{n:09d}" + cpf_check_digits(f"{n:09d}") for n in range(100_000_001, 100_000_601)]
    unknown_cnpjs = [f"{n:012d}" + cnpj_check_digits(f"{n:012d}") for n in range(100_000_000_001, 100_000_000_601)]
    row = {"amount": "1.00", "sold_on": day}
    rows = [{**row, "seller": cpf, "store": stores[0]["cnpj"], "line": n} for n, cpf in enumerate(unknown_cpfs, 1)]
    rows += [{**row, "seller": seller["id"], "store": cnpj, "line": n} for n, cnpj in enumerate(unknown_cnpjs, 1)]
    known = [(DEMO_SELLER_CPF, stores[0]["id"]), (format_cpf(DEMO_SELLER2_CPF), format_cnpj(stores[1]["cnpj"])),
             (seller["id"], stores[1]["id"])]
    rows += [{**row, "seller": s, "store": st, "line": n} for n, (s, st) in enumerate(known, 1000)]
    answer = call(node, "sales.import", token=manager, rows=rows)
    assert answer["imported"] == 3 and answer["duplicates"] == 0
    assert [(r["index"], r["field"], r["reason"]) for r in answer["refused"]] == (
        [(i, "seller", "no seller has this id or CPF") for i in range(600)]
        + [(i, "store", "no store has this id or CNPJ") for i in range(600, 1200)])


def test_who_a_cpf_names_is_asked_again_on_each_call(node):
    """A CPF is normalised once for every call, but who it names is read per call: refused before the seller exists,
    imported once they do."""
    manager, stores, _ = setup(node)
    cpf = "52998224725"
    row = {"seller": format_cpf(cpf), "store": stores[0]["cnpj"], "amount": "3.00", "sold_on": TODAY.isoformat(), "line": 1}
    assert call(node, "sales.import", token=manager, rows=[row])["refused"] == [
        {"index": 0, "field": "seller", "reason": "no seller has this id or CPF"}]
    call(node, "users.create", token=manager, cpf=cpf, name="Nova Vendedora", birth_year=1990, pin="2580", role="seller")
    answer = call(node, "sales.import", token=manager, rows=[row])
    assert (answer["imported"], answer["refused"]) == (1, [])
