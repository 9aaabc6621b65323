"""Menus at chain scale and sessions that outlive a manager's change (client/pickers.py, client/controllers.py).

The pure tests drive the pickers and the seller's sale with stand-ins; the others import docs/samples (5,000 people,
500 stores) into a real node once for the module, then drive `python -m client` as a manager and as a seller, and read
back from the server what each action changed.
"""

import io
import re
import shutil

import pytest
from conftest import api_for
from support import (
    DEMO_MANAGER_CPF,
    DEMO_PIN,
    DEMO_SELLER2_CPF,
    DEMO_SELLER_CPF,
    ROOT,
    ServerProcess,
    queued_sale_ids,
    run_client,
)
from test_client_admin import STORES, Screen, StandInApi, answer, find, interactive, lines, manager, remote, screen_of, sign_in

from client import views
from client.console import Console
from client.controllers import SignedOut
from client.pickers import LIST_LIMIT, MATCHES_SHOWN, PERSON, STORE, pick
from client.sale_queue import SaleQueue
from models.documents import format_cpf
from models.names import fold
from runtime.clock import FakeClock

SAMPLES = ROOT / "docs" / "samples"


def person(n: int, name: str, cpf: str, role: str = "seller", active: bool = True) -> dict:
    return {"id": f"u{n}", "name": name, "cpf": cpf, "role": role, "active": active, "has_pin": True, "store_ids": []}


# 24 people (more than a screen): two Sônias, one without the accent, and twenty who share a word of their names
PEOPLE = [person(1, "Sônia Costa Freitas", "50144029170"), person(2, "Sonia Costa Martins", "38375999571"),
          person(3, "João de Alencar", DEMO_SELLER_CPF), person(4, "Maria das Dores", DEMO_SELLER2_CPF)] + \
         [person(n, f"Vendedor Genérico {n:02d}", f"9{n:08d}00") for n in range(5, 25)]  # CPFs only shown, never parsed


def picking(items, answers: list[str], kind=PERSON, title="Quem?"):
    console = Console(stdin=io.StringIO(lines(*answers)), stdout=io.StringIO())
    return pick(console, title, items, kind), console.stdout.getvalue()


# -- pure: the pickers ------------------------------------------------------------------------------------------

def test_names_are_compared_without_case_or_accents():
    assert fold("  São  JOÃO d'Ávila ") == "sao joao d'avila" == fold("sao joao D'AVILA")


def test_a_short_list_is_numbered_as_before():
    chosen, out = picking(PEOPLE[:LIST_LIMIT], ["2"])
    assert chosen is PEOPLE[1] and f"  {LIST_LIMIT}) " in out and "CPF ou parte do nome" not in out


def test_a_long_list_asks_for_a_cpf_or_part_of_the_name_and_shows_only_the_matches():
    chosen, out = picking(PEOPLE, ["sonia costa", "2"])
    assert chosen is PEOPLE[1]
    assert "Quem?\nCPF ou parte do nome (Enter para voltar): " in out
    shown = re.findall(r"^  (\d+)\) (.+)$", out, re.MULTILINE)
    assert shown == [("1", "Sônia Costa Freitas (501.440.291-70, vendedor)"), ("2", "Sonia Costa Martins (383.759.995-71, vendedor)"),
                     ("0", "Voltar")]
    assert '2 resultados para "sonia costa" (0 volta à busca):' in out
    words_any_order, _ = picking(PEOPLE, ["FREITAS sônia", "1"])
    assert words_any_order is PEOPLE[0]


@pytest.mark.parametrize("typed", ["501.440.291-70", "50144029170", " 501 440 291 70 "])
def test_a_whole_cpf_masked_or_bare_goes_straight_to_its_person(typed):
    chosen, out = picking(PEOPLE, [typed])
    assert chosen is PEOPLE[0] and ") " not in out  # no list at all


def test_a_search_that_finds_nothing_or_a_cpf_with_wrong_check_digits_is_asked_again():
    chosen, out = picking(PEOPLE, ["501.440.291-71", "529.982.247-25", "xyz", "alencar", "1"])
    assert chosen is PEOPLE[2]
    assert "CPF inválido: os dígitos verificadores não conferem (confira o número digitado)." in out
    assert "O CPF 529.982.247-25 não está entre as opções desta lista." in out
    assert 'Nada encontrado para "xyz". Tente outra parte do nome ou o CPF.' in out


