"""Chain administration in-process (real SQLite files, the real dispatcher, a FakeClock): networks and stores,
people and their tokens, voids and imports. Replication of all this: test_admin_merge.py and test_admin_cluster.py."""

import datetime as dt
import functools
import uuid

import pytest
from inprocess import TODAY, call, error, login, make_node, reason, record, stores_by_name
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER2_CPF, DEMO_SELLER_CPF

from db.merge import apply_entries
from models.documents import cnpj_check_digits, cpf_check_digits
from models.records import network_id_for, store_id_for

NEW_CNPJ = "11444777000161"
NEW_CPF = "52998224725"


def cnpj(n: int) -> str:
    base = f"{40_000_000 + n:08d}0001"
    return base + cnpj_check_digits(base)


def cpf(n: int) -> str:
    nine = f"{300_000_000 + n:09d}"
    return nine + cpf_check_digits(nine)


@pytest.fixture
def manager(node) -> str:
    return login(node, DEMO_MANAGER_CPF)


def total(node, token: str, method: str, **params) -> tuple[str, int]:
    answer = call(node, f"reports.{method}", token=token, **params)
    return answer["total"], answer["count"]


# -- networks and stores ----------------------------------------------------------------------------------------

def test_a_manager_creates_a_network_and_a_store_and_a_seller_sells_there(node, manager):
    """networks.create and stores.create answer the protocol's shapes; the store is open and listed; a sale there counts."""
    network = call(node, "networks.create", token=manager, name="REDE NOVA")["network"]
    assert network == {"id": network_id_for("REDE NOVA"), "name": "REDE NOVA"}
    store = call(node, "stores.create", token=manager, name="Loja Nova", cnpj="11.444.777/0001-61", network_id=network["id"])["store"]
    assert store == {"id": store_id_for(NEW_CNPJ), "name": "Loja Nova", "cnpj": NEW_CNPJ, "network": network, "open": True}
    assert [s for s in call(node, "stores.list")["stores"] if s["id"] == store["id"]] == [store]
    record(node, login(node, DEMO_SELLER_CPF), store["id"], "10.00")
    assert total(node, manager, "network_total", network_id=network["id"]) == ("10.00", 1)


def test_taken_names_and_cnpjs_and_bad_cnpjs_are_refused_and_change_nothing(node, manager):
    """A network name in any case → 1005 field name; a taken CNPJ → 1005 field cnpj; a bad CNPJ → -32602; unknown network → 1006."""
    before = (call(node, "networks.list"), call(node, "stores.list"))
    taken_name = error(node, "networks.create", token=manager, name="max atacado")
    assert reason(taken_name) == (1005, "already_exists") and taken_name.data["field"] == "name"
    some_store = call(node, "stores.list")["stores"][0]
    network_id = some_store["network"]["id"]
    taken_cnpj = error(node, "stores.create", token=manager, name="Outra", cnpj=some_store["cnpj"], network_id=network_id)
    assert reason(taken_cnpj) == (1005, "already_exists") and taken_cnpj.data["field"] == "cnpj"
    bad = error(node, "stores.create", token=manager, name="Outra", cnpj="11.444.777/0001-62", network_id=network_id)
    assert bad.code == -32602 and bad.data["field"] == "cnpj"
    unknown = error(node, "stores.create", token=manager, name="Outra", cnpj=NEW_CNPJ, network_id=str(uuid.uuid4()))
    assert reason(unknown) == (1006, "not_found") and unknown.data["field"] == "network_id"
    renamed_onto = error(node, "networks.rename", token=manager, network_id=network_id, name="Max Atacado")
    assert renamed_onto.data["field"] == "name"
    assert (call(node, "networks.list"), call(node, "stores.list")) == before
    seller = login(node, DEMO_SELLER_CPF)
    assert reason(error(node, "networks.create", token=seller, name="Rede X"))[0] == 1002


