"""Reports as scripts read them: `report over-time` (sales per day, week or month as bars), `--detail` breakdowns."""

import csv
import datetime as dt
import io
import json

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, run_client

from client import views
from client.cli import build_parser

MANAGER_ENV = {"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN}


def test_the_series_as_csv_adds_up_to_the_stores_total_and_as_a_table_shows_ticket_and_change(fresh_server):
    """CSV rows per week add up to store-total over the same range; the table has a bar per week, the average ticket
    and the change against the period before; dates in both formats."""
    server = fresh_server()
    store = api_for(server).stores()[0]
    today = dt.date.today()
    start = today - dt.timedelta(days=60)
    args = ["report", "over-time", "--period", "semana", "--store", store["cnpj"], "--from", f"{start:%d/%m/%Y}",
            "--to", today.isoformat()]
    as_csv = run_client([*args, "--format", "csv"], server.port, env=MANAGER_ENV)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows[0]["início"] == start.isoformat() and rows[-1]["fim"] == today.isoformat()
    assert all(dt.date.fromisoformat(r["início"]).weekday() == 0 for r in rows[1:])
    manager = api_for(server)
    manager.login(DEMO_MANAGER_CPF, DEMO_PIN)
    total = manager.report("store_total", start, today, store_id=store["id"])
    assert sum(views.cents_of(r["total"]) for r in rows) == views.cents_of(total["total"]) > 0
    assert sum(int(r["vendas"]) for r in rows) == total["count"]
    as_json = json.loads(run_client([*args, "--format", "json"], server.port, env=MANAGER_ENV).stdout)
    assert as_json["store"]["id"] == store["id"] and as_json["previous"]["to"] == (start - dt.timedelta(days=1)).isoformat()
    table = run_client(args, server.port, env=MANAGER_ENV)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0] == store["name"] and "Ticket médio" in table.stdout and "variação:" in table.stdout
    assert len([line for line in table.stdout.splitlines() if "█" in line]) >= 1


def test_two_subjects_are_a_wrong_command_line_and_a_bad_period_too(fresh_server):
    """--store with --network: exit 2 in Portuguese; --period year: exit 2; too many days for one series: says to group
    by week or month."""
    server = fresh_server()
    both = run_client(["report", "over-time", "--store", "x", "--network", "y"], server.port, env=MANAGER_ENV)
    assert both.returncode == 2 and "no máximo um" in both.stderr
    year = run_client(["report", "over-time", "--period", "year"], server.port, env=MANAGER_ENV)
    assert year.returncode == 2 and "período inválido" in year.stderr
    days = run_client(["report", "over-time", "--period", "dia", "--from", "01/01/2020"], server.port, env=MANAGER_ENV)
    assert days.returncode != 0 and "agrupe por semana ou mês" in days.stdout + days.stderr, (days.stdout, days.stderr)


def test_the_change_against_the_previous_period_is_said_with_an_arrow():
    """▲/▼ with one decimal and a comma; no previous sales is said in words; over ten times, in times."""
    assert views.change_against(46_332_150, 1_000) == "▲ mais de 10 vezes o período anterior (46332×)"
    assert build_parser().parse_args(["report", "best-store", "--no-pager"]).no_pager
    assert build_parser().parse_args(["--no-pager", "report", "best-store"]).no_pager
    assert not build_parser().parse_args(["report", "best-store"]).no_pager
    assert views.change_against(11_240, 10_000) == "▲ 12,4%"
    assert views.change_against(9_700, 10_000) == "▼ 3,0%"
    assert views.change_against(500, 500) == "= 0,0%"
    assert views.change_against(500, 0) == "sem vendas no período anterior"


def test_network_total_in_detail_lists_each_store_and_adds_up(fresh_server):
    """--detail: a table of the network's stores with the total above (and below only when the list is long, as in the
    menu); as CSV one row per store adding up."""
    server = fresh_server()
    table = run_client(["report", "network-total", "--network", "max atacado", "--detail"], server.port, env=MANAGER_ENV)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("MAX ATACADO em todo o período: R$") and "Ticket médio" in table.stdout
    assert lines.count(lines[0]) == 1 and len(lines) < 15, table.stdout  # the demo network's few stores: the total once
    as_csv = run_client(["report", "network-total", "--network", "max atacado", "--detail", "--format", "csv"], server.port,
                        env=MANAGER_ENV)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) >= 2 and sum(views.cents_of(r["total_loja"]) for r in rows) == views.cents_of(rows[0]["total"])
    wrong = run_client(["report", "best-store", "--detail"], server.port, env=MANAGER_ENV)
    assert wrong.returncode == 2 and "--detail" in wrong.stderr


@pytest.mark.parametrize("command, columns", [
    (["report", "best-seller"], ["posição", "nome", "id", "total", "vendas"]),
    (["sales", "--seller", DEMO_SELLER_CPF], ["data", "hora", "loja", "valor", "venda"]),
])
def test_a_list_with_no_sales_as_csv_is_its_header_alone(fresh_server, command, columns):
    """A range with no sales: the CSV has the list's columns and no row, as a program reading it expects."""
    server = fresh_server()
    done = run_client([*command, "--from", "01/01/2020", "--to", "31/12/2020", "--format", "csv"], server.port, env=MANAGER_ENV)
    assert done.returncode == 0, done.stderr
    reader = csv.DictReader(io.StringIO(done.stdout))
    assert list(reader) == [] and reader.fieldnames == columns


def test_counts_on_screen_have_thousands_separators():
    """A ranking's counts and a total's count read 12.345, as money does, not 12345."""
    entries = [{"seller": {"name": "Ana"}, "total": "123456.78", "count": 12345}]
    assert "12.345" in views.ranking("seller", entries) and "12345" not in views.ranking("seller", entries)
    assert views.total_text({"total": "123456.78", "count": 12345}) == "R$ 123.456,78 em 12.345 vendas, ticket médio R$ 10,00"
