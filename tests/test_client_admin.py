"""The interactive client's administration and void menus (client/admin.py, client/controllers.py, client/views.py).

The pure tests drive Interactive with a stand-in Api; the others drive `python -m client` against a real
demo node, reading the screen to pick options by their label (menus list stores and people in the server's
order), and check what the server holds afterwards, not only what was printed.
"""

import datetime as dt
import io
import re
import sqlite3
import uuid
from zoneinfo import ZoneInfo

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER2_CPF, DEMO_SELLER_CPF, InteractiveClient, fresh_sale_id, run_client, wait_until

from client import views
from client.admin import MAX_LISTED_SALES, Administration, parse_day, parse_numbers, parse_reason, parse_sale_code
from client.connection import RemoteError
from client.console import Console
from client.controllers import Interactive, SignedOut
from client.sale_queue import SaleQueue
from models.documents import cnpj_check_digits
from models.errors import ValidationError
from runtime.clock import FakeClock, iso_utc
from wire.jsonrpc import RpcError

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
PEDRO_CPF, ANA_CPF = "34567890175", "45678901249"
NEW_CNPJ = "987654320001" + cnpj_check_digits("987654320001")


def lines(*answers: str) -> str:
    return "\n".join(answers) + "\n"


def remote(code: int, reason: str = "", **data) -> RemoteError:
    return RemoteError(RpcError(code, "english message", {"reason": reason, **data} if reason or data else None))


# -- pure: messages -------------------------------------------------------------------------------

@pytest.mark.parametrize("error, expected", [
    (remote(1011, "inactive", field="store_id"), "Esta loja está fechada e não aceita vendas."),
    (remote(1011, "inactive", field="cpf"), "Esta conta está desativada. Fale com um gerente."),
    (remote(1011, "inactive"), "Esta conta está desativada. Fale com um gerente."),
    (remote(-32602, "weak_pin", field="new_pin"), "PIN fraco: evite sequências (1234, 4321) e dígitos repetidos (1111)."),
    (remote(1002, "not_your_sale"), "Só é possível cancelar as suas próprias vendas."),
    (remote(1002, "void_window_passed"), "O prazo para cancelar esta venda já passou: peça a um gerente."),
    (remote(1002, "last_active_manager"), "Não é possível desativar o último gerente ativo."),
    (remote(1002, "forbidden", field="store_id"), "Você não está autorizado a vender nesta loja."),
    (remote(1002, "forbidden", required_role="manager"), "Você não tem permissão: só gerentes fazem isto."),
    (remote(1002, "forbidden", required_role="seller"),
     "Você não tem permissão: só vendedores fazem isto (uma venda é registrada por quem vendeu)."),
    (remote(1002, "something_newer"), "Você não tem permissão para esta operação."),
    (remote(1003, "bad_credentials", pin_not_set=True), "Seu PIN ainda não foi definido: peça a um gerente."),
    (remote(1003, "bad_credentials"), "CPF ou PIN incorretos."),
    (remote(1005, "already_exists", field="cnpj"), "Já existe uma loja com este CNPJ."),
    (remote(1005, "already_exists", field="name"), "Já existe uma rede com este nome."),
    (remote(1005, "already_exists", field="cpf"), "Já existe uma conta com este CPF."),
    (remote(1006, "not_found", field="sale_id"), "Nenhuma venda com este código."),
    (remote(-32602, "must have 2 to 100 characters", field="reason"), "Dado inválido (motivo): deve ter de 2 a 100 caracteres."),
    (remote(-32602, "must be at most 5000.00", field="amount"), "Dado inválido (valor): no máximo R$ 5.000,00."),
    (remote(-32602, "some english words", field="store_ids"), "Dado inválido (lojas)."),
    (remote(-32602, "x", field="old_pin"), "Dado inválido (PIN atual)."),
    (remote(-32602), "O servidor recusou o pedido."),
])
def test_every_new_error_is_one_portuguese_line(error, expected):
    assert views.remote_error(error) == expected


def test_new_params_have_portuguese_names():
    for field in ("network_id", "store_ids", "user_id", "reason", "old_pin", "new_pin", "cnpj", "rows"):
        assert field in views.FIELD_NAMES


def test_typed_reasons_sale_codes_and_lists_of_numbers():
    assert parse_reason("  cliente   desistiu ") == "cliente desistiu"
    for bad in ("", "ab", "x" * 201, "a\x00b"):
        with pytest.raises(ValidationError):
            parse_reason(bad)
    code = str(uuid.uuid4())
    for typed in (code, code.upper(), f'"{code}"', f"{{{code}}}", f" {code} ", code.replace("-", "")):
        assert parse_sale_code(typed) == code
    with pytest.raises(ValidationError):
        parse_sale_code("1234")
    assert parse_numbers("3, 1 3;2", 3) == [2, 0, 1]
    for typed in ("05/11/2026", "5/11/2026", " 05/11/2026 ", "2026-11-05"):
        assert parse_day(typed) == dt.date(2026, 11, 5)
    for bad in ("31/02/2026", "2026-02-31", "2026-11-5", "05-11-2026", "ontem"):
        with pytest.raises(ValidationError):
            parse_day(bad)
    for bad in ("", "0", "4", "1,x"):
        with pytest.raises(ValidationError):
            parse_numbers(bad, 3)