def test_zero_searches_again_and_enter_goes_back_to_the_menu():
    chosen, out = picking(PEOPLE, ["costa", "0", ""])
    assert chosen is None and out.count("CPF ou parte do nome (Enter para voltar): ") == 2
    nothing, _ = picking(PEOPLE, [""])
    assert nothing is None


def test_part_of_a_number_finds_by_document_and_too_many_matches_are_cut_with_a_hint():
    by_digits, _ = picking(PEOPLE, ["440291", "1"])
    assert by_digits is PEOPLE[0]
    chosen, out = picking(PEOPLE, ["genérico", "0", ""])
    assert chosen is None
    assert f'20 resultados para "genérico"; os {MATCHES_SHOWN} primeiros, digite mais do nome para ver outros (0 volta' in out
    assert f"  {MATCHES_SHOWN}) " in out and f"  {MATCHES_SHOWN + 1}) " not in out


def test_stores_are_found_by_cnpj_or_by_their_name_or_their_networks():
    many = [{**STORES[0], "id": f"x{n}", "name": f"Filial {n}", "cnpj": STORES[0]["cnpj"]} for n in range(LIST_LIMIT)] + STORES
    chosen, out = picking(many, ["11.444.777/0001-61"], STORE, "Loja:")
    assert chosen is STORES[1] and "CNPJ ou parte do nome (Enter para voltar): " in out
    wrong, out = picking(many, ["11.444.777/0001-62", ""], STORE)
    assert wrong is None and "CNPJ inválido: os dígitos verificadores não conferem" in out
    by_network, out = picking(many, ["rede fechada", "1"], STORE)
    assert by_network is STORES[2] and "Loja Fechada (REDE, fechada)" in out


# -- pure: the seller's sale when the server says no ------------------------------------------------------------

class RefusingApi(StandInApi):
    """A seller's Api whose server refuses the first sale with `error`, then records."""

    def __init__(self, error, **kwargs):
        super().__init__(**kwargs)
        self.error, self.listed = error, 0

    def stores(self):
        self.listed += 1
        return STORES

    def record_sale(self, sale_id, store_id, cents, sold_on=None):
        if self.error is not None:
            error, self.error = self.error, None
            self.calls.append(("refused", store_id, cents))
            raise error
        return super().record_sale(sale_id, store_id, cents, sold_on)


def test_the_store_list_is_asked_again_before_each_sale():
    api = RefusingApi(None)
    session = interactive(api, ["1", "5", "s", "2", "6", "s"])
    session.record_sale()
    session.record_sale()
    assert api.listed == 2 and api.calls == [("record_sale", "s1", 500), ("record_sale", "s2", 600)]


def test_a_store_no_longer_the_sellers_offers_the_sellers_stores_now_and_keeps_the_amount():
    refusal = remote(1002, "forbidden", field="store_id", store_ids=["s2", "s4"])
    api = RefusingApi(refusal, store_ids=["s1"])
    session = interactive(api, ["1", "12,34", "s", "1", "s"])
    session.record_sale()
    out = screen_of(session)
    assert api.user["store_ids"] == ["s2", "s4"]
    assert "Você não está autorizado a vender nesta loja. A venda não foi registrada." in out
    offered = out.split("Em que loja registrar esta venda?")[1].split("Opção")[0]
    assert re.findall(r"\d\) (.+)", offered) == ["Loja Dois (REDE)", "Loja Antiga (REDE)", "Voltar"]
    assert api.calls == [("refused", "s1", 1234), ("record_sale", "s2", 1234)]
    assert "Venda registrada: R$ 12,34 em Loja Dois" in out


def test_a_closed_store_offers_the_open_ones_and_an_older_servers_refusal_ends_the_sale():
    closed = interactive(RefusingApi(remote(1011, "inactive", field="store_id")), ["2", "5", "s", "0"])
    closed.record_sale()
    assert "Esta loja está fechada e não aceita vendas. A venda não foi registrada." in screen_of(closed)
    assert "Em que loja registrar esta venda?" in screen_of(closed) and closed.api.calls == [("refused", "s2", 500)]
    older = interactive(RefusingApi(remote(1002, "forbidden", field="store_id")), ["1", "5", "s"])
    older.record_sale()
    assert "Em que loja" not in screen_of(older) and older.api.user["store_ids"] == []


