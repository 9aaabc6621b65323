"""The catalogue import files (client/imports.py), and the import run against a fake API: no server, no sockets."""

import csv
import importlib.util
import io
import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, run_client

from client import imports
from client.commands import CommandError, Context, run_import
from client.config import load_client_config
from client.connection import ServerUnreachable
from client.imports import STORES, USERS, Good, ImportFileError, parse_file
from models.documents import cnpj_check_digits, cpf_check_digits, format_cnpj, format_cpf
from runtime.clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent
YEAR = 2026
CNPJ_A, CNPJ_B, CNPJ_C = "11222333000181", "45723174000110", "11444777000161"
CPF_A, CPF_B, CPF_C = "52998224725", "39053344705", "11144477735"


def parse(kind: str, text: str, bom: bool = False) -> imports.ParsedFile:
    return parse_file(kind, (imports.BOM if bom else "").encode() + text.encode("utf-8"), YEAR)


def reasons(parsed) -> dict[int, str]:
    return {r.number: r.reason for r in parsed.refused}


# -- separators, BOM, headers ----------------------------------------------------------------

@pytest.mark.parametrize("separator", [";", ","])
def test_either_separator_is_found_from_the_header(separator):
    text = separator.join(["rede", "loja", "cnpj"]) + "\n" + separator.join(["MAX ATACADO", "Loja Um", CNPJ_A]) + "\n"
    parsed = parse(STORES, text)
    assert parsed.separator == separator and not parsed.refused
    assert [g.row for g in parsed.good] == [{"network": "MAX ATACADO", "name": "Loja Um", "cnpj": CNPJ_A}]


def test_a_comma_file_may_quote_a_name_holding_a_comma_and_a_semicolon_file_needs_no_quotes():
    commas = parse(STORES, f'rede,loja,cnpj\nREDE,"Atacadão, Centro",{format_cnpj(CNPJ_A)}\n')
    semicolons = parse(STORES, f"rede;loja;cnpj\nREDE;Atacadão, Centro;{format_cnpj(CNPJ_A)}\n")
    assert commas.good[0].row["name"] == semicolons.good[0].row["name"] == "Atacadão, Centro"
    broken = parse(STORES, f'rede,loja,cnpj\nREDE,"Atacadão, Centro,{CNPJ_A}\n')
    assert reasons(broken) == {2: "aspas sem fechamento"}


def test_a_bom_is_skipped_and_remembered_for_the_errors_file():
    parsed = parse(USERS, f"cpf;nome;ano_nascimento;perfil\n{CPF_A};Ana Souza;1990;vendedor\n{CPF_B};X;1990;vendedor\n", bom=True)
    assert parsed.bom and [g.row["cpf"] for g in parsed.good] == [CPF_A]
    errors = imports.errors_csv(parsed, parsed.refused)
    assert errors.startswith(imports.BOM + "linha;motivo;cpf;nome;ano_nascimento;perfil\r\n")
    assert not imports.errors_csv(parse(USERS, f"cpf;nome;ano_nascimento;perfil\n{CPF_A};A;1990;vendedor\n"), []).startswith(imports.BOM)


@pytest.mark.parametrize("header", [
    "rede;loja;cnpj", "Rede;Loja;CNPJ", "network;store;cnpj", "Network;Name;CNPJ", "cnpj;rede;nome", " REDE ; Loja ; cnpj ",
])
def test_store_headers_in_portuguese_or_english_any_case_and_order(header):
    columns = [c.strip().casefold() for c in header.split(";")]
    values = {"rede": "REDE X", "network": "REDE X", "cnpj": CNPJ_A} | dict.fromkeys(("loja", "store", "name", "nome"), "Loja X")
    parsed = parse(STORES, header + "\n" + ";".join(values[c] for c in columns) + "\n")
    assert [g.row for g in parsed.good] == [{"network": "REDE X", "name": "Loja X", "cnpj": CNPJ_A}]