# -- pure: the seller's menus with a stand-in Api ---------------------------------------------------

NOW = dt.datetime(2026, 11, 26, 3, 10, tzinfo=dt.timezone.utc)  # 00:10 in São Paulo: yesterday's sales matter
NET = {"id": "n1", "name": "REDE"}
STORES = [{"id": "s1", "name": "Loja Um", "cnpj": "11222333000181", "network": NET, "open": True},
          {"id": "s2", "name": "Loja Dois", "cnpj": "11444777000161", "network": NET, "open": True},
          {"id": "s3", "name": "Loja Fechada", "cnpj": "11222444000102", "network": NET, "open": False},
          {"id": "s4", "name": "Loja Antiga", "cnpj": "22333444000181", "network": NET}]  # no "open": an older server


def sale(sale_id: str, store_id: str, amount: str, minutes_ago: float) -> dict:
    recorded = NOW - dt.timedelta(minutes=minutes_ago)
    return {"sale_id": sale_id, "seller_id": "u1", "store_id": store_id, "amount": amount,
            "sold_on": recorded.astimezone(SAO_PAULO).date().isoformat(), "recorded_at": iso_utc(recorded)}


class StandInApi:
    """What Interactive needs of client.api.Api, answering from memory and noting each call."""

    def __init__(self, store_ids=(), sales=(), pin="2580", void_window_minutes=30, count=None):
        self.user = {"id": "u1", "cpf": DEMO_SELLER_CPF, "name": "João", "role": "seller", "store_ids": list(store_ids)}
        self.token, self.pin, self.sales, self.calls = "token-1", pin, list(sales), []
        self.void_window_minutes = void_window_minutes  # as auth.login told it
        self.count = len(self.sales) if count is None else count  # sales.mine's count: the whole range's

    def stores(self):
        return STORES

    def me(self):
        return self.user

    def record_sale(self, sale_id, store_id, cents, sold_on=None):
        self.calls.append(("record_sale", store_id, cents))
        return {"sale": {"amount": f"{cents // 100}.{cents % 100:02d}", "sold_on": sold_on.isoformat()}}

    def my_sales(self, start, end, limit=100):
        self.calls.append(("my_sales", start, end, limit))
        return {"sales": self.sales, "total": "0.00", "count": self.count}

    def void_sale(self, sale_id, reason):
        self.calls.append(("void_sale", sale_id, reason))
        voided = next(s for s in self.sales if s["sale_id"] == sale_id)
        return {"void": {"sale": voided, "voided_by": {"id": "u1", "name": "João"}, "reason": reason, "voided_at": iso_utc(NOW)},
                "duplicate": False}

    def change_pin(self, old_pin, new_pin):
        if old_pin != self.pin:
            raise remote(1003, "bad_credentials")
        self.pin, self.token = new_pin, "token-2"
        return self.token


def interactive(api, answers: list[str], queue=None) -> Interactive:
    console = Console(stdin=io.StringIO(lines(*answers)), stdout=io.StringIO())
    return Interactive(api, console, SAO_PAULO, clock=FakeClock(start=NOW), queue=queue)


def screen_of(session: Interactive) -> str:
    return session.console.stdout.getvalue()


def test_a_seller_is_offered_only_open_stores_and_only_their_own():
    anywhere = interactive(StandInApi(), ["9", "2", "10,00", "s"])
    anywhere.record_sale()
    assert "Escolha um número de 0 a 3." in screen_of(anywhere)  # Um, Dois, Antiga: not the closed one
    assert "Loja Fechada" not in screen_of(anywhere)
    assert anywhere.api.calls == [("record_sale", "s2", 1000)]
    limited = interactive(StandInApi(store_ids=["s3", "s4"]), ["2", "1", "5", "s"])
    limited.record_sale()
    out = screen_of(limited)
    assert "Escolha um número de 0 a 1." in out and "Loja Antiga" in out and "Loja Um" not in out and "Loja Fechada" not in out
    assert limited.api.calls == [("record_sale", "s4", 500)]
    nowhere = interactive(StandInApi(store_ids=["s3"]), [])
    nowhere.record_sale()
    assert "Nenhuma loja aberta onde você possa vender." in screen_of(nowhere) and nowhere.api.calls == []


def test_a_seller_cancels_a_sale_of_the_void_window_picked_newest_first():
    backdated = {**sale("backdated", "s1", "9.00", 5), "sold_on": "2026-11-16"}  # dated ten days back, recorded just now
    old_today = sale("old", "s1", "5.00", 31)  # dated today, recorded before the window
    sales = [old_today, sale("a", "s1", "7.00", 20), sale("b", "s2", "12.50", 2), backdated,
             sale("before-midnight", "s2", "3.00", 15)]  # recorded on the 25th in São Paulo
    api = StandInApi(sales=sales)
    session = interactive(api, ["1", "ab", "cliente desistiu", "s"])
    session.void_my_sale()
    out = screen_of(session)
    # every date a sale recorded now may carry (up to 366 days back), and the window is told by recorded_at alone
    assert api.calls[0] == ("my_sales", dt.date(2025, 11, 24), None, MAX_LISTED_SALES)
    menu = out.split("Qual venda cancelar?")[1].split("Opção:")[0]
    assert re.findall(r"\d\) (\d\d:\d\d)  (R\$ [\d,]+)", menu) == [("00:08", "R$ 12,50"), ("00:05", "R$ 9,00"), ("23:55", "R$ 3,00"),
                                                                    ("23:50", "R$ 7,00")]
    assert "R$ 9,00 em Loja Um (venda de 16/11/2026)" in menu and "R$ 3,00 em Loja Dois\n" in menu  # its own day: no date
    assert "R$ 5,00" not in menu and "foram consultadas" not in out
    assert "Escreva o motivo com 3 a 200 caracteres, ou Enter para voltar." in out
    assert api.calls[-1] == ("void_sale", "b", "cliente desistiu")
    assert "Venda cancelada: R$ 12,50 em Loja Dois." in out


