"""`import sales FILE.csv` against a real server: both formats of amounts and dates, refusals, re-runs, interruption."""

import contextlib
import datetime as dt
import io
import threading

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER2_CPF, DEMO_SELLER_CPF, free_port

from client import cli, history, sales_import
from client.api import Api
from client.commands import IMPORT_FAILOVER_TIMEOUT_S
from client.views import cents_of
from models.money import thousands

MANAGER = {"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN}
STORE_CNPJ, STORE2_CNPJ = "11223444000102", "11.224.555/0001-33"


def run(server, tmp_path, *args, monkeypatch, who: dict = MANAGER) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {"CLUSTER": f"1=127.0.0.1:{server.port}", "ONSELL_QUEUE": str(tmp_path / "queue.db"), **who}
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["import", "sales", *args], env=env)
    return code, out.getvalue(), err.getvalue()


def seller_total(server, cpf: str, start=None) -> tuple[int, int]:
    api = api_for(server)
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    seller = next(s for s in api.sellers() if s["cpf"] == cpf)
    answer = api.report("seller_total", start, None, seller_id=seller["id"])
    return cents_of(answer["total"]), answer["count"]


def test_a_history_file_goes_in_once_with_its_bad_lines_refused_and_listed(fresh_server, tmp_path, monkeypatch):
    """Portuguese header, ';', decimal comma and dd/mm/aaaa, ISO and dot too, masked CPF, no id column values; five bad
    lines (unknown CPF refused by the server, future day, bad amount, a day that does not exist, wrong CNPJ) listed with
    their line; the second run imports nothing and changes no total."""
    server = fresh_server()
    today = dt.date.today()
    old = today - dt.timedelta(days=900)
    lines = ["id;cpf;cnpj;valor;data",
             f";{DEMO_SELLER_CPF};{STORE_CNPJ};1.234,56;{old:%d/%m/%Y}",
             f";123.456.789-09;{STORE2_CNPJ};10.5;{old.isoformat()}",
             f";{DEMO_SELLER_CPF};{STORE_CNPJ};1.234,56;{old:%d/%m/%Y}",  # the same sale again on another line: another sale
             f";52998224725;{STORE_CNPJ};5,00;{old:%d/%m/%Y}",
             f";{DEMO_SELLER_CPF};{STORE_CNPJ};5,00;{today + dt.timedelta(days=1):%d/%m/%Y}",
             f";{DEMO_SELLER_CPF};{STORE_CNPJ};cinco;{old:%d/%m/%Y}",
             f";{DEMO_SELLER_CPF};{STORE_CNPJ};5,00;31/02/2020",
             f";{DEMO_SELLER_CPF};11222333000199;5,00;{old:%d/%m/%Y}",
             ""]
    path = tmp_path / "vendas.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    before = seller_total(server, DEMO_SELLER_CPF)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert code == 1 and out == "Vendas: 3 importadas, 0 já existiam, 5 recusadas.\n", (out, err)
    for line in (5, 6, 7, 8, 9):
        assert f"linha {line}: " in err, err
    assert "(servidor)" in err.split("linha 5: ")[1].splitlines()[0]
    errors = (tmp_path / "vendas.erros.csv").read_text(encoding="utf-8").splitlines()
    assert errors[0] == "linha;motivo;id;cpf;cnpj;valor;data" and [e.split(";")[0] for e in errors[1:]] == ["5", "6", "7", "8", "9"]
    assert "no mesmo lugar, sem apagar nem mover linhas" in err  # how to bring the refused lines in without doubles
    after = seller_total(server, DEMO_SELLER_CPF)
    assert after == (before[0] + 2 * 123456 + 1050, before[1] + 3)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert out == "Vendas: 0 importadas, 3 já existiam, 5 recusadas.\n" and seller_total(server, DEMO_SELLER_CPF) == after
    lines[6] = f";{DEMO_SELLER_CPF};{STORE_CNPJ};5,00;{old:%d/%m/%Y}"  # line 7 fixed in place, as the hint says
    path.write_text("\n".join(lines), encoding="utf-8")
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert out == "Vendas: 1 importada, 3 já existiam, 4 recusadas.\n", (out, err)
    assert seller_total(server, DEMO_SELLER_CPF) == (after[0] + 500, after[1] + 1)