def test_moving_a_store_moves_its_past_sales_between_network_totals(node, manager):
    """The network total is the sum of its stores now: moving a store changes past totals of both networks."""
    networks = {n["name"]: n["id"] for n in call(node, "networks.list")["networks"]}
    store_id = stores_by_name(node)["Max Atacado Centro"]
    max_before = total(node, manager, "network_total", network_id=networks["MAX ATACADO"])
    store_total = total(node, manager, "store_total", store_id=store_id)
    assert store_total[1] > 0
    moved = call(node, "stores.update", token=manager, store_id=store_id, network_id=networks["ATAKADAO"], name="Centro")["store"]
    assert moved["network"]["name"] == "ATAKADAO" and moved["name"] == "Centro"
    max_after = total(node, manager, "network_total", network_id=networks["MAX ATACADO"])
    assert max_after[1] == max_before[1] - store_total[1]
    renamed = call(node, "networks.rename", token=manager, network_id=networks["ATAKADAO"], name="Atakadão")["network"]
    assert renamed == {"id": networks["ATAKADAO"], "name": "Atakadão"}


def test_a_closed_store_takes_no_sale_but_keeps_its_past_and_a_retry_still_gets_its_answer(node, manager):
    """stores.close → sales.record 1011 field store_id; reports keep its sales; a retried sale recorded before is a duplicate."""
    seller = login(node, DEMO_SELLER_CPF)
    store_id = stores_by_name(node)["Lojas Martins 1"]
    earlier = record(node, seller, store_id, "5.00")["sale"]
    before = total(node, manager, "store_total", store_id=store_id)
    assert call(node, "stores.close", token=manager, store_id=store_id)["store"]["open"] is False
    refused = error(node, "sales.record", token=seller, sale_id=str(uuid.uuid4()), store_id=store_id, amount="1.00")
    assert reason(refused) == (1011, "inactive") and refused.data["field"] == "store_id"
    retry = record(node, seller, store_id, "5.00", sale_id=earlier["sale_id"])
    assert retry["duplicate"] is True
    assert total(node, manager, "store_total", store_id=store_id) == before
    assert [s["open"] for s in call(node, "stores.list")["stores"] if s["id"] == store_id] == [False]
    call(node, "stores.reopen", token=manager, store_id=store_id)
    assert record(node, seller, store_id, "1.00")["duplicate"] is False


# -- people -----------------------------------------------------------------------------------------------------

def test_users_list_shows_everyone_by_name_with_role_and_active(node, manager):
    everyone = call(node, "users.list", token=manager)["users"]
    assert [u["name"] for u in everyone] == sorted(u["name"] for u in everyone) and len(everyone) == 5
    assert {u["role"] for u in call(node, "users.list", token=manager, role="seller")["users"]} == {"seller"}
    assert all(set(u) >= {"id", "name", "cpf", "role", "active"} and u["active"] for u in everyone)


def test_a_deactivated_seller_cannot_sign_in_and_their_tokens_are_refused_but_their_sales_stay(node, manager):
    seller_token = login(node, DEMO_SELLER_CPF)
    seller = call(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)["user"]
    before = total(node, manager, "seller_total", seller_id=seller["id"])
    assert call(node, "users.deactivate", token=manager, user_id=seller["id"])["user"]["active"] is False
    assert reason(error(node, "sales.mine", token=seller_token)) == (1001, "unauthenticated")
    assert reason(error(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)) == (1011, "inactive")
    assert reason(error(node, "auth.login", cpf=DEMO_SELLER_CPF, pin="0000")) == (1003, "bad_credentials")  # no hint to guessers
    assert total(node, manager, "seller_total", seller_id=seller["id"]) == before
    call(node, "users.reactivate", token=manager, user_id=seller["id"])
    assert reason(error(node, "sales.mine", token=seller_token))[0] == 1001  # the old token stays refused
    assert "sales" in call(node, "sales.mine", token=login(node, DEMO_SELLER_CPF))


def test_a_manager_cannot_deactivate_themself_and_managers_without_a_pin_do_not_count(node, manager):
    """Someone must always be able to run the chain: never oneself; a manager imported without a PIN cannot sign in."""
    me = call(node, "auth.login", cpf=DEMO_MANAGER_CPF, pin=DEMO_PIN)["user"]
    call(node, "users.import", token=manager, rows=[{"cpf": NEW_CPF, "name": "Gerente Sem PIN", "birth_year": 1980, "role": "gerente"}])
    assert reason(error(node, "users.deactivate", token=manager, user_id=me["id"])) == (1002, "own_account")
    other = call(node, "users.create", token=manager, cpf=cpf(7), name="Gerente Dois", birth_year=1980, pin="2580", role="manager")
    second = login(node, cpf(7), "2580")
    assert call(node, "users.deactivate", token=second, user_id=me["id"])["user"]["active"] is False
    assert reason(error(node, "users.deactivate", token=second, user_id=other["user"]["id"])) == (1002, "own_account")
    assert [u["active"] for u in call(node, "users.list", token=second, role="manager")["users"] if u["id"] == me["id"]] == [False]