def test_the_void_window_is_the_one_the_server_gave_at_sign_in():
    sales = [sale("a", "s1", "5.00", 40), sale("b", "s1", "6.00", 50)]
    longer = interactive(StandInApi(sales=sales, void_window_minutes=45), ["0"])
    longer.void_my_sale()
    menu = screen_of(longer).split("Qual venda cancelar?")[1]
    assert "R$ 5,00" in menu and "R$ 6,00" not in menu
    shorter = interactive(StandInApi(sales=sales, void_window_minutes=10), [])
    shorter.void_my_sale()
    assert "Nenhuma venda sua registrada nos últimos 10 minutos para cancelar." in screen_of(shorter)
    closed = interactive(StandInApi(sales=sales, void_window_minutes=0), [])
    closed.void_my_sale()
    assert "Só um gerente pode cancelar vendas: fale com um gerente." in screen_of(closed) and closed.api.calls == []


def test_a_seller_whose_dated_sales_were_cut_short_is_told_so():
    listed = [sale(f"s{n}", "s1", "5.00", 40 + n) for n in range(MAX_LISTED_SALES - 1)] + [sale("now", "s1", "6.00", 3)]
    api = StandInApi(sales=listed, count=MAX_LISTED_SALES + 1)
    session = interactive(api, ["0"])
    session.void_my_sale()
    out = screen_of(session)
    assert "(só as suas 1000 vendas de datas mais recentes foram consultadas: se a venda não aparece, fale com um gerente)" in out
    assert re.findall(r"\d\) .*R\$.*", out.split("Qual venda cancelar?")[1]) == ["1) 00:07  R$ 6,00 em Loja Um"]


def test_a_seller_with_nothing_recent_is_sent_to_a_manager_and_a_no_voids_nothing():
    api = StandInApi(sales=[sale("old", "s1", "5.00", 45)])
    session = interactive(api, [])
    session.void_my_sale()
    assert "Nenhuma venda sua registrada nos últimos 30 minutos para cancelar." in screen_of(session)
    declined = interactive(StandInApi(sales=[sale("a", "s1", "7.00", 1)]), ["1", "engano no valor", "n"])
    declined.void_my_sale()
    assert "Nada foi cancelado." in screen_of(declined)
    assert [c[0] for c in declined.api.calls] == ["my_sales"]


@pytest.mark.parametrize("role, labels", [
    ("seller", ["Registrar venda", "Minhas vendas de hoje", "Minhas vendas por período", "Vendas pendentes (0)", "Cancelar venda",
                "Trocar meu PIN", "Sair (trocar de usuário)"]),
    ("manager", ["Total de um vendedor", "Melhor loja", "Melhor vendedor", "Vendas ao longo do tempo (por dia, semana ou mês)",
                 "Total de uma rede", "Total de uma loja",
                 "Listar vendedores", "Listar lojas", "Criar usuário", "Situação do cluster",
                 "Administração: redes, lojas, pessoas, cancelamentos", "Trocar meu PIN", "Sair (trocar de usuário)"]),
])
def test_sair_is_the_last_entry_of_both_menus(role, labels):
    session = interactive(StandInApi(), [str(len(labels))])
    with pytest.raises(SignedOut):
        session.seller_menu() if role == "seller" else session.manager_menu()
    assert re.findall(r"^  (\d+)\) (.+)$", screen_of(session), re.MULTILINE) == [(str(n), label) for n, label in enumerate(labels, 1)]


def test_a_days_sales_are_a_menu_that_reads_as_a_table():
    day = [sale(f"{n:08x}-0000-7000-8000-000000000000", "s1" if n % 2 else "s2", f"{n * 111}.50", n) for n in range(1, 12)]
    day[0] = {**day[0], "sold_on": "2026-11-20"}  # typed in days after it was dated: the recording day is shown
    header, labels = views.sale_choices(day, {"s1": "Loja Um", "s2": "Loja Dois"}, SAO_PAULO)
    session = interactive(StandInApi(), ["11"])
    assert session.console.choose(f"Qual venda cancelar?\n{header}", labels) == 10
    rows = screen_of(session).splitlines()[1:14]
    assert rows[0].split() == ["Hora", "do", "registro", "Loja", "Valor", "Código"] and rows[1].startswith("      ----")
    assert rows[2] == "  1)  26/11/2026 00:09  Loja Um      R$ 111,50  00000001"  # the code's first 8 characters, not 36
    assert rows[3] == "  2)  00:08             Loja Dois    R$ 222,50  00000002"
    assert rows[12] == "  11) 23:59             Loja Um    R$ 1.221,50  0000000b"
    assert {row.index("0000") for row in rows[2:]} == {rows[0].index("Código")}  # one column under its heading