@pytest.mark.parametrize("header", [
    "cpf;nome;ano_nascimento;perfil;pin", "CPF;Nome;Ano de nascimento;Perfil;PIN", "cpf,name,birth_year,role,pin",
    "cpf;nome;ano-nascimento;perfil", "perfil;cpf;nome;nascimento",
])
def test_user_headers_in_portuguese_or_english(header):
    separator = "," if "," in header else ";"
    values = {"cpf": CPF_A, "nome": "Ana Souza", "name": "Ana Souza", "perfil": "gerente", "role": "gerente", "pin": "2580"}
    cells = [values.get(imports._key(c), "1990") for c in header.split(separator)]
    parsed = parse(USERS, header + "\n" + separator.join(cells) + "\n")
    assert not parsed.refused, parsed.refused
    expected = {"cpf": CPF_A, "name": "Ana Souza", "birth_year": 1990, "role": "manager"}
    assert parsed.good[0].row == (expected | {"pin": "2580"} if "pin" in header.casefold() else expected)


@pytest.mark.parametrize("text, message", [
    ("", "o arquivo está vazio"),
    ("\n\n", "o arquivo está vazio"),
    ("rede;loja;cnpjj\n", "coluna desconhecida no cabeçalho: 'cnpjj' (esperado: rede;loja;cnpj)"),
    ("rede;loja\n", "falta no cabeçalho: cnpj"),
    ("rede;loja;nome;cnpj\n", "coluna repetida no cabeçalho: 'nome'"),
    (f"MAX;Loja;{CNPJ_A}\n", "coluna desconhecida no cabeçalho: 'MAX'"),
])
def test_a_file_without_a_usable_header_is_refused_as_a_whole(text, message):
    with pytest.raises(ImportFileError) as caught:
        parse(STORES, text)
    assert str(caught.value).startswith(message)


def test_a_file_with_utf8_and_other_bytes_is_refused_naming_the_first_bad_line():
    """A UTF-8 file with one line saved in another encoding is not read as Windows-1252 (its "ã" would become "Ã£")."""
    data = "rede;loja;cnpj\nREDE;São Paulo;11222333000181\n".encode("utf-8") + "REDE;Atacadão;45723174000110\n".encode("cp1252")
    with pytest.raises(ImportFileError, match=r"mistura UTF-8 \(linha 2\) com outra codificação \(linha 3\)"):
        parse_file(STORES, data, YEAR)
    data = "rede;loja;cnpj\nREDE;Atacadão;45723174000110\n".encode("cp1252") + "REDE;São Paulo;11222333000181\n".encode("utf-8")
    with pytest.raises(ImportFileError, match=r"mistura UTF-8 \(linha 3\) com outra codificação \(linha 2\)"):
        parse_file(STORES, data, YEAR)  # Windows-1252 first, one line of UTF-8 after: both lines named


def test_a_windows_1252_file_as_excel_saves_csv_is_read_with_its_accents_and_its_errors_file_gets_a_bom():
    data = "Rede;Loja;CNPJ\r\nMAX ATACADÃO;São José\xa0Nº 2;11222333000181\r\nREDE;Ótica;123\r\n".encode("cp1252")
    parsed = parse_file(STORES, data, YEAR)  # "é" then a non-breaking space is two bytes that could start UTF-8: not one
    assert [(row["network"], row["name"]) for row in (g.row for g in parsed.good)] == [("MAX ATACADÃO", "São José Nº 2")]
    assert [r.number for r in parsed.refused] == [3] and parsed.bom  # the errors file (UTF-8) opens right in Excel


@pytest.mark.parametrize("data", [b"rede;loja;cnpj\nR;Loja \x81;11222333000181\n", b"rede;loja;cnpj\n\x8d\x8f\n"])
def test_bytes_that_are_neither_utf8_nor_windows_1252_are_refused_whole(data):
    with pytest.raises(ImportFileError, match=r"não está em UTF-8 nem em Windows-1252 \(linha 2\)"):
        parse_file(STORES, data, YEAR)


def test_a_character_cut_at_the_end_of_a_file_s_first_part_is_still_utf8():
    head = "id;cpf;cnpj;valor;data\n;Conceiçã".encode("utf-8")[:-1]  # "ã" cut in two by the part read
    assert imports.encoding_of(head, whole=False) == imports.UTF8
    with pytest.raises(ImportFileError):
        imports.encoding_of(head, whole=True)