def test_a_pin_reset_refuses_older_tokens_and_a_token_signed_just_after_works(node, manager, clock):
    """Revocation compares credential versions, not times: tokens signed in the same second before and after differ."""
    seller = call(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)
    before = seller["token"]
    call(node, "users.reset_pin", token=manager, user_id=seller["user"]["id"], pin="2580")
    after = login(node, DEMO_SELLER_CPF, "2580")  # same instant on the fake clock
    assert reason(error(node, "sales.mine", token=before)) == (1001, "unauthenticated")
    assert "sales" in call(node, "sales.mine", token=after)
    assert reason(error(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)) == (1003, "bad_credentials")


def test_changing_ones_own_pin_answers_a_new_token_and_refuses_the_old_one(node):
    old = login(node, DEMO_SELLER_CPF)
    wrong = error(node, "auth.change_pin", token=old, old_pin="0000", new_pin="2580")
    assert reason(wrong) == (1003, "bad_credentials")
    weak = error(node, "auth.change_pin", token=old, old_pin=DEMO_PIN, new_pin="4321")
    assert weak.code == -32602 and weak.data == {"field": "new_pin", "reason": "weak_pin"}
    new = call(node, "auth.change_pin", token=old, old_pin=DEMO_PIN, new_pin="2580")["token"]
    assert reason(error(node, "sales.mine", token=old))[0] == 1001
    assert "sales" in call(node, "sales.mine", token=new)
    assert login(node, DEMO_SELLER_CPF, "2580")


@pytest.mark.parametrize("pin", ["1111", "0000", "1234", "4321", "0123", "98765"])
def test_weak_pins_are_refused_for_new_pins(node, manager, pin):
    refused = error(node, "auth.register", cpf=NEW_CPF, name="Nova Pessoa", birth_year=1990, pin=pin)
    assert refused.code == -32602 and refused.data["reason"] == "weak_pin"
    assert error(node, "users.create", token=manager, cpf=NEW_CPF, name="Nova", birth_year=1990, pin=pin,
                 role="seller").data["reason"] == "weak_pin"


def test_a_seller_assigned_to_stores_sells_only_there(node, manager):
    stores = stores_by_name(node)
    seller = call(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)["user"]
    mine = [stores["Lojas Martins 1"], stores["Atakadão Norte"]]
    assigned = call(node, "users.assign_stores", token=manager, user_id=seller["id"], store_ids=mine)["user"]
    assert assigned["store_ids"] == sorted(mine)
    token = call(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)
    assert token["user"]["store_ids"] == sorted(mine)
    record(node, token["token"], mine[0], "3.00")
    refused = error(node, "sales.record", token=token["token"], sale_id=str(uuid.uuid4()), store_id=stores["Lojas Martins 2"],
                    amount="3.00")
    assert reason(refused) == (1002, "forbidden") and refused.data["field"] == "store_id"
    unknown = error(node, "users.assign_stores", token=manager, user_id=seller["id"], store_ids=[str(uuid.uuid4())])
    assert reason(unknown) == (1006, "not_found")
    call(node, "users.assign_stores", token=manager, user_id=seller["id"], store_ids=[])
    record(node, token["token"], stores["Lojas Martins 2"], "3.00")  # [] = any store; the token was not revoked


def test_max_sale_amount_and_self_registration_are_settings(tmp_path, clock):
    node = make_node(tmp_path, clock, MAX_SALE_AMOUNT="500.00", SELF_REGISTRATION="off")
    try:
        seller = login(node, DEMO_SELLER_CPF)
        store_id = next(iter(stores_by_name(node).values()))
        too_much = error(node, "sales.record", token=seller, sale_id=str(uuid.uuid4()), store_id=store_id, amount="500.01")
        assert too_much.code == -32602 and too_much.data["field"] == "amount"
        assert record(node, seller, store_id, "500.00")["duplicate"] is False
        closed = error(node, "auth.register", cpf=NEW_CPF, name="Nova Pessoa", birth_year=1990, pin="2580")
        assert closed.code == 1002
    finally:
        node.stop()


# -- voids --------------------------------------------------------------------------------------------------------