def test_an_interrupted_import_run_again_finishes_with_every_sale_once(fresh_server, tmp_path, monkeypatch):
    """Ctrl+C during the second batch: what went in stays; the second run imports the rest; totals count each sale once."""
    server = fresh_server()
    monkeypatch.setattr(sales_import, "BATCH_ROWS", 4)
    old = dt.date.today() - dt.timedelta(days=400)
    rows = [f";{DEMO_SELLER2_CPF};{STORE_CNPJ};{n},00;{(old + dt.timedelta(days=n % 30)).isoformat()}" for n in range(1, 11)]
    path = tmp_path / "vendas.csv"
    path.write_text("cpf;cnpj;valor;data\n" + "\n".join(r.lstrip(";") for r in rows) + "\n", encoding="utf-8")  # no id column
    before = seller_total(server, DEMO_SELLER2_CPF)
    real = Api.import_sales
    calls = []

    def interrupted_on_the_second_batch(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(Api, "import_sales", interrupted_on_the_second_batch)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert code == 1 and out.startswith("Vendas: 4 importadas") and "rode de novo o mesmo arquivo" in err
    monkeypatch.setattr(Api, "import_sales", real)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert code == 0 and out == "Vendas: 6 importadas, 4 já existiam, 0 recusadas.\n", (out, err)
    assert seller_total(server, DEMO_SELLER2_CPF) == (before[0] + sum(range(1, 11)) * 100, before[1] + 10)
    assert not (tmp_path / "vendas.erros.csv").exists()


def test_ctrl_c_while_a_batch_is_at_the_server_waits_for_it_so_the_summary_counts_what_went_in(fresh_server, tmp_path,
                                                                                               monkeypatch):
    """Ctrl+C in the command while another batch is being written: its answer is waited for and counted."""
    server = fresh_server()
    monkeypatch.setattr(sales_import, "BATCH_ROWS", 4)
    old = dt.date.today() - dt.timedelta(days=400)
    path = tmp_path / "vendas.csv"
    path.write_text("cpf;cnpj;valor;data\n" + "".join(f"{DEMO_SELLER2_CPF};{STORE_CNPJ};{n},00;{old.isoformat()}\n"
                                                      for n in range(1, 21)), encoding="utf-8")
    before = seller_total(server, DEMO_SELLER2_CPF)
    real, calls, shows = Api.import_sales, [], []

    def slowly(self, batch):
        calls.append(len(batch))
        if len(calls) > 1:
            threading.Event().wait(0.5)  # the second batch is still at the server when Ctrl+C comes
        return real(self, batch)

    def ctrl_c_after_the_first_batch(self, rows, done_bytes):
        shows.append(rows)
        raise KeyboardInterrupt

    monkeypatch.setattr(Api, "import_sales", slowly)
    monkeypatch.setattr(history.Progress, "show", ctrl_c_after_the_first_batch)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    went_in = seller_total(server, DEMO_SELLER2_CPF)[1] - before[1]
    assert out == f"Vendas: {went_in} importadas, 0 já existiam, 0 recusadas.\n" and went_in > 4, (out, went_in)
    assert code == 1 and shows and "esperando a resposta" in err, err


@pytest.mark.parametrize("content, message", [
    (b"", "vazio"), (b"nome;idade\nx;1\n", "coluna desconhecida"), (b"cpf;cnpj;valor;data\n\x81\x8d;x\n", "UTF-8"),
    (b"cpf;cnpj;valor;data\n" + "São;x\n".encode() + "Jo\u00e3o;x\n".encode("cp1252"), "UTF-8"),
])
def test_a_file_that_cannot_be_read_is_one_line_and_exit_1(fresh_server, tmp_path, monkeypatch, content, message):
    server = fresh_server()
    path = tmp_path / "ruim.csv"
    path.write_bytes(content)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert code == 1 and message in err and "Traceback" not in err


def test_a_line_past_the_start_in_another_encoding_stops_the_import_naming_it(fresh_server, tmp_path, monkeypatch):
    """The encoding is told from the file's start (ENCODING_SNIFF_BYTES, made small here): a later line it cannot read
    stops the import, and the message names that line and says to fix the file (running it again as it is would stop
    there again)."""
    monkeypatch.setattr(history, "ENCODING_SNIFF_BYTES", 256)
    old = dt.date.today() - dt.timedelta(days=30)
    rows = [f";{DEMO_SELLER_CPF};{STORE_CNPJ};{n},00;{old:%d/%m/%Y}" for n in range(1, 301)]  # past what is read at once
    path = tmp_path / "vendas.csv"
    path.write_bytes(("cpf;cnpj;valor;data\n" + "\n".join(r.lstrip(";") for r in rows) + "\n").encode()
                     + f"{DEMO_SELLER_CPF};{STORE_CNPJ};5,00;{old:%d/%m/%Y};Conceição\n".encode("cp1252")
                     + f"{DEMO_SELLER_CPF};{STORE_CNPJ};6,00;{old:%d/%m/%Y}\n".encode())
    code, out, err = run(fresh_server(), tmp_path, str(path), monkeypatch=monkeypatch)
    assert code == 1 and "a linha 302 não está em UTF-8, como o começo do arquivo" in err, err
    assert "corrija o arquivo e rode-o de novo" in err and "Traceback" not in err, err


def test_a_manager_s_cpf_in_a_sales_file_is_told_as_a_manager_s(fresh_server, tmp_path, monkeypatch):
    server = fresh_server()
    path = tmp_path / "vendas.csv"
    path.write_text(f"cpf;cnpj;valor;data\n{DEMO_MANAGER_CPF};{STORE_CNPJ};10,00;01/03/2025\n", encoding="utf-8")
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert code == 1 and "linha 2: CPF: este CPF é de um gerente, não de um vendedor (servidor)" in err, err


def test_a_windows_1252_file_as_excel_saves_csv_is_imported(fresh_server, tmp_path, monkeypatch):
    """Excel's "CSV" on a Brazilian Windows: Windows-1252 (the header's "Código" is one byte for "ó"), ';', CRLF."""
    server = fresh_server()
    old = dt.date.today() - dt.timedelta(days=400)
    path = tmp_path / "vendas.csv"
    path.write_bytes((f"Código;CPF;CNPJ;Valor;Data\r\n;{DEMO_SELLER_CPF};{STORE_CNPJ};1.234,56;{old:%d/%m/%Y}\r\n"
                      f";{DEMO_SELLER_CPF};{STORE_CNPJ};dez reais;{old:%d/%m/%Y}\r\n").encode("cp1252"))
    before = seller_total(server, DEMO_SELLER_CPF)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert out == "Vendas: 1 importada, 0 já existiam, 1 recusada.\n" and code == 1, (out, err)
    assert seller_total(server, DEMO_SELLER_CPF) == (before[0] + 123456, before[1] + 1)
    errors = (tmp_path / "vendas.erros.csv").read_text(encoding="utf-8")
    assert errors.startswith("\ufefflinha;motivo;Código;CPF;CNPJ;Valor;Data"), errors[:80]  # UTF-8 that Excel reads right


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_rows_per_second_and_time_left_on_a_terminal_and_plain_lines_elsewhere():
    """Half the file in 10 s at 5,000 rows: 50%, 500 linhas/s, 0:10 left; not a terminal: a line only every 5 s."""
    from client.history import Progress
    from runtime.clock import FakeClock
    clock = FakeClock()
    terminal = Progress(Terminal(), 1000, clock)
    clock.advance(10)
    assert terminal.line(5000, 500) == "████████████░░░░░░░░░░░░  50.0%  5.000 linhas  500 linhas/s  faltam 0:10"
    plain_out = io.StringIO()
    plain = Progress(plain_out, 1000, clock)
    plain.show(10, 100)
    clock.advance(5)
    plain.show(20, 200)
    assert plain_out.getvalue().count("\n") == 1 and "\r" not in plain_out.getvalue()


def test_the_bar_shows_the_part_of_the_file_whose_rows_were_told_not_the_part_read_ahead(fresh_server, tmp_path, monkeypatch):
    """The file is read batches ahead of the answers: each step of the bar is where the rows told so far end in the file."""
    server = fresh_server()
    monkeypatch.setattr(sales_import, "BATCH_ROWS", 2_000)
    old = dt.date.today() - dt.timedelta(days=400)
    rows = 12_000
    path = tmp_path / "vendas.csv"
    path.write_text("cpf;cnpj;valor;data\n" + "".join(f"{DEMO_SELLER2_CPF};{STORE_CNPJ};{n % 900 + 100},00;{old.isoformat()}\n"
                                                      for n in range(rows)), encoding="utf-8")
    total, shown, real = path.stat().st_size, [], history.Progress.show

    def recorded(self, told, done_bytes):
        shown.append((told, done_bytes))
        real(self, told, done_bytes)

    monkeypatch.setattr(history.Progress, "show", recorded)
    code, out, _ = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert code == 0 and out == f"Vendas: {thousands(rows)} importadas, 0 já existiam, 0 recusadas.\n"
    assert len(shown) >= 5 and shown[-1][0] == rows
    for told, done_bytes in shown:  # the rows' lines are alike: their share of the file is their share of the rows
        assert abs(done_bytes / total - told / rows) < 0.05, (told, done_bytes, total)


def test_values_seen_on_earlier_lines_are_still_checked_on_each_line(monkeypatch):
    """A file's CPFs, CNPJs, amounts and days are checked once each and remembered (a few at a time here): every line still
    gets its own row or refusal, and cells missing or extra are told as before, whatever the column order."""
    monkeypatch.setattr(sales_import, "KNOWN_VALUES_MAX", 2)
    today = dt.date(2026, 11, 27)
    lines = ["data;valor;cnpj;cpf", f"01/02/2025;10,5;{STORE_CNPJ};{DEMO_SELLER_CPF}", f"28/11/2026;10,5;{STORE_CNPJ};{DEMO_SELLER_CPF}",
             f"28/11/2026;7;{STORE_CNPJ};{DEMO_SELLER_CPF}", f"2025-02-01;1.234,56;{STORE_CNPJ};52998224726",
             f"2025-02-01;3.5;{STORE_CNPJ};52998224726", ";;;", f"01/02/2025;1234;{STORE_CNPJ};{DEMO_SELLER_CPF};;",
             f"01/02/2025;1234;{STORE_CNPJ};{DEMO_SELLER_CPF};x", f"01/02/2025;1234;{STORE_CNPJ}",
             f"01/02/2025;10,5;{STORE2_CNPJ};{DEMO_SELLER_CPF}"]
    _, items = sales_import.read_sales(iter(line + "\n" for line in lines), today)
    told = [(item.number, item.row["amount"] + " " + item.row["sold_on"] if hasattr(item, "row") else item.reason) for item in items]
    assert told == [(2, "10.50 2025-02-01"), (3, "data no futuro: 28/11/2026"), (4, "data no futuro: 28/11/2026"),
                    (5, "CPF inválido"), (6, "CPF inválido"),
                    (8, "1234.00 2025-02-01"), (9, "colunas a mais: esperadas 4, encontradas 5"),
                    (10, "colunas a menos: esperadas 4, encontradas 3"), (11, "10.50 2025-02-01")]


def test_the_next_batch_is_at_the_server_while_the_previous_one_is(fresh_server, tmp_path, monkeypatch):
    """With batches in flight (IMPORT_BATCHES_IN_FLIGHT, 4 by default) a batch is sent before the previous one is answered, on another
    connection; but a batch that shares a sale_id with one at the server waits for its answer, so the row refused is the
    later one, as one batch at a time would have it; the totals count each sale once. Each connection waits for an answer
    as long as a batch may take (IMPORT_FAILOVER_TIMEOUT_S), not the 15 s of a sale: a resend would count its rows twice."""
    server = fresh_server()
    monkeypatch.setattr(sales_import, "BATCH_ROWS", 2)
    day = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    same = "0b7f0f6e-3f5e-4d53-9a43-2f1b0e6f1a01"
    lines = [f"{same};{DEMO_SELLER2_CPF};{STORE_CNPJ};1,00;{day}", f";{DEMO_SELLER2_CPF};{STORE_CNPJ};2,00;{day}",
             f";{DEMO_SELLER2_CPF};{STORE_CNPJ};3,00;{day}", f"{same};{DEMO_SELLER2_CPF};{STORE_CNPJ};4,00;{day}",
             f";{DEMO_SELLER2_CPF};{STORE_CNPJ};5,00;{day}", f";{DEMO_SELLER2_CPF};{STORE_CNPJ};6,00;{day}"]
    path = tmp_path / "vendas.csv"
    path.write_text("id;cpf;cnpj;valor;data\n" + "\n".join(lines) + "\n", encoding="utf-8")
    before = seller_total(server, DEMO_SELLER2_CPF)
    real = Api.import_sales
    first_answered, third_sent = threading.Event(), threading.Event()
    seen, connections, waits = [], set(), []

    def second_waits_for_the_third(self, batch):
        connections.add(id(self.connection))
        waits.append(self.connection.call_timeout_s)
        if batch[0]["amount"] == "3.00":  # the second batch shares an id with the first: sent once that one was answered
            seen.append(first_answered.is_set())
            seen.append(third_sent.wait(timeout=10))
        elif batch[0]["amount"] == "5.00":
            third_sent.set()
        answer = real(self, batch)
        if batch[0]["amount"] == "1.00":
            first_answered.set()
        return answer

    monkeypatch.setattr(Api, "import_sales", second_waits_for_the_third)
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch)
    assert seen == [True, True] and len(connections) >= 2, (seen, connections)
    assert min(waits) >= IMPORT_FAILOVER_TIMEOUT_S, waits
    assert code == 1 and out == "Vendas: 5 importadas, 0 já existiam, 1 recusada.\n", (out, err)
    assert "linha 5: id: este id já é de outra venda (servidor)" in err, err
    assert seller_total(server, DEMO_SELLER2_CPF) == (before[0] + 1700, before[1] + 5)