# -- lines: masked or bare, blank, bad, repeated ---------------------------------------------

def test_masked_and_bare_documents_are_sent_bare():
    stores = parse(STORES, f"rede;loja;cnpj\nR1;Loja A;{format_cnpj(CNPJ_A)}\nR1;Loja B;{CNPJ_B}\n")
    users = parse(USERS, f"cpf;nome;ano_nascimento;perfil\n{format_cpf(CPF_A)};Ana Souza;1990;vendedor\n{CPF_B};Rui Lima;1980;gerente\n")
    assert [g.row["cnpj"] for g in stores.good] == [CNPJ_A, CNPJ_B]
    assert [g.row["cpf"] for g in users.good] == [CPF_A, CPF_B]


def test_blank_and_empty_spreadsheet_lines_are_skipped_and_line_numbers_stay_the_files():
    text = (f"\nrede;loja;cnpj\r\n\r\nR1;Loja A;{CNPJ_A}\r\n;;\r\n   \r\nR1;Loja B;00000000000000\r\n;;;\r\nR1;Loja C;{CNPJ_B};\r\n")
    parsed = parse(STORES, text)
    assert [g.number for g in parsed.good] == [4, 9]  # the trailing ';' (an empty extra cell) is fine
    assert reasons(parsed) == {7: "CNPJ inválido"}  # one digit repeated is no CNPJ


def test_each_bad_store_line_is_refused_with_its_number_and_a_portuguese_reason():
    wrong_check = CNPJ_A[:-1] + str((int(CNPJ_A[-1]) + 1) % 10)
    text = "\n".join([
        "rede;loja;cnpj",
        f"R1;Loja A;{CNPJ_A}",          # 2: fine
        f"R1;Loja B;{wrong_check}",     # 3
        f"R1;L;{CNPJ_B}",               # 4
        f";Loja D;{CNPJ_B}",            # 5
        "R1;Loja E;",                   # 6
        f"R1;Loja F;{CNPJ_A}",          # 7: the CNPJ of line 2
        f"R1;Loja G;{CNPJ_C};extra",    # 8
        "R1;Loja H",                    # 9
        f"R1;Loja I;{CNPJ_C[1:]}",      # 10: a leading digit lost
        "R1;Loja J;1,12223E+13",        # 11: a spreadsheet's number
        f"R1;{'x' * 101};{CNPJ_C}",     # 12
        f"R1;Loja\tK;{CNPJ_C}",         # 13: a tab is folded like any space
    ]) + "\n"
    parsed = parse(STORES, text)
    assert reasons(parsed) == {
        3: "CNPJ inválido",
        4: "nome da loja inválido: deve ter de 2 a 100 caracteres",
        5: "nome da rede em branco",
        6: "CNPJ em branco",
        7: "CNPJ repetido no arquivo (já na linha 2)",
        8: "colunas a mais: esperadas 3, encontradas 4",
        9: "colunas a menos: esperadas 3, encontradas 2",
        10: "CNPJ inválido: tem 13 dígitos, não 14 (a planilha pode ter tirado zeros à esquerda)",
        11: "CNPJ inválido: a planilha o converteu em número (1,12223E+13); formate a coluna como texto",
        12: "nome da loja inválido: deve ter de 2 a 100 caracteres",
    }
    assert [(g.number, g.row["name"]) for g in parsed.good] == [(2, "Loja A"), (13, "Loja K")]
    assert parsed.refused[0].fields == ["R1", "Loja B", wrong_check]  # kept as read, for the errors file