def test_a_seller_voids_their_own_sale_within_the_window_and_it_leaves_every_total(node, manager, clock):
    seller = login(node, DEMO_SELLER_CPF)
    store_id = stores_by_name(node)["Lojas Martins 2"]
    sale = record(node, seller, store_id, "1000.00")["sale"]
    seller_id = sale["seller_id"]
    with_it = (total(node, manager, "seller_total", seller_id=seller_id), total(node, manager, "store_total", store_id=store_id),
               call(node, "sales.mine", token=seller)["total"])
    clock.advance(29 * 60)
    voided = call(node, "sales.void", token=seller, sale_id=sale["sale_id"], reason="valor digitado errado")
    assert voided["duplicate"] is False and voided["void"]["sale"] == sale and voided["void"]["reason"] == "valor digitado errado"
    assert voided["void"]["voided_by"] == {"id": seller_id, "name": "João de Alencar"}
    without = (total(node, manager, "seller_total", seller_id=seller_id), total(node, manager, "store_total", store_id=store_id),
               call(node, "sales.mine", token=seller)["total"])
    assert without[0] == (f"{float(with_it[0][0]) - 1000:.2f}", with_it[0][1] - 1)
    assert without[1][1] == with_it[1][1] - 1
    assert sale["sale_id"] not in [s["sale_id"] for s in call(node, "sales.mine", token=seller)["sales"]]
    again = call(node, "sales.void", token=manager, sale_id=sale["sale_id"], reason="outro motivo")
    assert again["duplicate"] is True and again["void"]["reason"] == "valor digitado errado"
    retried = record(node, seller, store_id, "1000.00", sale_id=sale["sale_id"])
    assert retried["duplicate"] is True and retried["voided"] is True
    assert total(node, manager, "seller_total", seller_id=seller_id) == without[0]
    audit = call(node, "reports.voids", token=manager, **{"from": TODAY.isoformat(), "to": TODAY.isoformat()})["voids"]
    assert [v["sale"]["sale_id"] for v in audit] == [sale["sale_id"]]
    assert call(node, "reports.voids", token=manager, **{"from": (TODAY + dt.timedelta(days=1)).isoformat()})["voids"] == []


def test_a_seller_may_not_void_late_or_anothers_sale_and_a_manager_may_void_any(node, manager, clock):
    seller = login(node, DEMO_SELLER_CPF)
    other = login(node, DEMO_SELLER2_CPF)
    store_id = stores_by_name(node)["Lojas Martins 2"]
    sale = record(node, seller, store_id, "20.00")["sale"]
    not_theirs = error(node, "sales.void", token=other, sale_id=sale["sale_id"], reason="engano")
    assert reason(not_theirs) == (1002, "not_your_sale")
    clock.advance(30 * 60 + 1)
    late = error(node, "sales.void", token=seller, sale_id=sale["sale_id"], reason="engano")
    assert reason(late) == (1002, "void_window_passed")
    assert reason(error(node, "sales.void", token=seller, sale_id=str(uuid.uuid4()), reason="engano")) == (1006, "not_found")
    short = error(node, "sales.void", token=seller, sale_id=sale["sale_id"], reason="x")
    assert short.code == -32602 and short.data["field"] == "reason"
    assert call(node, "sales.void", token=manager, sale_id=sale["sale_id"], reason="pedido do cliente")["duplicate"] is False


def test_a_voided_sale_leaves_the_rankings(node, manager):
    seller = login(node, DEMO_SELLER_CPF)
    store_id = stores_by_name(node)["Lojas Martins 2"]
    big = record(node, seller, store_id, "900000.00")["sale"]
    top = call(node, "reports.best_store", token=manager, limit=1)["ranking"][0]
    assert top["store"]["id"] == store_id
    call(node, "sales.void", token=seller, sale_id=big["sale_id"], reason="valor errado")
    top = call(node, "reports.best_store", token=manager, limit=1)["ranking"][0]
    assert top["store"]["id"] != store_id or float(top["total"]) < 900000


# -- imports ------------------------------------------------------------------------------------------------------