@pytest.mark.parametrize("detail, said", [
    ("account_deactivated", "Sua conta foi desativada. Fale com um gerente."),
    ("credentials_changed", "Seu PIN ou seu acesso mudou: entre novamente."),
    ("expired", "Sua sessão expirou. Entre novamente."),
    (None, "Sua sessão expirou. Entre novamente."),
])
def test_a_sale_refused_for_its_token_says_why_and_that_it_was_not_recorded_nor_queued(tmp_path, detail, said):
    queue = SaleQueue(tmp_path / "queue.db", FakeClock())
    error = remote(1001, "unauthenticated", **({"detail": detail} if detail else {}))
    assert views.remote_error(error) == said
    session = interactive(RefusingApi(error), ["1", "7,00", "s"], queue=queue)
    with pytest.raises(SignedOut):
        session.record_sale()
    out = screen_of(session)
    again = "." if detail == "account_deactivated" else ": entre novamente e registre-a de novo."  # no signing in again
    assert f"{said}\nA venda de R$ 7,00 em Loja Um NÃO foi registrada{again}" in out
    assert queue.count() == 0
    queue.close()


def test_enter_goes_back_from_the_amount_and_one_minute_is_singular():
    session = interactive(RefusingApi(None), ["1", ""])
    session.record_sale()
    assert session.api.calls == [] and "Valor da venda (exemplo: 10,50; Enter para voltar): " in screen_of(session)
    short = interactive(StandInApi(void_window_minutes=1), [])
    short.void_my_sale()
    assert "Nenhuma venda sua registrada no último minuto para cancelar." in screen_of(short)


def test_the_cpf_prompt_says_how_to_leave_and_sair_leaves():
    done_at = interactive(StandInApi(), ["123", DEMO_SELLER_CPF, "", "SAIR"])  # Enter at the PIN: another CPF
    assert done_at.run() == 0
    out = screen_of(done_at)
    assert "(Para sair, digite sair ou tecle Ctrl+D.)\nCPF: " in out and "CPF inválido: digite os 11 dígitos" in out
    assert out.count("CPF: ") == 3 and out.count("PIN (Enter para voltar): ") == 1
    assert out.rstrip().endswith("Até logo!")
    wrong = interactive(StandInApi(), ["123.456.789-00"])
    wrong.run()
    assert "CPF inválido: os dígitos verificadores não conferem" in screen_of(wrong)


