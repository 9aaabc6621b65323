"""The client as people and scripts use it: python -m client over stdin/stdout."""

import csv
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER2_CPF, closing_listener, free_port, run_client

from client.cli import EXIT_QUEUED, build_parser, list_sales, record_sale
from client.config import load_client_config
from client.connection import ALL_REFUSED_ROUNDS, RETRY_JITTER, RETRY_PAUSE_S, Connection, ServerUnreachable
from client.console import Console
from client.controllers import Interactive
from client.offline import Till, TillApi
from client.sale_queue import SaleQueue
from models.cluster import parse_cluster
from runtime.clock import FakeClock
from runtime.settings import default, default_int


def lines(*answers: str) -> str:
    return "\n".join(answers) + "\n"


def test_seller_session_records_a_sale_and_sees_it(fresh_server):
    server = fresh_server()
    session = lines(
        "234.567.890-92", "1234",         # sign in (masked CPF)
        "1", "9", "1",                    # record a sale: 9 is not a store, then store 1
        "abc", "0", "12,345", "1.234,56", "s",  # three bad amounts asked again, then confirm
        "2",                              # today's sales
        "3", "31/02/2026", "01/01/2020", "", # period: a bad date asked again
        "4",                              # pending sales: none
        "7",                              # sign out (Sair is the last entry)
    )
    done = run_client([], server.port, session)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Olá, Maria das Dores! Perfil: vendedor." in out
    assert out.count("Valor inválido") == 3
    assert "Escolha um número de 0 a 6." in out
    assert "Venda registrada: R$ 1.234,56 em" in out
    assert "Suas vendas em" in out and "R$ 1.234,56 em 1 venda, ticket médio R$ 1.234,56" in out
    assert out.count("Suas vendas em") == 1  # a short list: its total once, not again below it
    assert "Data inválida" in out and "Suas vendas desde 01/01/2020" in out
    assert "Nenhuma venda pendente" in out
    assert "Sessão encerrada." in out and "Até logo!" in out
    assert "Traceback" not in out + done.stderr
    manager = api_for(server)
    manager.login(DEMO_MANAGER_CPF, DEMO_PIN)
    maria = next(s for s in manager.sellers() if s["cpf"] == DEMO_SELLER2_CPF)
    today = manager.report("seller_total", seller_id=maria["id"], start=None)
    assert today["count"] >= 1


def test_manager_session_runs_the_reports_and_creates_a_user(fresh_server):
    server = fresh_server()
    session = lines(
        DEMO_MANAGER_CPF, "0000",          # wrong PIN
        DEMO_MANAGER_CPF, "1234",
        "2", "", "", "3",                  # best store, all time, top 3
        "3", "", "", "",                   # best seller, default size
        "1", "2", "", "",                  # total of seller 2 (João)
        "4", "2", "1", "", "",             # sales over time: per week, the whole chain, the last 12 weeks
        "5", "3", "", "",                  # total of network 3
        "6", "1", "", "",                  # total of store 1
        "7", "8",                          # lists
        "9", "529.982.247-25", "Carla Nova", "1999", "2580", "2581", "2580", "2580", "1",  # PINs differ once
        "10",                              # cluster view
        "13",                              # sign out (Sair is the last entry)
    )
    done = run_client([], server.port, session)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "CPF ou PIN incorretos." in out
    assert "Olá, Lucas Matos de Abreu! Perfil: gerente." in out
    assert "Melhores lojas em todo o período:" in out and "1º" in out and "3º" in out
    assert "4º" not in out.split("Melhores lojas")[1].split("O que deseja")[0]
    assert "█" in out
    assert "Melhores vendedores em todo o período:" in out
    assert "Vendas de João de Alencar em todo o período: R$" in out
    chart = out.split("Toda a rede de lojas\nSemana")[1].split("O que deseja")[0]
    assert "Ticket médio" in chart and "█" in chart and "Período anterior" in chart
    assert out.count("Vendas da rede MAX ATACADO em todo o período") == 1  # a short list of stores: its total once
    assert "Vendas da loja Atakadão Leste em todo o período" in out
    assert "Os PINs não conferem." in out
    assert "Usuário criado: Carla Nova (vendedor), CPF 529.982.247-25." in out
    assert "Visto pelo nó 1; coordenador: nó 1" in out and "coordenador" in out.split("Visto pelo nó 1")[1]
    assert "Sessão encerrada." in out
    assert "Traceback" not in out + done.stderr
    assert api_for(server).login("52998224725", "2580")["role"] == "seller"