def test_stores_import_creates_networks_as_needed_and_is_idempotent(node, manager):
    rows = [{"network": "REDE IMPORTADA", "name": f"Loja {n}", "cnpj": cnpj(n)} for n in range(20)]
    rows += [{"network": "rede importada", "name": "Loja X", "cnpj": "123"}, {"network": "MAX ATACADO", "name": "Loja Y", "cnpj": cnpj(99)}]
    first = call(node, "stores.import", token=manager, rows=rows)["results"]
    assert [r["status"] for r in first] == ["created"] * 20 + ["refused", "created"]
    assert first[20]["field"] == "cnpj"
    networks = [n["name"] for n in call(node, "networks.list")["networks"]]
    assert networks.count("REDE IMPORTADA") == 1 and len(networks) == 4
    second = call(node, "stores.import", token=manager, rows=rows)["results"]
    assert [r["status"] for r in second] == ["exists"] * 20 + ["refused", "exists"]
    assert len(call(node, "stores.list")["stores"]) == 6 + 21


def test_users_import_hashes_only_given_pins_and_a_user_without_a_pin_cannot_sign_in(node, manager):
    rows = [{"cpf": cpf(n), "name": f"Pessoa {n:04d}", "birth_year": 1990, "role": "vendedor"} for n in range(200)]
    rows[0]["pin"] = "2580"
    rows[1]["role"] = "gerente"
    rows += [{"cpf": DEMO_SELLER_CPF, "name": "Já Existe", "birth_year": 1990, "role": "seller"},
             {"cpf": cpf(500), "name": "Fraco", "birth_year": 1990, "role": "seller", "pin": "1111"},
             {"cpf": cpf(501), "name": "Sem Perfil", "birth_year": 1990, "role": "caixa"}]
    results = call(node, "users.import", token=manager, rows=rows)["results"]
    assert [r["status"] for r in results] == ["created"] * 200 + ["exists", "refused", "refused"]
    assert (results[201]["field"], results[201]["reason"]) == ("pin", "weak_pin") and results[202]["field"] == "role"
    assert login(node, cpf(0), "2580")
    no_pin = error(node, "auth.login", cpf=cpf(2), pin="2580")
    assert reason(no_pin) == (1003, "bad_credentials") and no_pin.data["pin_not_set"] is True
    people = {u["cpf"]: u for u in call(node, "users.list", token=manager)["users"]}
    assert people[cpf(1)]["role"] == "manager" and people[cpf(2)]["has_pin"] is False
    call(node, "users.reset_pin", token=manager, user_id=people[cpf(2)]["id"], pin="2580")
    assert login(node, cpf(2), "2580")
    again = call(node, "users.import", token=manager, rows=rows)["results"]
    assert [r["status"] for r in again] == ["exists"] * 201 + ["refused", "refused"]


def test_an_import_over_the_row_limit_or_by_a_seller_is_refused(node, manager):
    too_many = error(node, "stores.import", token=manager, rows=[{"network": "R", "name": "L", "cnpj": cnpj(1)}] * 1001)
    assert too_many.code == -32602 and too_many.data["field"] == "rows"
    assert error(node, "users.import", token=login(node, DEMO_SELLER_CPF), rows=[{}]).code == 1002


# -- regressions found by review ----------------------------------------------------------------------------------

@pytest.mark.parametrize("change", ["reset", "change_pin"])
def test_a_pin_change_refuses_older_tokens_even_after_the_clock_stepped_back(node, manager, clock, change):
    """The credential version moves on every PIN change, even when the active flag's version is ahead of the clock."""
    seller_id = call(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)["user"]["id"]
    clock.advance(600)
    call(node, "users.deactivate", token=manager, user_id=seller_id)
    call(node, "users.reactivate", token=manager, user_id=seller_id)
    stolen = login(node, DEMO_SELLER_CPF)
    clock.advance(-590)  # NTP steps the clock back
    if change == "reset":
        call(node, "users.reset_pin", token=login(node, DEMO_MANAGER_CPF), user_id=seller_id, pin="4826")
    else:
        call(node, "auth.change_pin", token=login(node, DEMO_SELLER_CPF), old_pin=DEMO_PIN, new_pin="4826")
    refused = error(node, "sales.mine", token=stolen)
    assert reason(refused) == (1001, "unauthenticated") and refused.data["detail"] == "credentials_changed"


def test_1001_says_why_a_token_is_refused(node, manager, clock):
    seller = call(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)
    call(node, "users.deactivate", token=manager, user_id=seller["user"]["id"])
    assert error(node, "sales.mine", token=seller["token"]).data["detail"] == "account_deactivated"
    clock.advance(13 * 3600)
    assert error(node, "reports.voids", token=manager).data["detail"] == "expired"


