"""The administration script commands against a real node: what each one changed is read back from the server
(`stores`/`users --format json`, or the API), not only from what was printed."""

import csv
import io
import json
import re

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER2_CPF, DEMO_SELLER_CPF, free_port, run_client

from client.commands import CommandError, find_network, find_person, find_store
from client.connection import RemoteError
from models.documents import format_cnpj, format_cpf

MANAGER = {"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN}
SELLER = {"ONSELL_CPF": DEMO_SELLER_CPF, "ONSELL_PIN": DEMO_PIN}
NEW_CNPJ = "45723174000110"


def client(server, *args: str, env: dict | None = None, stdin: str = ""):
    """Run one command as the demo manager (env overrides), without a traceback whatever happens."""
    done = run_client(list(args), server.port, stdin, env={**MANAGER, **(env or {})})
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def ok(server, *args: str, **kwargs) -> str:
    done = client(server, *args, **kwargs)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def listed(server, what: str, *args: str) -> list[dict]:
    return json.loads(ok(server, what, *args, "--format", "json"))[what]


def store_by_cnpj(server, cnpj: str) -> dict:
    return next(s for s in listed(server, "stores") if s["cnpj"] == cnpj)


def person(server, cpf: str) -> dict:
    return next(u for u in listed(server, "users") if u["cpf"] == cpf)


def test_networks_and_stores_are_created_renamed_moved_closed_and_reopened(fresh_server):
    server = fresh_server()
    assert ok(server, "network", "create", "Rede Nova").startswith("Rede criada: Rede Nova (id ")
    taken = client(server, "network", "create", "rede nova")
    assert taken.returncode == 1 and "Já existe uma rede com este nome." in taken.stderr
    assert ok(server, "network", "rename", "REDE NOVA", "Rede Renomeada").startswith("Rede renomeada: Rede Nova → Rede Renomeada")
    networks = {n["name"]: n["id"] for n in listed(server, "networks")}
    assert "Rede Renomeada" in networks and "Rede Nova" not in networks

    ok(server, "store", "create", "--name", "Loja Nova", "--cnpj", format_cnpj(NEW_CNPJ), "--network", "rede renomeada")
    store = store_by_cnpj(server, NEW_CNPJ)
    assert (store["name"], store["network"]["name"], store["open"]) == ("Loja Nova", "Rede Renomeada", True)
    again = client(server, "store", "create", "--name", "Outra", "--cnpj", NEW_CNPJ, "--network", networks["MAX ATACADO"])
    assert again.returncode == 1 and "Já existe uma loja com este CNPJ." in again.stderr
    bad = client(server, "store", "create", "--name", "Outra", "--cnpj", "45723174000111", "--network", "MAX ATACADO")
    assert bad.returncode == 2 and "CNPJ inválido" in bad.stderr

    moved = ok(server, "store", "update", NEW_CNPJ, "--name", "Loja Movida", "--network", "max atacado")
    assert "agora contam na rede MAX ATACADO" in moved
    store = store_by_cnpj(server, NEW_CNPJ)
    assert (store["name"], store["network"]["id"]) == ("Loja Movida", networks["MAX ATACADO"])
    nothing = client(server, "store", "update", NEW_CNPJ)
    assert nothing.returncode == 2 and "informe --name, --network" in nothing.stderr

    assert ok(server, "store", "close", store["id"]).startswith("Loja fechada: Loja Movida")
    assert store_by_cnpj(server, NEW_CNPJ)["open"] is False
    assert ok(server, "store", "close", NEW_CNPJ).startswith("A loja já estava fechada: Loja Movida")
    assert store_by_cnpj(server, NEW_CNPJ)["open"] is False
    table = ok(server, "stores")
    assert "aberta" in table.splitlines()[0] and any("Loja Movida" in line and line.rstrip().endswith("não") for line in table.splitlines())
    refused = client(server, "sale", "--store", NEW_CNPJ, "--amount", "5", env=SELLER)
    assert refused.returncode == 1 and "fechada" in refused.stderr
    assert ok(server, "store", "reopen", format_cnpj(NEW_CNPJ)).startswith("Loja reaberta: Loja Movida")
    assert store_by_cnpj(server, NEW_CNPJ)["open"] is True
    assert ok(server, "store", "reopen", NEW_CNPJ).startswith("A loja já estava aberta: Loja Movida")
    ok(server, "sale", "--store", NEW_CNPJ, "--amount", "5", env=SELLER)
    rows = list(csv.DictReader(io.StringIO(ok(server, "stores", "--format", "csv"))))
    assert {r["aberta"] for r in rows} == {"sim"} and len(rows) == 7
    missing = client(server, "store", "close", "00.000.000/0001-91")
    assert missing.returncode == 1 and "loja não encontrada" in missing.stderr


def test_people_are_listed_deactivated_reactivated_given_a_pin_and_stores(fresh_server):
    server = fresh_server()
    everyone = listed(server, "users")
    assert len(everyone) == 5 and all(u["active"] for u in everyone)
    sellers = list(csv.DictReader(io.StringIO(ok(server, "users", "--role", "vendedor", "--format", "csv"))))
    assert len(sellers) == 4 and set(sellers[0]) == {"id", "nome", "cpf", "perfil", "ativo", "pin", "lojas"}
    assert {r["perfil"] for r in sellers} == {"vendedor"} and {r["ativo"] for r in sellers} == {"sim"}

    ok(server, "user", "deactivate", format_cpf(DEMO_SELLER_CPF))
    assert person(server, DEMO_SELLER_CPF)["active"] is False
    locked_out = client(server, "sale", "--store", "11223444000102", "--amount", "1", env=SELLER)
    assert locked_out.returncode == 1 and "desativada" in locked_out.stderr
    ok(server, "user", "reactivate", person(server, DEMO_SELLER_CPF)["id"])
    assert person(server, DEMO_SELLER_CPF)["active"] is True

    myself = client(server, "user", "deactivate", DEMO_MANAGER_CPF)
    assert myself.returncode == 1 and "Você não pode desativar a sua própria conta" in myself.stderr
    assert person(server, DEMO_MANAGER_CPF)["active"] is True

    ok(server, "user", "reset-pin", DEMO_SELLER_CPF, env={"ONSELL_NEW_PIN": "2580"})
    assert api_for(server).login(DEMO_SELLER_CPF, "2580")["cpf"] == DEMO_SELLER_CPF
    weak = client(server, "user", "reset-pin", DEMO_SELLER_CPF, env={"ONSELL_NEW_PIN": "4321"})
    assert weak.returncode == 1 and "PIN fraco" in weak.stderr
    asked = client(server, "user", "reset-pin", DEMO_SELLER2_CPF, stdin="1111\n3690\n3691\n3690\n3690\n")  # weak, then differing
    assert asked.returncode == 0, asked.stderr
    assert "PIN fraco" in asked.stderr and "Os PINs não conferem." in asked.stderr
    assert api_for(server).login(DEMO_SELLER2_CPF, "3690")["cpf"] == DEMO_SELLER2_CPF

    stores = {s["cnpj"]: s for s in listed(server, "stores")}
    chosen = sorted(stores)[:2]
    seller_pin = {**SELLER, "ONSELL_PIN": "2580"}
    ok(server, "user", "assign-stores", DEMO_SELLER_CPF, format_cnpj(chosen[0]), stores[chosen[1]]["id"])
    assert sorted(person(server, DEMO_SELLER_CPF)["store_ids"]) == sorted(stores[c]["id"] for c in chosen)
    elsewhere = next(c for c in stores if c not in chosen)
    outside = client(server, "sale", "--store", elsewhere, "--amount", "1", env=seller_pin)
    assert outside.returncode == 1 and "não está autorizado a vender nesta loja" in outside.stderr
    ok(server, "sale", "--store", chosen[0], "--amount", "1", env=seller_pin)
    assert "qualquer loja" in ok(server, "user", "assign-stores", DEMO_SELLER_CPF)
    assert person(server, DEMO_SELLER_CPF)["store_ids"] == []
    ok(server, "sale", "--store", elsewhere, "--amount", "1", env=seller_pin)

    unknown = client(server, "user", "reactivate", "529.982.247-25")
    assert unknown.returncode == 1 and "pessoa não encontrada: 529.982.247-25" in unknown.stderr
    as_seller = client(server, "users", env=seller_pin)
    assert as_seller.returncode == 1 and "permissão" in as_seller.stderr


def test_a_sale_is_voided_by_its_seller_and_shows_in_the_voids_report(fresh_server):
    server = fresh_server()
    store = store_by_cnpj(server, "11223444000102")
    sale = ok(server, "sale", "--store", store["cnpj"], "--amount", "12,34", env=SELLER)
    sale_id = sale.strip().rsplit("código ", 1)[1].rstrip(")")
    manager = api_for(server)
    manager.login(DEMO_MANAGER_CPF, DEMO_PIN)
    before = manager.report("store_total", store_id=store["id"])

    other = client(server, "void", sale_id, "--reason", "não é minha", env={"ONSELL_CPF": DEMO_SELLER2_CPF})
    assert other.returncode == 1 and "suas próprias vendas" in other.stderr
    done = ok(server, "void", sale_id, "--reason", "cliente desistiu", env=SELLER)
    assert done.startswith(f"Venda cancelada: R$ 12,34 em {store['name']}")
    assert "(já estava cancelada)" in ok(server, "void", sale_id, "--reason", "de novo")
    resent = ok(server, "sale", "--store", store["cnpj"], "--amount", "12,34", "--sale-id", sale_id, env=SELLER)
    assert "já estava registrada e foi cancelada" in resent
    after = manager.report("store_total", store_id=store["id"])
    assert (after["count"], int(before["total"].replace(".", "")) - int(after["total"].replace(".", ""))) == (before["count"] - 1, 1234)

    voids = json.loads(ok(server, "report", "voids", "--format", "json"))["voids"]
    assert [(v["sale"]["sale_id"], v["reason"], v["voided_by"]["name"]) for v in voids] == \
        [(sale_id, "cliente desistiu", "João de Alencar")]
    rows = list(csv.DictReader(io.StringIO(ok(server, "report", "voids", "--format", "csv", "--from", "2020-01-01"))))
    assert rows[0]["venda"] == sale_id and rows[0]["valor"] == "12.34" and rows[0]["loja"] == store["name"]
    joao = person(server, DEMO_SELLER_CPF)
    assert (rows[0]["vendedor"], rows[0]["vendedor_id"]) == ("João de Alencar", joao["id"])
    table = ok(server, "report", "voids").splitlines()
    assert re.split(r"\s{2,}", table[0])[:3] == ["Cancelada em", "Data da venda", "Vendedor(a)"]
    assert "João de Alencar" in table[2] and "cliente desistiu" in table[2] and store["name"] in table[2]
    for flag, value in (("--seller", DEMO_SELLER_CPF), ("--store", store["cnpj"]), ("--network", "MAX ATACADO")):
        refused = client(server, "report", "voids", flag, value)
        assert refused.returncode == 2 and f"report voids não aceita {flag}" in refused.stderr and refused.stdout == ""
    assert "Nenhuma venda cancelada" in ok(server, "report", "voids", "--to", "01/01/2020")
    unknown = client(server, "void", "0190a000-0000-7000-8000-000000000000", "--reason", "teste")
    assert unknown.returncode == 1 and "venda" in unknown.stderr.lower()
    assert client(server, "void", "xyz", "--reason", "teste").returncode == 2
    assert client(server, "void", sale_id, "--reason", "x").returncode == 2


def test_sales_lists_a_sellers_own_sales_or_for_a_manager_one_sellers_by_cpf(fresh_server):
    """`sales` finds a sale's code: the seller's own today; a manager's view of a seller by CPF, the same sales."""
    server = fresh_server()
    recorded = ok(server, "sale", "--store", "11223444000102", "--amount", "7,50", env=SELLER)
    sale_id = recorded.strip().rsplit("código ", 1)[1].rstrip(")")
    mine = json.loads(ok(server, "sales", "--format", "json", env=SELLER))
    assert [s["sale_id"] for s in mine["sales"]] == [sale_id] and mine["total"] == "7.50"
    theirs = json.loads(ok(server, "sales", "--seller", format_cpf(DEMO_SELLER_CPF), "--format", "json"))
    assert theirs == mine
    assert sale_id in ok(server, "sales", "--seller", DEMO_SELLER_CPF)
    since_yesterday = json.loads(ok(server, "sales", "--seller", DEMO_SELLER_CPF, "--from", "2000-01-01", "--format", "json"))
    assert sale_id in [s["sale_id"] for s in since_yesterday["sales"]]  # --from alone runs to today
    total = json.loads(ok(server, "report", "seller-total", "--seller", format_cpf(DEMO_SELLER_CPF), "--format", "json"))
    assert total["seller"]["name"] == "João de Alencar" and total["count"] == since_yesterday["count"]
    missing = client(server, "sales")
    assert missing.returncode == 2 and "--seller" in missing.stderr
    assert client(server, "sales", "--seller", DEMO_SELLER_CPF, env=SELLER).returncode == 1


def test_change_pin_takes_the_new_pin_from_the_environment_or_asks_twice(fresh_server):
    server = fresh_server()
    assert ok(server, "change-pin", env={**SELLER, "ONSELL_NEW_PIN": "2580"}).startswith("PIN alterado.")
    try:
        api_for(server).login(DEMO_SELLER_CPF, DEMO_PIN)
        raise AssertionError("the old PIN still signs in")
    except RemoteError as exc:
        assert exc.reason == "bad_credentials"
    asked = client(server, "change-pin", env={**SELLER, "ONSELL_PIN": "2580"}, stdin="3690\n3691\n3690\n3690\n")
    assert asked.returncode == 0 and "Os PINs não conferem." in asked.stderr
    assert api_for(server).login(DEMO_SELLER_CPF, "3690")["cpf"] == DEMO_SELLER_CPF
    closed = client(server, "change-pin", env={**SELLER, "ONSELL_PIN": "3690"}, stdin="")
    assert closed.returncode == 1 and "entrada encerrada" in closed.stderr


def test_exit_statuses_of_the_administration_commands(fresh_server):
    quick = {"CLIENT_FAILOVER_TIMEOUT_MS": "300"}
    nobody = run_client(["network", "create", "Rede X"], free_port(), env={**MANAGER, **quick})
    assert nobody.returncode == 3 and "não foi possível falar com o servidor" in nobody.stderr
    server = fresh_server()
    for args in (["network"], ["store", "frob", "x"], ["user", "deactivate"], ["users", "--role", "chefe"], ["import", "lojas", "x.csv"]):
        done = client(server, *args)
        assert done.returncode == 2 and "erro:" in done.stderr, args
    forbidden = client(server, "network", "create", "Rede X", env=SELLER)
    assert forbidden.returncode == 1 and "permissão" in forbidden.stderr
    assert "Rede X" not in {n["name"] for n in listed(server, "networks")}


class _Catalogue:
    """An Api stand-in that only lists networks and stores."""

    def networks(self) -> list[dict]:
        return [{"id": "n1", "name": "ATACADÃO"}, {"id": "n2", "name": "São João"}, {"id": "n3", "name": "Sao Joao"}]

    def stores(self) -> list[dict]:
        return [{"id": "s1", "name": "Loja Maringá", "cnpj": "11222333000181"}]

    def users(self) -> list[dict]:
        return [{"id": "u1", "name": "João de Alencar", "cpf": "12345678909"}, {"id": "u2", "name": "Maria", "cpf": "52998224725"},
                {"id": "u3", "name": "Mariá", "cpf": "11144477735"}]


def test_names_on_the_command_line_are_found_without_their_accents_as_the_menus_find_them():
    """`--network ATACADAO` finds ATACADÃO, `--store "loja maringa"` Loja Maringá, `--seller "joao de alencar"` João; a
    name written exactly wins over one that matches only without accents, and two that match only so are refused as
    ambiguous."""
    catalogue = _Catalogue()
    assert find_network(catalogue, "atacadao")["id"] == "n1"
    assert find_store(catalogue, "loja  maringa")["id"] == "s1"
    assert find_network(catalogue, "sao joao")["id"] == "n3"
    with pytest.raises(CommandError, match="há 2 redes chamadas"):
        find_network(catalogue, "SÃO JOAO")
    assert find_person(catalogue, "joao de alencar")["id"] == "u1" and find_person(catalogue, "Maria")["id"] == "u2"
    with pytest.raises(CommandError, match="há 2 pessoas chamadas"):
        find_person(catalogue, "maría")