def test_batches_in_flight_come_from_the_settings_table_and_a_bad_value_is_one_portuguese_line(tmp_path):
    from client.config import ClientConfigError, load_client_config
    from runtime.settings import default_int
    base = {"XDG_DATA_HOME": str(tmp_path)}
    assert load_client_config(base).import_in_flight == default_int("IMPORT_BATCHES_IN_FLIGHT") == 4
    assert load_client_config({**base, "IMPORT_BATCHES_IN_FLIGHT": "1"}).import_in_flight == 1
    for bad in ("0", "dois", "-1"):
        with pytest.raises(ClientConfigError) as refused:
            load_client_config({**base, "IMPORT_BATCHES_IN_FLIGHT": bad})
        assert str(refused.value).startswith(f"configuração inválida: IMPORT_BATCHES_IN_FLIGHT {bad!r} deve ser um número inteiro")


def test_a_seller_importing_is_told_only_that_it_is_not_allowed(fresh_server, tmp_path, monkeypatch):
    """A seller's import is refused before the file is read: the refusal alone, with no summary, no line refused, no
    advice to run it again, and the manager's errors file beside it left as it was (before: a file with a bad line
    was checked, its errors file written again, and the refusal came last)."""
    server = fresh_server()
    path = tmp_path / "vendas.csv"
    path.write_text(f"cpf;cnpj;valor;data\n{DEMO_SELLER_CPF};{STORE_CNPJ};10,00;01/03/2025\n{DEMO_SELLER_CPF};x;y;z\n",
                    encoding="utf-8")
    errors = tmp_path / "vendas.erros.csv"
    errors.write_text("what a manager's run left\n", encoding="utf-8")
    code, out, err = run(server, tmp_path, str(path), monkeypatch=monkeypatch, who={"ONSELL_CPF": DEMO_SELLER_CPF, "ONSELL_PIN": DEMO_PIN})
    assert code != 0 and "só gerentes" in out + err, (out, err)
    assert "Vendas:" not in out and "rode de novo" not in err and "linha" not in err, (out, err)
    assert errors.read_text(encoding="utf-8") == "what a manager's run left\n"