def test_an_unknown_cpf_leads_to_registration_then_sign_in(fresh_server):
    """The PIN typed at sign-in is only confirmed once, not asked twice again."""
    server = fresh_server()
    session = lines("390.533.447-05", "2468", "s", "Rafael Novo", "2001", "2468", "7")
    done = run_client([], server.port, session)
    assert "O CPF 390.533.447-05 não tem cadastro." in done.stdout
    assert done.stdout.count("Repita o PIN") == 1 and "Escolha um PIN" not in done.stdout
    assert "Conta criada para Rafael Novo." in done.stdout
    assert "Olá, Rafael Novo! Perfil: vendedor." in done.stdout and "Sessão encerrada." in done.stdout
    assert api_for(server).login("39053344705", "2468")["name"] == "Rafael Novo"


def test_an_unreachable_server_is_one_clear_line_not_a_traceback():
    port = free_port()
    quick = {"CLIENT_FAILOVER_TIMEOUT_MS": "300"}
    done = run_client([], port, lines("12345678909", "1234"), env=quick)
    assert done.returncode == 0
    assert "Não foi possível falar com o servidor" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    script = run_client(["report", "best-store"], port, env={"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN, **quick})
    assert script.returncode == 3 and "não foi possível falar com o servidor" in script.stderr


def test_script_sale_and_reports_in_every_format(fresh_server):
    server = fresh_server()
    seller_env = {"ONSELL_CPF": "12345678909", "ONSELL_PIN": DEMO_PIN}
    manager_env = {"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN}
    store = api_for(server).stores()[0]
    sale = run_client(["sale", "--store", store["id"], "--amount", "10.50"], server.port, env=seller_env)
    assert sale.returncode == 0, sale.stderr
    assert f"Venda registrada: R$ 10,50 em {store['name']}" in sale.stdout
    by_cnpj = run_client(["sale", "--store", store["cnpj"], "--amount", "R$ 2,00", "--date", "01/11/2026"], server.port, env=seller_env)
    assert by_cnpj.returncode == 0, by_cnpj.stderr
    as_json = run_client(["report", "best-store", "--limit", "3", "--format", "json"], server.port, env=manager_env)
    ranking = json.loads(as_json.stdout)["ranking"]
    assert as_json.returncode == 0 and len(ranking) == 3
    as_csv = run_client(["report", "best-seller", "--from", "2020-01-01", "--format", "csv"], server.port, env=manager_env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows[0]["posição"] == "1" and set(rows[0]) == {"posição", "nome", "id", "total", "vendas"}
    table = run_client(["report", "network-total", "--network", "max atacado"], server.port, env=manager_env)
    assert table.returncode == 0 and "MAX ATACADO em todo o período: R$" in table.stdout
    store_csv = run_client(["report", "store-total", "--store", store["id"], "--format", "csv"], server.port, env=manager_env)
    assert list(csv.DictReader(io.StringIO(store_csv.stdout)))[0]["store"] == store["name"]


def test_script_errors_exit_non_zero_with_the_error_on_stderr(fresh_server):
    server = fresh_server()
    seller_env = {"ONSELL_CPF": "12345678909", "ONSELL_PIN": DEMO_PIN}
    forbidden = run_client(["report", "best-store"], server.port, env=seller_env)
    assert forbidden.returncode == 1 and "permissão" in forbidden.stderr and forbidden.stdout == ""
    bad_amount = run_client(["sale", "--store", "x", "--amount", "1e3"], server.port, env=seller_env)
    assert bad_amount.returncode == 2 and "valor inválido" in bad_amount.stderr
    no_store = run_client(["sale", "--store", "00000000000000", "--amount", "5"], server.port, env=seller_env)
    assert no_store.returncode == 1 and "loja não encontrada" in no_store.stderr
    wrong_pin = run_client(["stores"], server.port, env={**seller_env, "ONSELL_PIN": "9999"})
    assert wrong_pin.returncode == 0  # listing stores needs no sign-in
    bad_login = run_client(["sellers"], server.port, env={**seller_env, "ONSELL_PIN": "9999"})
    assert bad_login.returncode == 1 and "CPF ou PIN incorretos" in bad_login.stderr
    for done in (forbidden, bad_amount, no_store, bad_login):
        assert "Traceback" not in done.stderr


# -- settings: the one table (runtime.settings), checked at start ------------------------------

def test_a_bad_time_zone_stops_the_client_with_one_portuguese_line_naming_the_key():
    port = free_port()  # nothing listens: the client must stop before it tries
    expected = "onsell: configuração inválida: TIMEZONE 'Marte/Base' não é um fuso horário conhecido.\n"
    for args, stdin in (([], lines("12345678909", "1234")), (["status"], ""), (["report", "best-store"], "")):
        done = run_client(args, port, stdin, env={"TIMEZONE": "Marte/Base"}, timeout=30)
        assert (done.returncode, done.stderr, done.stdout) == (2, expected, ""), args


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_a_bad_failover_timeout_stops_the_client_with_one_line_naming_the_key(value):
    done = run_client(["stores"], free_port(), env={"CLIENT_FAILOVER_TIMEOUT_MS": value}, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"onsell: configuração inválida: CLIENT_FAILOVER_TIMEOUT_MS {value!r} ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_bad_server_list_names_where_it_came_from():
    from_env = run_client(["stores"], free_port(), env={"CLUSTER": "1=nowhere"}, timeout=30)
    assert from_env.returncode == 2 and from_env.stderr.startswith("onsell: configuração inválida: CLUSTER: ")
    from_option = run_client(["--servers", "x", "stores"], free_port(), timeout=30)
    assert from_option.returncode == 2 and from_option.stderr.startswith("onsell: lista de servidores inválida em --servers: ")


def test_the_client_takes_its_defaults_from_the_settings_table(tmp_path):
    config = load_client_config({"XDG_DATA_HOME": str(tmp_path)})
    assert config.servers == parse_cluster(default("CLUSTER"))
    assert config.timezone == ZoneInfo(default("TIMEZONE"))
    assert config.failover_timeout_s == default_int("CLIENT_FAILOVER_TIMEOUT_MS") / 1000
    assert config.queue_path == tmp_path / "onsell" / "queue.db"
    assert config.cpf is None and config.pin is None
    assert Connection({1: ("127.0.0.1", 1)}).failover_timeout_s == default_int("CLIENT_FAILOVER_TIMEOUT_MS") / 1000
    empty = load_client_config({"TIMEZONE": " ", "CLIENT_FAILOVER_TIMEOUT_MS": "", "ONSELL_QUEUE": "", "XDG_DATA_HOME": str(tmp_path)})
    assert empty.timezone == config.timezone and empty.failover_timeout_s == config.failover_timeout_s  # empty counts as unset
    assert empty.queue_path == config.queue_path
    chosen = load_client_config({"TIMEZONE": "America/Manaus", "CLIENT_FAILOVER_TIMEOUT_MS": "250", "ONSELL_QUEUE": "/q/x.db",
                                 "ONSELL_CPF": "12345678909", "ONSELL_PIN": "1234", "CLUSTER": "2=127.0.0.1:9"})
    assert (chosen.timezone, chosen.failover_timeout_s, chosen.queue_path, chosen.cpf, chosen.pin, chosen.servers) == \
        (ZoneInfo("America/Manaus"), 0.25, Path("/q/x.db"), "12345678909", "1234", {2: ("127.0.0.1", 9)})


# -- one clock: tests drive the client's time -------------------------------------------------

# 01:30 UTC on the 27th is still the 26th in São Paulo: the date must come from the clock and the time zone
LATE_EVENING = dt.datetime(2026, 11, 27, 1, 30, tzinfo=dt.timezone.utc)
STORE = {"id": "0b1c4f7e-5a47-4e43-9b8a-1f2d3c4b5a69", "name": "Loja Teste", "cnpj": "11222333000181", "network": {"name": "REDE"}}


class NoServerApi:
    """An Api whose every call finds no server (a seller who signed in before the servers went away)."""

    def __init__(self, signed_in: bool = True):
        self.user = {"cpf": "12345678909", "role": "seller", "name": "João"} if signed_in else None
        self.token = "token-1" if signed_in else None

    def __getattr__(self, name):
        def unreachable(*args, **kwargs):
            raise ServerUnreachable("nenhum servidor respondeu")
        return unreachable


def sale_id_ms(sale_id: str) -> int:
    return uuid.UUID(sale_id).int >> 80  # UUIDv7: the first 48 bits are Unix milliseconds


def test_the_failover_deadline_runs_on_the_clock_it_is_given():
    """A node that is there but closes every connection: the client tries until the deadline of its (fake) clock."""
    clock = FakeClock()
    start = clock.monotonic_s()
    with closing_listener() as port:
        connection = Connection({1: ("127.0.0.1", free_port()), 2: ("127.0.0.1", port)}, failover_timeout_s=2.0, clock=clock)
        with pytest.raises(ServerUnreachable):
            connection.call("networks.list")
    longest_pause = RETRY_PAUSE_S * RETRY_JITTER[1]  # the pauses are spread at random (client.connection)
    assert 2.0 - 1e-6 <= clock.monotonic_s() - start <= 2.0 + longest_pause + 1e-6


def test_when_every_node_refuses_the_connection_the_client_gives_up_at_once():
    """Nothing listening anywhere: ServerUnreachable after ALL_REFUSED_ROUNDS rounds, not after the failover timeout."""
    clock = FakeClock()
    start = clock.monotonic_s()
    connection = Connection({1: ("127.0.0.1", free_port()), 2: ("127.0.0.1", free_port())}, failover_timeout_s=5.0, clock=clock)
    with pytest.raises(ServerUnreachable):
        connection.call("networks.list")
    assert clock.monotonic_s() - start <= ALL_REFUSED_ROUNDS * RETRY_PAUSE_S * RETRY_JITTER[1] + 1e-6


def test_an_interactive_sale_kept_in_the_queue_takes_its_id_date_and_time_from_the_clock(tmp_path):
    clock = FakeClock(start=LATE_EVENING)
    queue = SaleQueue(tmp_path / "queue.db", clock)
    console = Console(stdin=io.StringIO(lines("1", "10,50", "s", "1", "2,00", "s")), stdout=io.StringIO())
    interactive = Interactive(NoServerApi(), console, ZoneInfo("America/Sao_Paulo"), clock=clock, queue=queue)
    interactive._stores = [STORE]
    interactive.record_sale()
    clock.advance(24 * 3600)
    interactive.record_sale()
    first, second = queue.pending()
    assert (first.sold_on, first.queued_at, first.amount_cents) == (dt.date(2026, 11, 26), "2026-11-27T01:30:00+00:00", 1050)
    assert (second.sold_on, second.queued_at) == (dt.date(2026, 11, 27), "2026-11-28T01:30:00+00:00")
    assert sale_id_ms(first.sale_id) == int(LATE_EVENING.timestamp() * 1000)
    assert sale_id_ms(second.sale_id) == int(LATE_EVENING.timestamp() * 1000) + 24 * 3600 * 1000
    assert "(2 pendentes)" in console.stdout.getvalue()
    queue.close()


class ServerWithNoSalesApi(NoServerApi):
    """A server that answers, holding none of the seller's sales (those queued here have not been sent yet)."""

    def my_sales(self, start, end, limit: int = 100) -> dict:
        return {"total": "0.00", "count": 0, "sales": []}

    def stores(self) -> list[dict]:
        return [STORE]


@pytest.mark.parametrize("api, said", [
    (NoServerApi(), ["Neste caixa há 2 vendas pendentes deste período, ainda não enviadas (R$ 12,50)",
                     "Não foi possível falar com o servidor"]),
    (ServerWithNoSalesApi(), ["R$ 0,00 em 0 vendas", "Fora deste total: 2 vendas pendentes neste caixa, ainda não enviadas (R$ 12,50)"]),
])
def test_the_seller_s_sales_of_today_tell_the_ones_still_queued_on_this_till(tmp_path, api, said):
    """Today's list leaves out the sales queued here (the server has not got them): a line says how many and their sum,
    also when no server answers; a queued sale of another day is not counted."""
    clock = FakeClock(start=LATE_EVENING)  # 26/11/2026 in São Paulo
    queue = SaleQueue(tmp_path / "queue.db", clock)
    console = Console(stdin=io.StringIO(), stdout=io.StringIO())
    interactive = Interactive(api, console, ZoneInfo("America/Sao_Paulo"), clock=clock, queue=queue)
    interactive._stores = [STORE]
    for cents, day in ((1050, dt.date(2026, 11, 26)), (200, dt.date(2026, 11, 26)), (700, dt.date(2026, 11, 20))):
        queue.add(str(uuid.uuid4()), "12345678909", "token-1", STORE["id"], STORE["name"], cents, day)
    interactive.guard(interactive.sales_today)
    out = console.stdout.getvalue()
    assert all(line in out for line in said), out
    queue.close()


def test_the_script_s_sales_of_today_tell_the_ones_still_queued_on_this_till(tmp_path):
    """`sales` (a table) says below its total how many of the range's sales wait on this till, as the menu does."""
    clock = FakeClock(start=LATE_EVENING)  # 26/11/2026 in São Paulo
    queue = SaleQueue(tmp_path / "queue.db", clock)
    queue.add(str(uuid.uuid4()), "12345678909", "token-1", STORE["id"], STORE["name"], 1050, dt.date(2026, 11, 26))
    queue.add(str(uuid.uuid4()), "12345678909", "token-1", STORE["id"], STORE["name"], 700, dt.date(2026, 11, 20))
    config = load_client_config({"TIMEZONE": "America/Sao_Paulo"})
    out = io.StringIO()
    assert list_sales(build_parser().parse_args(["sales"]), ServerWithNoSalesApi(), out, config, clock, queue) == 0
    assert out.getvalue().splitlines()[-2:] == [
        "Total em 26/11/2026: R$ 0,00 em 0 vendas",
        "Fora deste total: 1 venda pendente neste caixa, ainda não enviada (R$ 10,50): vai assim que o servidor a aceitar "
        "(veja em Vendas pendentes)."], out.getvalue()
    queue.close()


def test_a_script_sale_kept_in_the_queue_takes_its_id_and_date_from_the_clock(tmp_path, capsys):
    clock = FakeClock(start=LATE_EVENING)
    queue = SaleQueue(tmp_path / "queue.db", clock)
    till = Till(tmp_path / "queue.offline.db", 24, clock)  # the seller signed in here with a server up, an hour ago
    till.remember({"cpf": "12345678909", "role": "seller", "name": "João", "store_ids": []}, "1234")
    api = TillApi(NoServerApi(signed_in=False), till)  # its connection finds no server
    config = load_client_config({"ONSELL_CPF": "12345678909", "ONSELL_PIN": "1234", "TIMEZONE": "America/Sao_Paulo"})
    args = build_parser().parse_args(["sale", "--store", STORE["id"], "--amount", "3,00"])
    assert record_sale(args, api, io.StringIO(), queue, config, clock) == EXIT_QUEUED
    (sale,) = queue.pending()
    assert (sale.seller_cpf, sale.sold_on, sale.queued_at) == ("12345678909", dt.date(2026, 11, 26), "2026-11-27T01:30:00+00:00")
    assert sale_id_ms(sale.sale_id) == int(LATE_EVENING.timestamp() * 1000)
    assert "venda guardada" in capsys.readouterr().err
    queue.close()