def test_each_bad_user_line_is_refused_with_its_number_and_a_portuguese_reason():
    text = "\n".join([
        "cpf;nome;ano_nascimento;perfil;pin",
        f"{CPF_A};Ana Souza;1990;vendedor;",          # 2: fine, no PIN
        f"{CPF_B};Rui Lima;1990.0;vendedor;",         # 3: a spreadsheet's decimal
        f"{CPF_C};Rui Lima;1990,5;vendedor;",         # 4
        f"{CPF_C};Rui Lima;1899;vendedor;",           # 5
        f"{CPF_C};Rui Lima;2013;vendedor;",           # 6: younger than 14 in 2026
        f"{CPF_C};Rui Lima;1990;admin;",              # 7
        f"{CPF_C};Rui Lima;1990;;",                   # 8
        f"{CPF_C};Rui Lima;1990;vendedor;472",        # 9: a PIN that lost its leading zero
        f"{CPF_C};Rui Lima;1990;vendedor;1234",       # 10: weak
        f"{CPF_C};Rui Lima;1990;vendedor;12a45",      # 11
        f"{CPF_A[1:]};Rui Lima;1990;vendedor;",       # 12: a CPF that lost its leading digit
        f"{format_cpf(CPF_A)};Ana Outra;1991;gerente;",  # 13: the CPF of line 2, masked
        "5,29982E+10;Rui Lima;1990;vendedor;",        # 14
        f"{CPF_C};Rui Lima;;vendedor;",               # 15
        f"{CPF_C};Rui Lima;1990;Gerente;90210",       # 16: fine
    ]) + "\n"
    parsed = parse(USERS, text)
    assert reasons(parsed) == {
        3: "ano de nascimento inválido: '1990.0' (use 4 dígitos, como 1990)",
        4: "ano de nascimento inválido: '1990,5' (use 4 dígitos, como 1990)",
        5: "ano de nascimento fora do intervalo: de 1900 a 2012",
        6: "ano de nascimento fora do intervalo: de 1900 a 2012",
        7: "perfil inválido: 'admin' (use vendedor ou gerente)",
        8: "perfil em branco: use vendedor ou gerente",
        9: "PIN inválido: deve ter de 4 a 8 dígitos (a planilha pode ter tirado zeros à esquerda)",
        10: "PIN fraco (um dígito repetido ou uma sequência, como 1111 ou 1234)",
        11: "PIN inválido: deve ter de 4 a 8 dígitos",
        12: "CPF inválido: tem 10 dígitos, não 11 (a planilha pode ter tirado zeros à esquerda)",
        13: "CPF repetido no arquivo (já na linha 2)",
        14: "CPF inválido: a planilha o converteu em número (5,29982E+10); formate a coluna como texto",
        15: "ano de nascimento em branco",
    }
    assert [(g.number, g.row) for g in parsed.good] == [
        (2, {"cpf": CPF_A, "name": "Ana Souza", "birth_year": 1990, "role": "seller"}),
        (16, {"cpf": CPF_C, "name": "Rui Lima", "birth_year": 1990, "role": "manager", "pin": "90210"}),
    ]


@pytest.mark.parametrize("word, role", [
    ("vendedor", "seller"), ("Vendedora", "seller"), ("SELLER", "seller"), ("gerente", "manager"), (" Gerente ", "manager"),
    ("manager", "manager"),
])
def test_role_synonyms(word, role):
    assert imports.parse_role_word(word.strip()) == role


def test_a_missing_optional_pin_cell_is_no_pin_but_a_missing_required_cell_is_refused():
    parsed = parse(USERS, f"cpf;nome;ano_nascimento;perfil;pin\n{CPF_A};Ana Souza;1990;vendedor\n{CPF_B};Rui Lima;1990\n")
    assert parsed.good[0].row == {"cpf": CPF_A, "name": "Ana Souza", "birth_year": 1990, "role": "seller"}
    assert reasons(parsed) == {3: "colunas a menos: esperadas 5, encontradas 3"}


# -- batches, server answers, summary, errors file -------------------------------------------

def goods(count: int, pin_every: int = 0) -> list[Good]:
    return [Good(n, {"cpf": str(n), **({"pin": "2580"} if pin_every and n % pin_every == 0 else {})}, []) for n in range(count)]