# -- against a real node holding the samples ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A demo node with docs/samples imported: 5,005 people and 506 stores."""
    folder = tmp_path_factory.mktemp("chain")
    server = ServerProcess(folder / "node").start()
    env = {"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN}
    for kind, name in (("stores", "lojas.csv"), ("users", "usuarios.csv")):
        shutil.copy(SAMPLES / name, folder / name)
        done = run_client(["import", kind, str(folder / name)], server.port, env=env, timeout=180)
        assert done.returncode == 0, done.stderr
    yield server
    server.stop()


def no_long_menu(out: str) -> None:
    numbers = [int(n) for n in re.findall(r"^\s+(\d+)\) ", out, re.MULTILINE)]
    assert max(numbers) <= max(LIST_LIMIT, MATCHES_SHOWN, 12), max(numbers)  # 12: the manager's own menu


def test_a_manager_finds_people_and_stores_among_thousands(chain, tmp_path):
    boss = manager(chain)
    people, stores = boss.users(), boss.stores()
    assert len(people) > 5000 and len(stores) > 500
    screen = Screen(chain, tmp_path)
    sign_in(screen, DEMO_MANAGER_CPF)
    screen.pick("Administração")
    screen.pick("Pessoas")
    # Desativar: part of the name, any case, no accents; only the matches are numbered
    screen.pick("Desativar pessoa")
    answer(screen, "CPF ou parte do nome (Enter para voltar): ", "sonia costa freitas")
    screen.pick("Sônia Costa Freitas (501.440.291-70")
    answer(screen, "(s/n): ", "s")
    screen.expect("Pessoa desativada: Sônia Costa Freitas.")
    # Redefinir PIN: a masked CPF goes straight to the person, who is confirmed before the PIN is asked
    tiago = find(people, cpf="52736737121")
    assert tiago["has_pin"] is False
    screen.pick("Redefinir PIN")
    answer(screen, "CPF ou parte do nome", format_cpf(tiago["cpf"]),
           f"Redefinir o PIN de {tiago['name']} (CPF 527.367.371-21, vendedor)? (s/n): ", "s",
           "Novo PIN", "2580", "Repita o PIN: ", "2580")
    screen.expect(f"PIN de {tiago['name']} redefinido.")
    # Lojas de um vendedor: a bare CPF, then stores one search after another, Enter to finish
    screen.pick("Lojas de um vendedor")
    answer(screen, "CPF ou parte do nome", tiago["cpf"])
    screen.pick("Só nas lojas")
    answer(screen, "Primeira loja:\nCNPJ ou parte do nome (Enter para voltar): ", "superbom leste 1")
    screen.pick("Superbom Leste 1 (")
    answer(screen, "Mais uma loja (1 escolhida até agora):\nCNPJ ou parte do nome (Enter para terminar): ", "81.310.167/0016-37",
           "Mais uma loja (2 escolhidas", "")
    screen.expect(f"Lojas de {tiago['name']}: ")
    assert sorted(screen.expect(".\n").rstrip(".\n").split(", ")) == ["Superbom Leste 1", "Superbom Leste 26"]
    screen.pick("Voltar")
    screen.pick("Lojas")
    screen.pick("Fechar loja")
    answer(screen, "CNPJ ou parte do nome", "62880483001780", "(s/n): ", "s")
    screen.expect("Loja fechada: Superbom Leste 1.")
    screen.pick("Voltar")
    screen.pick("Cancelar venda e relatório")
    screen.pick("Encontrar uma venda")  # sellers.list: thousands too
    answer(screen, "De quem é a venda?\nCPF ou parte do nome", "123.456.789-09", "Dia da venda", "01/01/2020")
    screen.expect("Nenhuma venda de João de Alencar em 01/01/2020.")
    screen.pick("Voltar")
    screen.pick("Voltar")
    # The reports' pickers too: a seller's total by part of the name
    screen.pick("Total de um vendedor")
    answer(screen, "CPF ou parte do nome", "JOAO DE ALENCAR")
    screen.pick("João de Alencar (123.456.789-09)")
    answer(screen, "Data inicial", "", "Data final", "")
    screen.expect("Vendas de João de Alencar em todo o período: R$")
    screen.pick("Total de uma loja")
    answer(screen, "CNPJ ou parte do nome", "81310167001637", "Data inicial", "", "Data final", "")
    screen.expect("Vendas da loja Superbom Leste 26 em todo o período: R$ 0,00 em 0 vendas.")
    out = screen.finish()
    assert "Traceback" not in out and "Escolha um número" not in out
    no_long_menu(out)
    after = {u["cpf"]: u for u in boss.users()}
    assert after["50144029170"]["active"] is False and after["38375999571"]["active"] is True  # only that Sônia
    assert api_for(chain).login(tiago["cpf"], "2580")["name"] == tiago["name"]
    by_cnpj = {s["cnpj"]: s for s in boss.stores()}
    assert sorted(after[tiago["cpf"]]["store_ids"]) == sorted([by_cnpj["62880483001780"]["id"], by_cnpj["81310167001637"]["id"]])
    assert by_cnpj["62880483001780"]["open"] is False


def test_a_seller_who_may_sell_anywhere_finds_the_store_by_name_or_cnpj(chain, tmp_path):
    seller = api_for(chain)
    seller.login(DEMO_SELLER2_CPF, DEMO_PIN)
    before = seller.my_sales(None, None)["count"]
    screen = Screen(chain, tmp_path)
    sign_in(screen, DEMO_SELLER2_CPF)
    screen.pick("Registrar venda")
    answer(screen, "Loja:\nCNPJ ou parte do nome (Enter para voltar): ", "atakadão leste")
    screen.pick("Atakadão Leste (ATAKADAO)")
    answer(screen, "Valor da venda", "15,00", "(s/n): ", "s")
    screen.expect("Venda registrada: R$ 15,00 em Atakadão Leste")
    screen.pick("Registrar venda")
    answer(screen, "CNPJ ou parte do nome", "81.310.167/0016-37", "Valor da venda", "2,50", "(s/n): ", "s")
    screen.expect("Venda registrada: R$ 2,50 em Superbom Leste 26")
    out = screen.finish()
    assert "Traceback" not in out
    no_long_menu(out)
    mine = seller.my_sales(None, None)
    assert mine["count"] == before + 2 and {s["amount"] for s in mine["sales"][:2]} == {"15.00", "2.50"}


def test_creating_a_person_or_a_store_already_there_is_told_as_soon_as_the_number_is_typed(chain, tmp_path):
    screen = Screen(chain, tmp_path)
    sign_in(screen, DEMO_MANAGER_CPF)
    screen.pick("Criar usuário")
    answer(screen, "CPF do novo usuário (Enter para voltar): ", "592.743.891-16")
    screen.expect("Já existe uma conta com este CPF: Francisca Nascimento Soares (gerente). Digite outro CPF.")
    answer(screen, "CPF do novo usuário", "529.982.247-25", "Nome completo (Enter para voltar): ", "")  # back: nothing made
    screen.pick("Administração")
    screen.pick("Lojas")
    screen.pick("Criar loja")
    answer(screen, "CNPJ da nova loja", "98.970.129/0016-03")
    screen.expect("Já existe uma loja com este CNPJ: Superbom Leste 291 (SUPERBOM, aberta). Digite outro CNPJ.")
    answer(screen, "CNPJ da nova loja", "")
    screen.pick("Voltar")
    screen.pick("Voltar")
    out = screen.finish()
    assert "Traceback" not in out and "Nome completo" not in out.split("Já existe uma conta")[0]
    assert "52998224725" not in {u["cpf"] for u in manager(chain).users()}


# -- a seller's session after a manager's change ----------------------------------------------------------------

def test_a_seller_sees_stores_reopened_closed_and_reassigned_without_signing_in_again(fresh_server, tmp_path):
    server = fresh_server()
    boss = manager(server)
    stores = boss.stores()
    first, second = stores[0], stores[1]
    joao = find(boss.users(), cpf=DEMO_SELLER_CPF)
    boss.assign_stores(joao["id"], [first["id"]])
    boss.close_store(second["id"])
    screen = Screen(server, tmp_path)
    sign_in(screen, DEMO_SELLER_CPF)  # store_ids [first] from the login answer; second is closed
    screen.pick("Registrar venda")
    offered = screen.expect("Opção: ")
    assert first["name"] in offered and second["name"] not in offered
    screen.type("0")
    boss.reopen_store(second["id"])
    boss.assign_stores(joao["id"], [])  # any store: offered at his next sale, without signing in again
    screen.pick("Registrar venda")
    offered = screen.expect("Opção: ")
    assert first["name"] in offered and second["name"] in offered
    screen.type("0")
    boss.assign_stores(joao["id"], [first["id"]])
    screen.pick("Registrar venda")
    screen.pick(f"{first['name']} (")  # the list was fetched now: first is still his
    boss.assign_stores(joao["id"], [second["id"]])  # changed while he types the amount
    answer(screen, "Valor da venda", "33,33", "(s/n): ", "s")
    screen.expect("Você não está autorizado a vender nesta loja. A venda não foi registrada.")
    menu = screen.expect("Opção: ")
    offered = menu.split("Em que loja registrar esta venda?")[1]
    assert re.findall(r"\d\) (.+)", offered) == [f"{second['name']} ({second['network']['name']})", "Voltar"]
    screen.type("1")
    answer(screen, "Confirmar venda de R$ 33,33", "s")
    screen.expect(f"Venda registrada: R$ 33,33 em {second['name']}")
    boss.close_store(second["id"])
    screen.pick("Registrar venda")
    screen.expect("Nenhuma loja aberta onde você possa vender.")
    out = screen.finish()
    assert "Traceback" not in out
    seller = api_for(server)
    seller.login(DEMO_SELLER_CPF, DEMO_PIN)
    (sale,) = [s for s in seller.my_sales(None, None)["sales"] if s["amount"] == "33.33"]
    assert sale["store_id"] == second["id"]


@pytest.mark.parametrize("change, said", [
    ("deactivate", "Sua conta foi desativada. Fale com um gerente."),
    ("reset_pin", "Seu PIN ou seu acesso mudou: entre novamente."),
])
def test_a_sale_after_the_account_changed_is_refused_clearly_and_not_queued(fresh_server, tmp_path, change, said):
    server = fresh_server()
    boss = manager(server)
    maria = find(boss.users(), cpf=DEMO_SELLER2_CPF)
    screen = Screen(server, tmp_path)
    sign_in(screen, DEMO_SELLER2_CPF)
    screen.pick("Registrar venda")
    screen.pick("Max Atacado Centro (")
    answer(screen, "Valor da venda", "44,44")
    screen.expect("(s/n): ")
    boss.deactivate_user(maria["id"]) if change == "deactivate" else boss.reset_pin(maria["id"], "2580")
    screen.type("s")
    again = "." if change == "deactivate" else ": entre novamente e registre-a de novo."
    screen.expect(f"{said}\nA venda de R$ 44,44 em Max Atacado Centro NÃO foi registrada{again}")
    screen.expect("Sessão encerrada.")
    screen.expect("CPF: ")
    out = screen.finish()
    assert "Traceback" not in out and "Venda guardada" not in out
    assert queued_sale_ids(tmp_path / "screen-queue.db") == []
    assert all(s["amount"] != "44.44" for s in boss.seller_sales(maria["id"], None, None, limit=1000)["sales"])