def test_rankings_leave_out_stores_and_sellers_whose_every_sale_was_voided(node, manager):
    seller = login(node, DEMO_SELLER_CPF)
    network = call(node, "networks.create", token=manager, name="REDE VAZIA")["network"]
    store = call(node, "stores.create", token=manager, name="Loja Vazia", cnpj=NEW_CNPJ, network_id=network["id"])["store"]
    sale = record(node, seller, store["id"], "5.00")["sale"]
    call(node, "sales.void", token=manager, sale_id=sale["sale_id"], reason="teste")
    ranking = call(node, "reports.best_store", token=manager, limit=100)["ranking"]
    assert store["id"] not in [r["store"]["id"] for r in ranking] and all(r["count"] > 0 for r in ranking)


def test_voids_report_with_far_dates_answers_instead_of_failing(node, manager):
    for params in ({"to": "9999-12-31"}, {"from": "0001-01-01"}, {"from": "0999-01-01", "to": "9999-12-31"}):
        assert call(node, "reports.voids", token=manager, **params)["voids"] == []


def test_a_store_update_without_changes_is_refused(node, manager):
    store_id = next(iter(stores_by_name(node).values()))
    refused = error(node, "stores.update", token=manager, store_id=store_id)
    assert refused.code == -32602


def test_a_renamed_networks_old_name_can_be_used_again_and_names_compare_beyond_ascii(node, manager):
    alfa = call(node, "networks.create", token=manager, name="Rede Ômega")["network"]
    assert error(node, "networks.create", token=manager, name="rede ômega").data["field"] == "name"
    call(node, "networks.rename", token=manager, network_id=alfa["id"], name="Rede Beta")
    again = call(node, "networks.create", token=manager, name="Rede Ômega")["network"]
    assert again["id"] != alfa["id"] and again["name"] == "Rede Ômega"
    imported = call(node, "stores.import", token=manager, rows=[{"network": "REDE ÔMEGA", "name": "Loja Ô", "cnpj": cnpj(5)}])
    assert imported["results"][0]["status"] == "created" and imported["results"][0]["store"]["network"]["id"] == again["id"]


def test_a_sale_whose_void_came_first_is_answered_as_voided_and_counts_nowhere(node, manager):
    """A void can reach a node before its sale (from a peer): the sale, when recorded, says so."""
    seller = login(node, DEMO_SELLER_CPF)
    store_id = stores_by_name(node)["Lojas Martins 1"]
    before = total(node, manager, "store_total", store_id=store_id)
    sale_id = str(uuid.uuid4())
    voider = call(node, "auth.login", cpf=DEMO_MANAGER_CPF, pin=DEMO_PIN)["user"]["id"]
    void = {"origin": [9, "a", 1, 1], "kind": "void", "data": {
        "id": sale_id, "voided_by": voider, "reason": "anulada em outro nó", "voided_at": "2026-11-26T15:00:00.000000Z",
        "version": "001800000000000.00009.0000000001.000000000001"}}
    node.database.write(functools.partial(apply_entries, entries=[void], merged_at="2026-11-26T15:00:00.000000Z"))
    answer = record(node, seller, store_id, "50.00", sale_id=sale_id)
    assert answer["duplicate"] is False and answer["voided"] is True
    assert total(node, manager, "store_total", store_id=store_id) == before


def test_auth_me_and_sales_get(node, manager):
    """auth.me gives the caller as they are now; sales.get shows a sale by its code, and its void once voided."""
    seller = login(node, DEMO_SELLER_CPF)
    stores = stores_by_name(node)
    me = call(node, "auth.me", token=seller)["user"]
    call(node, "users.assign_stores", token=manager, user_id=me["id"], store_ids=[stores["Lojas Martins 1"]])
    assert call(node, "auth.me", token=seller)["user"]["store_ids"] == [stores["Lojas Martins 1"]]
    sale = record(node, seller, stores["Lojas Martins 1"], "8.00")["sale"]
    assert call(node, "sales.get", token=manager, sale_id=sale["sale_id"]) == {"sale": sale, "voided": False}
    call(node, "sales.void", token=seller, sale_id=sale["sale_id"], reason="engano")
    found = call(node, "sales.get", token=manager, sale_id=sale["sale_id"])
    assert found["voided"] is True and found["void"]["reason"] == "engano"
    assert reason(error(node, "sales.get", token=manager, sale_id=str(uuid.uuid4()))) == (1006, "not_found")
    assert error(node, "sales.get", token=seller, sale_id=sale["sale_id"]).code == 1002