def test_batches_hold_at_most_1000_rows_and_50_pins_in_file_order():
    plain = imports.batches(goods(2500))
    assert [len(b) for b in plain] == [1000, 1000, 500]
    with_pins = imports.batches(goods(1000, pin_every=4))  # 250 PINs
    assert all(sum("pin" in g.row for g in b) <= imports.MAX_BATCH_PINS for b in with_pins)
    assert [g.number for b in with_pins for g in b] == list(range(1000))
    assert len(with_pins) == 5
    assert imports.batches([]) == []


def test_server_refusals_and_the_summary_are_portuguese():
    assert imports.server_reason({"status": "refused", "field": "pin", "reason": "weak_pin"}) == \
        "PIN: PIN fraco (um dígito repetido ou uma sequência, como 1111 ou 1234) (servidor)"
    assert imports.server_reason({"status": "refused", "field": "cnpj", "reason": "invalid check digits"}) == \
        "CNPJ: dígitos verificadores inválidos (servidor)"
    assert imports.server_reason({"status": "refused", "field": "network", "reason": "something new"}) == "rede: something new (servidor)"
    assert imports.server_reason({"status": "refused"}) == "recusado (servidor)"
    assert imports.summary({"created": 3, "exists": 2, "refused": 1}) == "3 criados, 2 já existiam, 1 recusado"
    assert imports.summary({}) == "0 criados, 0 já existiam, 0 recusados"


def test_the_errors_file_sits_next_to_the_input():
    assert imports.errors_path(Path("/x/lojas.csv")) == Path("/x/lojas.erros.csv")
    assert imports.errors_path(Path("/x/LOJAS.CSV")) == Path("/x/LOJAS.erros.csv")
    assert imports.errors_path(Path("/x/lojas.txt")) == Path("/x/lojas.txt.erros.csv")


def test_the_errors_file_has_linha_motivo_and_the_original_columns_with_the_files_separator():
    parsed = parse(STORES, f'rede,loja,cnpj\nR1,"Loja, A",123\nR1,Loja B,{CNPJ_A}\n')
    rows = list(csv.reader(io.StringIO(imports.errors_csv(parsed, parsed.refused)), delimiter=","))
    assert rows == [["linha", "motivo", "rede", "loja", "cnpj"], ["2", "CNPJ inválido: deve ter 14 dígitos", "R1", "Loja, A", "123"]]


# -- the samples -----------------------------------------------------------------------------

def load_generator():
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "docs" / "samples" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_samples_are_the_generators_output_and_import_without_a_refusal():
    generator = load_generator()
    samples = (("lojas.csv", STORES, generator.stores_csv(), 500), ("usuarios.csv", USERS, generator.users_csv(), 5000))
    for name, kind, text, count in samples:
        committed = (ROOT / "docs" / "samples" / name).read_bytes()
        assert committed == text.encode("utf-8"), f"{name} differs: run python docs/samples/make_samples.py"
        parsed = parse_file(kind, committed, YEAR)
        assert len(parsed.good) == count and not parsed.refused
    users = parse_file(USERS, (ROOT / "docs" / "samples" / "usuarios.csv").read_bytes(), YEAR).good
    assert 0 < sum("pin" in g.row for g in users) <= 50
    assert {g.row["role"] for g in users} == {"seller", "manager"}
    assert cpf_check_digits("529982247") == "25" and cnpj_check_digits("112223330001") == "81"  # the constants above are real


# -- the run, against a fake API ---------------------------------------------------------------

class FakeConnection:
    failover_timeout_s = 5.0


class FakeApi:
    """Answers like the server: created the first time a CNPJ/CPF is seen, exists after; refuses what `refuse` names."""

    def __init__(self, refuse: dict[str, dict] | None = None):
        self.connection = FakeConnection()
        self.known: set[str] = set()
        self.calls: list[tuple[str, int, float]] = []
        self.refuse = refuse or {}
        self.token = None

    def login(self, cpf, pin):
        return {"cpf": cpf, "role": "manager", "name": "Gerente"}

    def import_rows(self, kind, rows):
        self.calls.append((kind, len(rows), self.connection.failover_timeout_s))
        results = []
        for row in rows:
            key = row.get("cnpj") or row.get("cpf")
            if key in self.refuse:
                results.append({"status": "refused", **self.refuse[key]})
            elif key in self.known:
                results.append({"status": "exists", "field": "cpf"})
            else:
                self.known.add(key)
                results.append({"status": "created"})
        return results