def test_changing_the_pin_gives_queued_sales_the_new_token(tmp_path):
    queue = SaleQueue(tmp_path / "queue.db", FakeClock(start=NOW))
    queue.add(fresh_sale_id(), DEMO_SELLER_CPF, "token-1", "s1", "Loja Um", 100, dt.date(2026, 11, 25))
    api = StandInApi()
    # a wrong current PIN; a weak new PIN asked again before any call; then PINs that differ once
    session = interactive(api, ["1111", "3690", "3690", "2580", "1234", "3690", "3691", "3690", "3690"], queue=queue)
    session.change_my_pin()
    assert "PIN atual incorreto: nada foi alterado." in screen_of(session) and api.pin == "2580"
    session.change_my_pin()
    out = screen_of(session)
    assert views.WEAK_PIN in out and "Os PINs não conferem." in out and "PIN alterado." in out
    assert (api.pin, api.token) == ("3690", "token-2")
    with sqlite3.connect(tmp_path / "queue.db") as conn:
        assert conn.execute("SELECT token FROM queued_sales").fetchall() == [("token-2",)]
    queue.close()


def test_voids_on_a_node_without_the_sale_yet_are_still_shown():
    partial = {"sale": {"sale_id": "x1"}, "voided_by": {"id": "m", "name": "Lucas"}, "reason": "teste", "voided_at": iso_utc(NOW)}
    table = views.voids_table([partial], {}, {}, SAO_PAULO)
    assert "26/11/2026 00:10" in table and "teste" in table and "Lucas" in table
    admin = Administration(interactive(StandInApi(), []))
    assert admin.void_outcome({"void": partial, "duplicate": False}) == "Venda cancelada: x1."
    duplicate = admin.void_outcome({"void": partial, "duplicate": True})
    assert duplicate == "Esta venda já estava cancelada (26/11/2026 00:10, por Lucas; motivo: teste)."


# -- against a real node: read the screen, pick by label -----------------------------------------------