def test_a_missing_file_is_said_as_such_with_no_server_to_ask(tmp_path, monkeypatch):
    """The file is opened and its header read before signing in: a wrong path is exit 1 and says so, server or not."""
    class NoServer:
        port = free_port()
    code, out, err = run(NoServer(), tmp_path, str(tmp_path / "nao_existe.csv"), monkeypatch=monkeypatch)
    assert code == 1 and "não foi possível ler" in err and "servidor" not in err, (out, err)


def test_a_date_with_a_time_after_it_counts_as_its_day_and_a_time_with_a_zone_is_refused():
    """A spreadsheet's date-and-time cell: "10/11/2025 14:30", "2025-11-10T14:30:00" are 10/11/2025; with a zone
    ("...Z") its day could be another here, so the line is refused; so is a time that cannot be (a corrupt cell)."""
    text = io.StringIO("cpf;cnpj;valor;data\n" + "".join(f"{DEMO_SELLER_CPF};{STORE_CNPJ};1,00;{day}\n" for day in (
        "10/11/2025 14:30", "2025-11-10T14:30:00", "10/11/2025 9:05:59", "2025-11-10T14:30:00Z", "13/11/2025 14:30 -03:00",
        "10/11/2025 99:99", "10/11/2025 24:00")))
    _, items = sales_import.read_sales(text, dt.date(2026, 11, 28))
    items = list(items)
    assert [item.row["sold_on"] for item in items[:3]] == ["2025-11-10"] * 3
    assert [item.reason.split(":")[0] for item in items[3:]] == ["data com fuso horário"] * 2 + ["data inválida"] * 2, items[3:]