def context(api, out) -> Context:
    config = load_client_config({"ONSELL_CPF": "56789012303", "ONSELL_PIN": "1234", "TIMEZONE": "America/Sao_Paulo"})
    return Context(api, out, config, FakeClock())


def test_an_import_run_counts_reports_writes_the_errors_file_and_is_idempotent(tmp_path):
    path = tmp_path / "lojas.csv"
    lines = ["rede;loja;cnpj"] + [f"R{n % 3};Loja {n};{format_cnpj(_cnpj(n))}" for n in range(1, 1201)] + ["R1;Loja X;123"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    api = FakeApi(refuse={_cnpj(7): {"field": "cnpj", "reason": "already_exists"}})
    out, err = io.StringIO(), io.StringIO()
    assert run_import(STORES, path, context(api, out), err) == 1
    assert [(kind, size) for kind, size, _ in api.calls] == [("stores", 1000), ("stores", 200)]
    assert all(timeout >= 60 for _, _, timeout in api.calls) and api.connection.failover_timeout_s == 5.0  # restored
    assert out.getvalue() == "1.199 criados, 0 já existiam, 2 recusados\n"
    assert err.getvalue().splitlines()[:2] == ["linha 8: CNPJ: já existe com outro registro (servidor)",
                                               "linha 1202: CNPJ inválido: deve ter 14 dígitos"]
    errors = (tmp_path / "lojas.erros.csv").read_text(encoding="utf-8").splitlines()
    assert errors[0] == "linha;motivo;rede;loja;cnpj" and errors[2] == "1202;CNPJ inválido: deve ter 14 dígitos;R1;Loja X;123"

    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # the bad lines fixed (dropped)
    api.refuse.clear()
    out = io.StringIO()
    assert run_import(STORES, path, context(api, out), io.StringIO()) == 0
    assert out.getvalue().startswith("1 criado, 1.199 já existiam, 0 recusados")
    assert not (tmp_path / "lojas.erros.csv").exists()  # stale: removed
    out = io.StringIO()
    assert run_import(STORES, path, context(api, out), io.StringIO()) == 0
    assert out.getvalue().startswith("0 criados, 1.200 já existiam, 0 recusados")


def test_a_file_with_only_bad_lines_never_signs_in_nor_sends(tmp_path):
    path = tmp_path / "pessoas.csv"
    path.write_text("cpf;nome;ano_nascimento;perfil\n123;Ana;1990;vendedor\n", encoding="utf-8")
    api = FakeApi()
    api.login = None  # would fail if called
    out, err = io.StringIO(), io.StringIO()
    assert run_import(USERS, path, context(api, out), err) == 1 and api.calls == []
    assert out.getvalue().startswith("0 criados, 0 já existiam, 1 recusado")
    assert "linha 2: CPF inválido: deve ter 11 dígitos" in err.getvalue()


def test_an_unreadable_file_is_one_portuguese_error(tmp_path):
    with pytest.raises(CommandError, match="não foi possível ler .*nada.csv: arquivo não encontrado$"):
        run_import(STORES, tmp_path / "nada.csv", context(FakeApi(), io.StringIO()), io.StringIO())
    with pytest.raises(CommandError, match="não foi possível ler .*: é uma pasta, não um arquivo$"):
        run_import(STORES, tmp_path, context(FakeApi(), io.StringIO()), io.StringIO())
    (tmp_path / "x.csv").write_text("a;b\n", encoding="utf-8")
    with pytest.raises(CommandError, match="coluna desconhecida no cabeçalho"):
        run_import(STORES, tmp_path / "x.csv", context(FakeApi(), io.StringIO()), io.StringIO())


def _cnpj(n: int) -> str:
    base = f"{30_000_000 + n:08d}0001"
    return base + cnpj_check_digits(base)


# -- against a real node ------------------------------------------------------------------------

MANAGER = {"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN}
SAMPLES = ROOT / "docs" / "samples"
USERS_DEADLINE_S = 60.0  # measured: about 1 s for the 5,000 people (25 with a PIN) on the project's 2-core machine


def import_file(server, kind: str, path: Path, env: dict | None = None):
    done = run_client(["import", kind, str(path)], server.port, env={**MANAGER, **(env or {})}, timeout=180)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def listed(server, what: str, role: str | None = None) -> list[dict]:
    done = run_client([what, "--format", "json", *(["--role", role] if role else [])], server.port, env=MANAGER)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[what]


def test_the_store_sample_imports_once_and_a_second_run_finds_every_store(fresh_server, tmp_path):
    server = fresh_server()
    path = tmp_path / "lojas.csv"
    shutil.copy(SAMPLES / "lojas.csv", path)
    first = import_file(server, STORES, path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("500 criados, 0 já existiam, 0 recusados") and first.stderr == ""
    expected = {g.row["cnpj"]: g.row for g in parse_file(STORES, path.read_bytes(), YEAR).good}
    stores = {s["cnpj"]: s for s in listed(server, "stores")}
    assert len(stores) == 506 and set(expected) <= set(stores)
    for cnpj, row in expected.items():
        assert stores[cnpj]["name"] == row["name"] and stores[cnpj]["open"] is True
        assert stores[cnpj]["network"]["name"].casefold() == row["network"].casefold()
    networks = {n["name"] for n in listed(server, "networks")}
    assert networks == {"MAX ATACADO", "ATAKADAO", "LOJAS MARTINS", "SUPERBOM", "Atacadão do Povo", "REDE ECONOMIA", "Mercados Pão e Mel"}

    second = import_file(server, STORES, path)
    assert second.returncode == 0 and second.stdout.startswith("0 criados, 500 já existiam, 0 recusados")
    assert len(listed(server, "stores")) == 506 and not (tmp_path / "lojas.erros.csv").exists()


def test_the_5000_people_sample_imports_within_the_deadline(fresh_server, tmp_path):
    server = fresh_server()
    path = tmp_path / "usuarios.csv"
    shutil.copy(SAMPLES / "usuarios.csv", path)
    started = time.monotonic()
    first = import_file(server, USERS, path)
    elapsed = time.monotonic() - started
    print(f"\nimport of 5,000 people: {elapsed:.2f} s (the client process included)")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "5.000 criados, 0 já existiam, 0 recusados\n"
    assert elapsed < USERS_DEADLINE_S
    people = {u["cpf"]: u for u in listed(server, "users")}
    rows = parse_file(USERS, path.read_bytes(), YEAR).good
    assert len(people) == 5005
    for good in rows:
        user = people[good.row["cpf"]]
        assert (user["name"], user["role"], user["active"], user["has_pin"]) == \
            (good.row["name"], good.row["role"], True, "pin" in good.row)
    with_pin = next(g.row for g in rows if "pin" in g.row)
    assert api_for(server).login(with_pin["cpf"], with_pin["pin"])["cpf"] == with_pin["cpf"]
    without = next(g.row for g in rows if "pin" not in g.row)
    no_pin = run_client(["sellers"], server.port, env={"ONSELL_CPF": without["cpf"], "ONSELL_PIN": "2580"})
    assert no_pin.returncode == 1 and "PIN ainda não foi definido" in no_pin.stderr

    started = time.monotonic()
    second = import_file(server, USERS, path)
    print(f"second run: {time.monotonic() - started:.2f} s")
    assert second.returncode == 0 and second.stdout == "0 criados, 5.000 já existiam, 0 recusados\n"


def test_bad_lines_are_refused_locally_reported_written_and_the_stale_errors_file_removed(fresh_server, tmp_path):
    server = fresh_server()
    path = tmp_path / "pessoas.csv"
    good = [f"{format_cpf(CPF_A)},Ana Souza,1990,vendedora,2580", f"{CPF_B},Rui Lima,1985,Gerente,"]
    bad = ["11144477736,Carla Nunes,1990,vendedor,", "11144477735,Carla Nunes,1990,chefe,"]
    known = f"{DEMO_SELLER_CPF},Outro Nome,1990,vendedor,"  # the demo's João: already there, nothing changes
    path.write_bytes((imports.BOM + "\r\n".join(["CPF,Name,Birth_Year,Role,PIN", good[0], "", bad[0], known, bad[1], good[1]]) + "\r\n")
                     .encode("utf-8"))
    first = import_file(server, USERS, path)
    assert first.returncode == 1
    assert first.stdout.startswith("2 criados, 1 já existia, 2 recusados")
    assert first.stderr.splitlines()[:2] == ["linha 4: CPF inválido", "linha 6: perfil inválido: 'chefe' (use vendedor ou gerente)"]
    errors = (tmp_path / "pessoas.erros.csv").read_bytes().decode("utf-8")
    assert errors.splitlines() == [
        imports.BOM + "linha,motivo,CPF,Name,Birth_Year,Role,PIN", "4,CPF inválido,11144477736,Carla Nunes,1990,vendedor,",
        "6,perfil inválido: 'chefe' (use vendedor ou gerente),11144477735,Carla Nunes,1990,chefe,"]
    people = {u["cpf"]: u for u in listed(server, "users")}
    assert (people[CPF_A]["role"], people[CPF_A]["has_pin"], people[CPF_B]["role"], people[CPF_B]["has_pin"]) == \
        ("seller", True, "manager", False)
    assert people[DEMO_SELLER_CPF]["name"] == "João de Alencar" and "11144477735" not in people

    path.write_text("cpf;nome;ano_nascimento;perfil\n" + f"{CPF_C};Carla Nunes;1990;vendedor\n", encoding="utf-8")
    fixed = import_file(server, USERS, path)
    assert fixed.returncode == 0 and fixed.stdout.startswith("1 criado, 0 já existiam, 0 recusados")
    assert not (tmp_path / "pessoas.erros.csv").exists()


def test_only_a_manager_imports_and_a_seller_changes_nothing(fresh_server, tmp_path):
    server = fresh_server()
    path = tmp_path / "lojas.csv"
    path.write_text(f"rede;loja;cnpj\nREDE NOVA;Loja Nova;{CNPJ_B}\n", encoding="utf-8")
    seller = import_file(server, STORES, path, env={"ONSELL_CPF": DEMO_SELLER_CPF})
    assert seller.returncode == 1 and "permissão" in seller.stderr
    assert CNPJ_B not in {s["cnpj"] for s in listed(server, "stores")}
    missing = import_file(server, STORES, tmp_path / "nada.csv")
    assert missing.returncode == 1 and "não foi possível ler" in missing.stderr


def test_an_import_cut_short_reports_what_went_in_then_fails(tmp_path):
    path = tmp_path / "lojas.csv"
    path.write_text("\n".join(["rede;loja;cnpj"] + [f"RR;Loja {n};{_cnpj(n)}" for n in range(1, 1501)] + ["RR;Loja X;1"]) + "\n",
                    encoding="utf-8")
    api = FakeApi()
    real = api.import_rows

    def second_call_fails(kind, rows):
        if api.calls:
            raise ServerUnreachable("nenhum servidor respondeu")
        return real(kind, rows)
    api.import_rows = second_call_fails
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(ServerUnreachable):
        run_import(STORES, path, context(api, out), err)
    assert out.getvalue().startswith("1.000 criados, 0 já existiam, 1 recusado")
    assert "importação interrompida depois de 1000 de 1500 linhas" in err.getvalue()
    assert (tmp_path / "lojas.erros.csv").read_text(encoding="utf-8").splitlines()[1].startswith("1502;")
    assert api.connection.failover_timeout_s == 5.0


def test_the_first_line_an_encoding_cannot_read_is_found_past_a_bom_and_crlf(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(imports.BOM.encode() + "cpf;cnpj\r\n1;Conceição\r\n".encode() + b"\xff\r\nz\r\n")
    assert imports.first_undecodable_line(path, imports.UTF8) == 3
    path.write_bytes("cpf;cnpj\r\n1;Conceição\r\n".encode())
    assert imports.first_undecodable_line(path, imports.UTF8) is None