class Screen:
    """`python -m client` typed into as a person would; expect() reads on from where the last one stopped."""

    def __init__(self, server, tmp_path, name: str = "screen"):
        self.client = InteractiveClient(f"1=127.0.0.1:{server.port}", tmp_path / f"{name}-queue.db")
        self.position = 0

    def type(self, *answers: str) -> None:
        self.client.type(*answers)

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Wait for text after the last expected one; what was shown up to and including it."""
        end = wait_until(lambda: (self.client.output.find(text, self.position) + 1) or None, timeout,
                         what=f"{text!r} on screen after: {self.client.output[self.position:][-600:]!r}") - 1 + len(text)
        shown, self.position = self.client.output[self.position:end], end
        return shown

    def pick(self, label: str, anywhere: bool = False) -> None:
        """Wait for the next menu and choose the option whose text starts with label (anywhere: holds it)."""
        menu = self.expect("Opção: ")
        numbers = re.findall(rf"^\s+(\d+)\) {'.*' if anywhere else ''}{re.escape(label)}", menu, re.MULTILINE)
        assert numbers, f"no option {label!r} in {menu!r}"
        self.type(numbers[-1])

    def finish(self) -> str:
        assert self.client.finish() == 0
        return self.client.output


def sign_in(screen: Screen, cpf: str, pin: str = DEMO_PIN) -> None:
    screen.expect("CPF: ")
    screen.type(cpf)
    screen.expect("PIN (Enter para voltar): ")
    screen.type(pin)


def answer(screen: Screen, *pairs: str) -> None:
    """Prompts and answers, alternating: wait for each prompt before typing its answer."""
    for prompt, text in zip(pairs[::2], pairs[1::2]):
        screen.expect(prompt)
        screen.type(text)


def manager(server):
    api = api_for(server)
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    return api


def find(items: list[dict], **wanted) -> dict:
    return next(i for i in items if all(i.get(k) == v for k, v in wanted.items()))


def test_a_manager_creates_renames_moves_closes_and_reopens(fresh_server, tmp_path):
    server = fresh_server()
    boss, screen = manager(server), Screen(server, tmp_path)
    sign_in(screen, DEMO_MANAGER_CPF)
    screen.pick("Administração")
    screen.pick("Redes")
    screen.pick("Criar rede")
    answer(screen, "Nome da nova rede (Enter para voltar): ", "")  # Enter: back to the menu, nothing made
    screen.pick("Criar rede")
    answer(screen, "Nome da nova rede (Enter para voltar): ", "Rede Teste")
    screen.expect("Rede criada: Rede Teste.")
    screen.pick("Criar rede")
    answer(screen, "Nome da nova rede", "rede teste")
    screen.expect("Já existe uma rede com este nome.")
    screen.pick("Voltar")
    screen.pick("Lojas")
    screen.pick("Criar loja")
    wrong_check = NEW_CNPJ[:12] + str((int(NEW_CNPJ[12]) + 1) % 10) + NEW_CNPJ[13]
    answer(screen, "CNPJ da nova loja (Enter para voltar): ", "12.345", "CNPJ inválido: digite os 14 dígitos", wrong_check,
           "CNPJ inválido: os dígitos verificadores não conferem", f"{NEW_CNPJ[:2]}.{NEW_CNPJ[2:5]}."
           f"{NEW_CNPJ[5:8]}/{NEW_CNPJ[8:12]}-{NEW_CNPJ[12:]}", "Nome da nova loja (Enter para voltar): ", "Loja Nova")
    screen.pick("Rede Teste")
    masked = views.cnpj(NEW_CNPJ)
    screen.expect(f"Loja criada: Loja Nova (Rede Teste), CNPJ {masked}.")
    store = find(boss.stores(), cnpj=NEW_CNPJ)
    assert (store["name"], store["network"]["name"], store["open"]) == ("Loja Nova", "Rede Teste", True)
    screen.pick("Criar loja")  # a CNPJ already taken is told at once, before the name and the network are asked
    answer(screen, "CNPJ da nova loja", NEW_CNPJ)
    screen.expect("Já existe uma loja com este CNPJ: Loja Nova (Rede Teste, aberta). Digite outro CNPJ.")
    answer(screen, "CNPJ da nova loja", "")
    screen.pick("Fechar loja")
    screen.pick("Loja Nova")
    answer(screen, "(s/n): ", "s")
    screen.expect("Loja fechada: Loja Nova.")
    assert find(boss.stores(), cnpj=NEW_CNPJ)["open"] is False
    screen.pick("Listar lojas")
    listing = screen.expect("Lojas:")
    assert re.search(rf"Loja Nova\s+Rede Teste\s+{re.escape(masked)}\s+fechada", listing)
    assert re.search(r"Max Atacado Centro\s+MAX ATACADO\s+11\.223\.444/0001-02\s+aberta", listing)
    screen.pick("Alterar nome ou rede")
    screen.pick("Loja Nova")
    answer(screen, "Novo nome", "Loja Renovada", "Mudar a rede", "s")
    screen.pick("MAX ATACADO")
    answer(screen, "Confirmar a mudança de rede?", "s")
    screen.expect("Loja alterada: Loja Renovada (MAX ATACADO).")
    screen.pick("Reabrir loja")
    screen.pick("Loja Renovada")
    screen.expect("Loja reaberta: Loja Renovada.")
    screen.pick("Voltar")
    screen.pick("Redes")
    screen.pick("Renomear rede")
    screen.pick("Rede Teste")
    answer(screen, "Novo nome para Rede Teste (Enter para voltar): ", "Rede Testada")
    screen.expect("Rede renomeada: Rede Teste agora é Rede Testada.")
    out = screen.finish()
    assert "Traceback" not in out
    store = find(boss.stores(), cnpj=NEW_CNPJ)
    assert (store["name"], store["network"]["name"], store["open"]) == ("Loja Renovada", "MAX ATACADO", True)
    assert "Rede Testada" in [n["name"] for n in boss.networks()] and "Rede Teste" not in [n["name"] for n in boss.networks()]


def test_a_manager_deactivates_reactivates_resets_pins_and_limits_a_sellers_stores(fresh_server, tmp_path):
    server = fresh_server()
    boss, screen = manager(server), Screen(server, tmp_path)
    stores = boss.stores()
    sign_in(screen, DEMO_MANAGER_CPF)
    screen.pick("Administração")
    screen.pick("Pessoas")
    screen.pick("Listar pessoas")
    listing = screen.expect("Pessoas:")
    assert re.search(r"Pedro Solto Aguiar\s+345\.678\.901-75\s+vendedor\s+sim\s+sim\s+qualquer loja", listing)
    assert re.search(r"Lucas Matos de Abreu\s+567\.890\.123-03\s+gerente\s+sim\s+sim\s+-", listing)
    screen.pick("Desativar pessoa")
    menu = screen.expect("Opção: ")
    assert "Lucas Matos de Abreu" not in menu  # oneself is not offered
    number = re.search(r"(\d+)\) Pedro Solto Aguiar", menu).group(1)
    screen.type(number)
    answer(screen, "(s/n): ", "s")
    screen.expect("Pessoa desativada: Pedro Solto Aguiar.")
    assert find(boss.users(), cpf=PEDRO_CPF)["active"] is False
    refused = run_client([], server.port, lines(PEDRO_CPF, DEMO_PIN))
    assert "Esta conta está desativada. Fale com um gerente." in refused.stdout and "Traceback" not in refused.stderr
    screen.pick("Reativar pessoa")
    screen.pick("Pedro Solto Aguiar")
    screen.expect("Pessoa reativada: Pedro Solto Aguiar.")
    assert find(boss.users(), cpf=PEDRO_CPF)["active"] is True
    screen.pick("Redefinir PIN")
    screen.pick("Ana Milena da Silva")
    answer(screen, "Redefinir o PIN de Ana Milena da Silva (CPF 456.789.012-49, vendedor)? (s/n): ", "n")
    screen.expect("Nada foi alterado.")
    screen.pick("Redefinir PIN")
    screen.pick("Ana Milena da Silva")
    answer(screen, "(s/n): ", "s", "Novo PIN de Ana Milena da Silva (4 a 8 dígitos; Enter para voltar): ", "")
    screen.expect("Nada foi alterado.")
    screen.pick("Redefinir PIN")
    screen.pick("Ana Milena da Silva")
    answer(screen, "(s/n): ", "s", "Novo PIN de Ana Milena da Silva", "4444")
    screen.expect(views.WEAK_PIN)  # asked again at once, before any call
    answer(screen, "Novo PIN de Ana Milena da Silva", "2580", "Repita o PIN: ", "2580")
    screen.expect("PIN de Ana Milena da Silva redefinido.")
    screen.pick("Lojas de um vendedor")
    screen.pick("João de Alencar")
    screen.pick("Só nas lojas")
    answer(screen, "Números das lojas", "9", "Digite números de 1 a", "2, 1")
    screen.expect("Lojas de João de Alencar: ")
    out = screen.finish()
    assert "Traceback" not in out
    assert api_for(server).login(ANA_CPF, "2580")["name"] == "Ana Milena da Silva"
    with pytest.raises(RemoteError):
        api_for(server).login(ANA_CPF, DEMO_PIN)
    joao = find(boss.users(), cpf=DEMO_SELLER_CPF)
    assert sorted(joao["store_ids"]) == sorted([stores[1]["id"], stores[0]["id"]])
    # The seller now sees those two stores only; the server refuses the others with one line
    seller = run_client([], server.port, lines(DEMO_SELLER_CPF, DEMO_PIN, "1", "3", "0", "7"))
    assert "Escolha um número de 0 a 2." in seller.stdout
    assert stores[2]["name"] not in seller.stdout.split("Loja:")[1].split("Opção")[0]
    api = api_for(server)
    api.login(DEMO_SELLER_CPF, DEMO_PIN)
    with pytest.raises(RemoteError) as refused_store:
        api.record_sale(fresh_sale_id(), stores[2]["id"], 100)
    assert views.remote_error(refused_store.value) == "Você não está autorizado a vender nesta loja."


def test_a_closed_store_is_not_offered_and_refuses_sales(fresh_server):
    server = fresh_server()
    boss = manager(server)
    closed = boss.close_store(boss.stores()[0]["id"])
    done = run_client([], server.port, lines(DEMO_SELLER2_CPF, DEMO_PIN, "1", "0", "7"))
    assert done.returncode == 0 and "Escolha um número" not in done.stdout
    offered = done.stdout.split("Loja:")[1].split("Opção")[0]
    still_open = [s for s in boss.stores() if s["open"]]
    assert closed["name"] not in offered and len(re.findall(r"^\s+\d+\) ", offered, re.MULTILINE)) == len(still_open) + 1  # and Voltar
    seller = api_for(server)
    seller.login(DEMO_SELLER2_CPF, DEMO_PIN)
    with pytest.raises(RemoteError) as refused:
        seller.record_sale(fresh_sale_id(), closed["id"], 100)
    assert views.remote_error(refused.value) == "Esta loja está fechada e não aceita vendas."


def test_a_seller_cancels_a_fresh_sale_and_changes_their_pin(fresh_server, tmp_path):
    server = fresh_server()
    boss, screen = manager(server), Screen(server, tmp_path)
    store = boss.stores()[1]
    sign_in(screen, DEMO_SELLER2_CPF)
    screen.pick("Registrar venda")
    screen.pick(f"{store['name']} (")
    answer(screen, "Valor da venda", "987,65", "(s/n): ", "s")
    screen.expect("Venda registrada: R$ 987,65")
    screen.pick("Cancelar venda")
    screen.pick("R$ 987,65", anywhere=True)
    answer(screen, "Motivo do cancelamento", "no", "Escreva o motivo", "valor digitado errado", "(s/n): ", "s")
    screen.expect(f"Venda cancelada: R$ 987,65 em {store['name']}.")
    screen.pick("Trocar meu PIN")
    answer(screen, "PIN atual (Enter para voltar): ", "")  # back to the menu
    screen.pick("Trocar meu PIN")
    answer(screen, "PIN atual", "9999", "Novo PIN (4 a 8 dígitos; Enter para voltar): ", "3690", "Repita o PIN: ", "3690")
    screen.expect("PIN atual incorreto: nada foi alterado.")
    screen.pick("Trocar meu PIN")
    answer(screen, "PIN atual", DEMO_PIN, "Novo PIN", "3690", "Repita o PIN: ", "3690")
    screen.expect("PIN alterado.")
    screen.pick("Minhas vendas de hoje")  # the session goes on with the new token
    screen.expect("Suas vendas em")
    out = screen.finish()
    assert "Sua sessão expirou" not in out and "Traceback" not in out
    (void,) = [v for v in boss.voids() if v["sale"]["amount"] == "987.65"]
    assert (void["reason"], void["voided_by"]["name"]) == ("valor digitado errado", "Maria das Dores")
    assert void["sale"]["store_id"] == store["id"]
    maria = api_for(server)
    assert maria.login(DEMO_SELLER2_CPF, "3690")["name"] == "Maria das Dores"
    assert all(s["sale_id"] != void["sale"]["sale_id"] for s in maria.my_sales(None, None, limit=1000)["sales"])
    with pytest.raises(RemoteError) as old_pin:
        api_for(server).login(DEMO_SELLER2_CPF, DEMO_PIN)
    assert old_pin.value.code == 1003


def test_a_manager_cancels_a_sale_by_its_code_and_reads_the_voids_report(fresh_server, tmp_path):
    server = fresh_server()
    boss = manager(server)
    seller = api_for(server)
    seller.login(DEMO_SELLER_CPF, DEMO_PIN)
    store = boss.stores()[2]
    sale_id = seller.record_sale(fresh_sale_id(), store["id"], 4321)["sale"]["sale_id"]
    screen = Screen(server, tmp_path)
    sign_in(screen, DEMO_MANAGER_CPF)
    screen.pick("Administração")
    screen.pick("Cancelar venda e relatório")
    screen.pick("Cancelar uma venda pelo código")
    answer(screen, "Código da venda", "abc", "Código inválido", f'"{sale_id.upper()}"')
    screen.expect(f"Venda: R$ 43,21 em {store['name']}, venda de ")  # shown (sales.get) before the reason is asked
    screen.expect(", de João de Alencar.")
    answer(screen, "Motivo do cancelamento", "venda em duplicidade", "(s/n): ", "s")
    screen.expect(f"Venda cancelada: R$ 43,21 em {store['name']}, venda de ")
    screen.pick("Cancelar uma venda pelo código")
    answer(screen, "Código da venda", sale_id)
    screen.expect("Esta venda já estava cancelada (")
    screen.expect("por Lucas Matos de Abreu; motivo: venda em duplicidade).")
    screen.pick("Cancelar uma venda pelo código")
    answer(screen, "Código da venda", str(uuid.uuid4()))
    screen.expect("Nenhuma venda com este código.")
    screen.pick("Relatório de cancelamentos")
    screen.expect("O período é o das datas de cancelamento (não o das datas das vendas).")
    answer(screen, "Data inicial", "", "Data final", "")
    report = screen.expect("Cancelamentos:")
    assert "Vendas canceladas em todo o período:" in report
    (void,) = [v for v in boss.voids() if v["sale"]["sale_id"] == sale_id]
    sold, voided = views.date(void["sale"]["sold_on"]), views.moment(void["voided_at"], SAO_PAULO)
    assert re.search(r"Venda de\s+Vendedor\(a\)\s+Loja\s+Valor\s+Cancelada em\s+Cancelada por\s+Motivo", report)
    assert re.search(rf"{sold}\s+João de Alencar\s+{re.escape(store['name'])}\s+R\$ 43,21\s+{voided}\s+Lucas Matos de Abreu\s+"
                     "venda em duplicidade", report)
    screen.pick("Relatório de cancelamentos")
    answer(screen, "Data inicial", "01/01/2020", "Data final", "01/01/2020")
    report = screen.expect("Cancelamentos:")
    assert "Vendas canceladas em 01/01/2020 (pela data do cancelamento):" in report and "Nenhuma venda cancelada" in report
    assert "Traceback" not in screen.finish()
    (void,) = [v for v in boss.voids() if v["sale"]["sale_id"] == sale_id]
    assert (void["reason"], void["voided_by"]["name"]) == ("venda em duplicidade", "Lucas Matos de Abreu")
    assert all(s["sale_id"] != sale_id for s in seller.my_sales(None, None, limit=1000)["sales"])


def test_the_seller_takes_the_void_window_from_the_server_and_a_late_void_is_one_line(fresh_server):
    server = fresh_server(env={"VOID_WINDOW_MINUTES": "0"})  # no seller's void is ever on time
    seller = api_for(server)
    assert seller.login(DEMO_SELLER_CPF, DEMO_PIN) and seller.void_window_minutes == 0
    sale_id = seller.record_sale(fresh_sale_id(), seller.stores()[0]["id"], 1999)["sale"]["sale_id"]
    done = run_client([], server.port, lines(DEMO_SELLER_CPF, DEMO_PIN, "5", "7"))
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr
    assert "Só um gerente pode cancelar vendas: fale com um gerente." in done.stdout and "Qual venda cancelar?" not in done.stdout
    # A list shown while the window was open, answered after it closed: the server's refusal is one line
    seller.void_window_minutes = 30
    stale = Interactive(seller, Console(stdin=io.StringIO(lines("1", "cliente desistiu", "s")), stdout=io.StringIO()), SAO_PAULO)
    assert stale.guard(stale.void_my_sale) is False
    out = screen_of(stale)
    assert "R$ 19,99" in out.split("Qual venda cancelar?")[1]
    assert "O prazo para cancelar esta venda já passou: peça a um gerente." in out and "Venda cancelada" not in out
    assert sale_id in [s["sale_id"] for s in seller.my_sales(None, None)["sales"]]
    assert all(v["sale"]["sale_id"] != sale_id for v in manager(server).voids())
    seller.connection.close()


def test_a_seller_cancels_a_backdated_sale_recorded_a_minute_ago(fresh_server, tmp_path):
    server = fresh_server()
    boss, seller = manager(server), api_for(server)
    seller.login(DEMO_SELLER_CPF, DEMO_PIN)
    store = seller.stores()[3]
    today = dt.date.fromisoformat(seller.record_sale(fresh_sale_id(), store["id"], 111)["sale"]["sold_on"])  # the server's today
    dated = today - dt.timedelta(days=5)
    sale_id = seller.record_sale(fresh_sale_id(), store["id"], 5678, dated)["sale"]["sale_id"]
    screen = Screen(server, tmp_path)
    sign_in(screen, DEMO_SELLER_CPF)
    screen.pick("Cancelar venda")
    menu = screen.expect("Opção: ")
    label = rf"\d\d:\d\d  R\$ 56,78 em {re.escape(store['name'])} \(venda de {views.date(dated)}\)"
    offered = re.search(rf"^\s+(\d+)\) {label}$", menu, re.MULTILINE)
    assert offered and "R$ 1,11" in menu  # the backdated one and the one dated today
    screen.type(offered.group(1))
    answer(screen, "Motivo do cancelamento", "data digitada errada", "(s/n): ", "s")
    screen.expect(f"Venda cancelada: R$ 56,78 em {store['name']}.")
    assert "Traceback" not in screen.finish()
    (void,) = [v for v in boss.voids() if v["sale"]["sale_id"] == sale_id]
    assert (void["reason"], void["voided_by"]["name"], void["sale"]["sold_on"]) == ("data digitada errada", "João de Alencar",
                                                                                   dated.isoformat())
    assert all(s["sale_id"] != sale_id for s in seller.my_sales(dated, dated)["sales"])


def pick_sale(screen: Screen, sale_id: str) -> str:
    """In a list of a seller's sales, choose the one with this code; the list as shown."""
    menu = screen.expect("Opção: ")
    line = re.search(rf"^\s+(\d+)\) .*  {views.short_code(sale_id)}$", menu, re.MULTILINE)  # codes are shown short
    assert line, f"no sale {sale_id} in {menu!r}"
    screen.type(line.group(1))
    return menu


def test_a_manager_finds_a_sale_by_seller_and_day_and_cancels_it(fresh_server, tmp_path):
    server = fresh_server()
    boss, seller = manager(server), api_for(server)
    seller.login(DEMO_SELLER_CPF, DEMO_PIN)
    joao = find(boss.sellers(), cpf=DEMO_SELLER_CPF)
    stores = boss.stores()
    recent = seller.record_sale(fresh_sale_id(), stores[2]["id"], 4321)["sale"]
    today = dt.date.fromisoformat(recent["sold_on"])  # the server's today
    dated = today - dt.timedelta(days=3)
    backdated = seller.record_sale(fresh_sale_id(), stores[0]["id"], 1234, dated)["sale"]
    that_day = boss.seller_sales(joao["id"], dated, dated, limit=1000)
    screen = Screen(server, tmp_path)
    sign_in(screen, DEMO_MANAGER_CPF)
    screen.pick("Administração")
    screen.pick("Cancelar venda e relatório")
    screen.pick("Encontrar uma venda")
    screen.pick("João de Alencar")
    answer(screen, "Dia da venda", "32/13/2026", "Data inválida", "01/01/2020")
    screen.expect("Nenhuma venda de João de Alencar em 01/01/2020.")
    screen.pick("Encontrar uma venda")
    screen.pick("João de Alencar")
    answer(screen, "Dia da venda", views.date(dated))
    screen.expect(f"Vendas de João de Alencar em {views.date(dated)}: {views.total_text(that_day)}.")
    menu = pick_sale(screen, backdated["sale_id"])
    assert re.search(r"^\s+Hora do registro\s+Loja\s+Valor\s+Código$", menu, re.MULTILINE)
    recorded = views.moment(backdated["recorded_at"], SAO_PAULO)  # typed in today: the recording day is shown
    code = views.short_code(backdated["sale_id"])
    assert re.search(rf"\) {recorded}\s+{re.escape(stores[0]['name'])}\s+R\$ 12,34  {code}$", menu, re.MULTILINE)
    assert len(re.findall(r"^\s+\d+\) ", menu, re.MULTILINE)) == that_day["count"] + 1  # and Voltar
    answer(screen, "Motivo do cancelamento", "lançada no dia errado", "(s/n): ", "s")
    screen.expect(f"Venda cancelada: R$ 12,34 em {stores[0]['name']}, venda de {views.date(dated)}, de João de Alencar.")
    # today's, two ways: Enter for today (declined), then the day as AAAA-MM-DD
    screen.pick("Encontrar uma venda")
    screen.pick("João de Alencar")
    answer(screen, "Dia da venda", "")
    screen.expect(f"Vendas de João de Alencar em {views.date(today)}:")
    pick_sale(screen, recent["sale_id"])
    answer(screen, "Motivo do cancelamento", "engano", "(s/n): ", "n")
    screen.expect("Nada foi cancelado.")
    assert any(s["sale_id"] == recent["sale_id"] for s in seller.my_sales(today, today, limit=1000)["sales"])
    screen.pick("Encontrar uma venda")
    screen.pick("João de Alencar")
    answer(screen, "Dia da venda", today.isoformat())
    pick_sale(screen, recent["sale_id"])
    answer(screen, "Motivo do cancelamento", "cliente desistiu", "(s/n): ", "s")
    screen.expect(f"Venda cancelada: R$ 43,21 em {stores[2]['name']}, venda de {views.date(today)}, de João de Alencar.")
    assert "Traceback" not in screen.finish()
    voids = {v["sale"]["sale_id"]: v for v in boss.voids()}
    assert (voids[backdated["sale_id"]]["reason"], voids[backdated["sale_id"]]["voided_by"]["name"]) == \
        ("lançada no dia errado", "Lucas Matos de Abreu")
    assert voids[recent["sale_id"]]["reason"] == "cliente desistiu"
    after = boss.seller_sales(joao["id"], dated, dated, limit=1000)
    assert after["count"] == that_day["count"] - 1 and backdated["sale_id"] not in [s["sale_id"] for s in after["sales"]]
    mine = [s["sale_id"] for s in seller.my_sales(None, None, limit=1000)["sales"]]
    assert backdated["sale_id"] not in mine and recent["sale_id"] not in mine
