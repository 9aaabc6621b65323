"""Reading catalogue import files (stores, users): pure functions, no sockets, no clock.

A file is UTF-8 (with or without a BOM), or Windows-1252 as Excel saves "CSV" on a Brazilian Windows (encoding_of),
with a header row naming its columns in Portuguese or English, separated by ';' or ',' (whichever makes the header a
known one). Every data line is checked here with the rules of models/ so that a bad line is refused with its line
number and a Portuguese reason and never sent; the good ones become the rows `stores.import` / `users.import` take
(docs/protocol.md, "Imports"). Sending them is client/commands.py's job.
"""

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from client import views
from models.documents import parse_cnpj, parse_cpf
from models.errors import ValidationError
from models.names import fold
from models.people import (
    MAX_NAME_LENGTH,
    MIN_AGE_YEARS,
    OLDEST_BIRTH_YEAR,
    ROLE_WORDS,
    is_weak_pin,
    parse_birth_year,
    parse_name,
    parse_pin,
)

STORES = "stores"
USERS = "users"
SALES = "sales"  # read line by line: client/sales_import.py
KINDS = (STORES, USERS)  # read whole by parse_file
MAX_BATCH_ROWS = 1000  # the server's limit per call
# Hashing a PIN costs ~40 ms on the server: a batch with many PINs would run past the client's failover
# timeout, and a resent batch answers "exists" for what the first try created (wrong counts, no harm).
MAX_BATCH_PINS = 50
BOM = "\ufeff"

# Canonical column -> accepted header names (compared without case, accents, spaces or hyphens).
COLUMNS = {
    STORES: {"network": ("rede", "network"), "name": ("loja", "nome", "store", "name"), "cnpj": ("cnpj",)},
    USERS: {"cpf": ("cpf",), "name": ("nome", "name"),
            "birth_year": ("ano_nascimento", "ano_de_nascimento", "nascimento", "birth_year", "birthyear"),
            "role": ("perfil", "role"), "pin": ("pin",)},
    SALES: {"sale_id": ("id", "codigo", "venda", "sale_id"), "cpf": ("cpf", "vendedor", "seller"), "cnpj": ("cnpj", "loja", "store"),
            "amount": ("valor", "amount", "value"), "date": ("data", "dia", "date", "sold_on")},
}
REQUIRED = {STORES: ("network", "name", "cnpj"), USERS: ("cpf", "name", "birth_year", "role"), SALES: ("cpf", "cnpj", "amount", "date")}
EXPECTED_HEADER = {STORES: "rede;loja;cnpj", USERS: "cpf;nome;ano_nascimento;perfil;pin", SALES: "id;cpf;cnpj;valor;data"}
COUNTED = {"created": ("criado", "criados"), "exists": ("já existia", "já existiam"), "refused": ("recusado", "recusados")}

_FIELD_NAMES = {"network": "rede", "name": "nome", "cnpj": "CNPJ", "cpf": "CPF", "birth_year": "ano de nascimento",
                "role": "perfil", "pin": "PIN", "rows": "linha", "seller": "CPF", "store": "CNPJ", "amount": "valor",
                "sold_on": "data", "sale_id": "id"}
_SERVER_REASONS = {
    "weak_pin": "PIN fraco (um dígito repetido ou uma sequência, como 1111 ou 1234)",
    "already_exists": "já existe com outro registro",
    "not_found": "não encontrado",
    "forbidden": "não permitido",
    "no seller has this id or CPF": "nenhum vendedor tem este CPF",
    "is a manager's, not a seller's: a sale is recorded for a seller": "este CPF é de um gerente, não de um vendedor",
    "no store has this id or CNPJ": "nenhuma loja tem este CNPJ",
    "already used for a different sale": "este id já é de outra venda",
    "used by another row of this batch with other content": "este id está em outra linha com outros dados",
    "must not be in the future": "data no futuro",
}
_MODEL_REASONS = [
    (re.compile(r"invalid check digits"), "dígitos verificadores inválidos"),
    (re.compile(r"must have (\d+) digits"), r"deve ter \1 dígitos"),
    (re.compile(r"must have (\d+) to (\d+) characters"), r"deve ter de \1 a \2 caracteres"),
    (re.compile(r"must be (\d+) to (\d+) digits"), r"deve ter de \1 a \2 dígitos"),
    (re.compile(r"must be between (\d+) and (\d+)"), r"deve estar entre \1 e \2"),
    (re.compile(r"must not contain control characters"), "tem caracteres de controle"),
]
_SCIENTIFIC = re.compile(r"^\d+([.,]\d+)?[eE][+-]?\d+$")  # what a spreadsheet makes of a long number


class ImportFileError(Exception):
    """The whole file cannot be read (encoding, header); the message is Portuguese."""


@dataclass(frozen=True)
class Good:
    number: int  # the line in the file (the header is line 1)
    row: dict    # as the import method takes it
    fields: list[str]


@dataclass(frozen=True)
class Refused:
    number: int
    reason: str  # Portuguese
    fields: list[str]  # the line's cells as read, for the errors file


@dataclass
class ParsedFile:
    kind: str
    separator: str
    header: list[str]
    bom: bool
    good: list[Good] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


# -- the file as a whole ------------------------------------------------------------------

UTF8, WINDOWS = "utf-8-sig", "cp1252"  # a file's encodings (Python's names): UTF-8 with or without a BOM, Windows-1252
# A whole character of two to four bytes as UTF-8 writes it (not a Windows-1252 "é" before a non-breaking space or "º").
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
NOT_UTF8_HINT = 'salve-o como "CSV UTF-8"'


def encoding_of(data: bytes, whole: bool = True) -> str:
    """UTF8, or WINDOWS for bytes that are not UTF-8 and hold no UTF-8 character of two bytes (Excel's "CSV" on
    Windows writes "João" as one byte for "ã"); ImportFileError for anything else (UTF-8 with a broken line, or bytes
    Windows-1252 leaves undefined). `data` may be the first part of a file (whole=False): a character cut at its end
    is not an error."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=whole)
        return UTF8
    except UnicodeDecodeError as exc:
        other = data[:exc.start].count(b"\n") + 1
    utf8 = _UTF8_SEQUENCE.search(data)
    if utf8 is not None:
        line = data[:utf8.start()].count(b"\n") + 1
        raise ImportFileError(f"o arquivo mistura UTF-8 (linha {line}) com outra codificação (linha {other}); "
                              f"salve-o de novo, todo como \"CSV UTF-8\"")
    try:
        data.decode(WINDOWS)
        return WINDOWS
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ImportFileError(f"o arquivo não está em UTF-8 nem em Windows-1252 (linha {line}); {NOT_UTF8_HINT}") from None


def first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The number of the first line of the file that `encoding` cannot read (None if it reads it all): read again from
    the start, line by line (a stream decoded in pieces does not tell where it stopped; a newline byte is never part of
    a character in UTF-8 or Windows-1252)."""
    with path.open("rb") as data:
        for number, line in enumerate(data, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


def decode(data: bytes) -> tuple[str, bool]:
    """The text of the file (encoding_of) and whether its errors file should begin with a BOM: when it did (spreadsheets
    write one), and when it was Windows-1252 (the errors file is UTF-8, which Excel reads right only after a BOM)."""
    encoding = encoding_of(data)
    return data.decode(encoding), errors_file_bom(data, encoding)


def errors_file_bom(start: bytes, encoding: str) -> bool:
    """Whether the errors file of a file that starts with these bytes, in this encoding, begins with a BOM."""
    return encoding == WINDOWS or start.startswith(BOM.encode())


def _key(name: str) -> str:
    """A header cell compared without case, accents, spaces or hyphens: 'Ano de nascimento' -> 'ano_de_nascimento'."""
    return re.sub(r"[\s\-]+", "_", fold(name))


def _cells(line: str, separator: str) -> list[str]:
    return next(csv.reader([line], delimiter=separator, strict=True))


def header_columns(kind: str, cells: list[str]) -> list[str]:
    """The canonical column of each header cell; ImportFileError naming what is wrong."""
    known = {_key(alias): column for column, aliases in COLUMNS[kind].items() for alias in aliases}
    columns = []
    for cell in cells:
        column = known.get(_key(cell))
        if column is None:
            raise ImportFileError(f"coluna desconhecida no cabeçalho: {cell.strip()!r} (esperado: {EXPECTED_HEADER[kind]})")
        if column in columns:
            raise ImportFileError(f"coluna repetida no cabeçalho: {cell.strip()!r}")
        columns.append(column)
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        names = ", ".join(COLUMNS[kind][c][0] for c in missing)
        raise ImportFileError(f"falta no cabeçalho: {names} (esperado: {EXPECTED_HEADER[kind]}; a primeira linha é o cabeçalho)")
    return columns


def sniff(kind: str, header_line: str) -> tuple[str, list[str]]:
    """The separator (';' or ',') that makes header_line a header of this kind, and its columns."""
    problems = []
    # The separator seen more often in the header is tried first, so its problem is the one reported.
    for separator in sorted((";", ","), key=lambda s: -header_line.count(s)):
        try:
            return separator, header_columns(kind, _cells(header_line, separator))
        except (ImportFileError, csv.Error) as exc:
            problems.append(str(exc))
    raise ImportFileError(problems[0])


def parse_file(kind: str, data: bytes, current_year: int) -> ParsedFile:
    """Every line of the file, checked: good rows to send and refused lines with their reasons."""
    text, bom = decode(data)
    lines = [line.rstrip("\r") for line in text.split("\n")]
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise ImportFileError("o arquivo está vazio")
    separator, columns = sniff(kind, lines[start])
    parsed = ParsedFile(kind, separator, _cells(lines[start], separator), bom)
    check = check_store if kind == STORES else check_user
    seen: dict[str, int] = {}  # CNPJ or CPF -> the line that had it first
    for index in range(start + 1, len(lines)):
        number, line = index + 1, lines[index]
        if not line.strip():
            continue
        try:
            cells = _cells(line, separator)
        except csv.Error:
            parsed.refused.append(Refused(number, "aspas sem fechamento", [line]))
            continue
        if not any(c.strip() for c in cells):
            continue  # a spreadsheet's empty row: ';;;'
        try:
            row = check(_by_column(columns, cells, kind), current_year)
        except RowError as exc:
            parsed.refused.append(Refused(number, str(exc), cells))
            continue
        key = row["cnpj" if kind == STORES else "cpf"]
        if key in seen:
            what = "CNPJ" if kind == STORES else "CPF"
            parsed.refused.append(Refused(number, f"{what} repetido no arquivo (já na linha {seen[key]})", cells))
            continue
        seen[key] = number
        parsed.good.append(Good(number, row, cells))
    return parsed


class RowError(Exception):
    """One line refused; the message is the Portuguese reason."""


def _by_column(columns: list[str], cells: list[str], kind: str) -> dict[str, str]:
    """Cells by canonical column; missing optional cells are empty, extra cells must be empty (a trailing ';')."""
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
        raise RowError(f"colunas a mais: esperadas {len(columns)}, encontradas {len(cells)}")
    values = {column: (cells[i].strip() if i < len(cells) else None) for i, column in enumerate(columns)}
    absent = [c for c in REQUIRED[kind] if values.get(c) is None]
    if absent:
        raise RowError(f"colunas a menos: esperadas {len(columns)}, encontradas {len(cells)}")
    return {column: value or "" for column, value in values.items()}


# -- one line ------------------------------------------------------------------------------

def _document(value: str, what: str, length: int, parse) -> str:
    if not value:
        raise RowError(f"{what} em branco")
    if _SCIENTIFIC.match(value):
        raise RowError(f"{what} inválido: a planilha o converteu em número ({value}); formate a coluna como texto")
    try:
        return parse(value)
    except ValidationError:
        if value.isascii() and value.isdigit() and length - 3 <= len(value) < length:
            # a spreadsheet that took the column for numbers dropped the leading zeros
            hint = "a planilha pode ter tirado zeros à esquerda"
            raise RowError(f"{what} inválido: tem {len(value)} dígitos, não {length} ({hint})") from None
        if len(re.sub(r"\D", "", value)) != length:
            raise RowError(f"{what} inválido: deve ter {length} dígitos") from None
        raise RowError(f"{what} inválido") from None


def _name(value: str, what: str) -> str:
    if not value:
        raise RowError(f"{what} em branco")
    try:
        return parse_name(value)
    except ValidationError:
        if not value.isprintable():
            raise RowError(f"{what} inválido: tem caracteres de controle") from None
        raise RowError(f"{what} inválido: deve ter de 2 a {MAX_NAME_LENGTH} caracteres") from None


def check_store(values: dict[str, str], current_year: int = 0) -> dict:
    """The stores.import row of one line ({network, name, cnpj}); RowError otherwise."""
    return {"network": _name(values["network"], "nome da rede"), "name": _name(values["name"], "nome da loja"),
            "cnpj": _document(values["cnpj"], "CNPJ", 14, parse_cnpj)}


def parse_role_word(value: str) -> str:
    """'seller' or 'manager' from vendedor/gerente (seller/manager too), any case or accents; RowError otherwise."""
    role = ROLE_WORDS.get(_key(value))
    if role is None:
        raise RowError(f"perfil inválido: {value!r} (use vendedor ou gerente)" if value else "perfil em branco: use vendedor ou gerente")
    return role


def check_pin(value: str) -> str:
    """A new PIN (4 to 8 digits, not weak); RowError otherwise."""
    try:
        pin = parse_pin(value)
    except ValidationError:
        if value.isascii() and value.isdigit() and len(value) < 4:
            raise RowError("PIN inválido: deve ter de 4 a 8 dígitos (a planilha pode ter tirado zeros à esquerda)") from None
        raise RowError("PIN inválido: deve ter de 4 a 8 dígitos") from None
    if is_weak_pin(pin):
        raise RowError(_SERVER_REASONS["weak_pin"])
    return pin


def check_user(values: dict[str, str], current_year: int) -> dict:
    """The users.import row of one line ({cpf, name, birth_year, role, pin?}); RowError otherwise."""
    row = {"cpf": _document(values["cpf"], "CPF", 11, parse_cpf), "name": _name(values["name"], "nome")}
    year = values["birth_year"]
    if not year:
        raise RowError("ano de nascimento em branco")
    if not (year.isascii() and year.isdigit()):
        raise RowError(f"ano de nascimento inválido: {year!r} (use 4 dígitos, como 1990)")
    try:
        row["birth_year"] = parse_birth_year(year, current_year)
    except ValidationError:
        raise RowError(f"ano de nascimento fora do intervalo: de {OLDEST_BIRTH_YEAR} a {current_year - MIN_AGE_YEARS}") from None
    row["role"] = parse_role_word(values["role"])
    if values.get("pin"):
        row["pin"] = check_pin(values["pin"])
    return row


# -- sending and what came back ------------------------------------------------------------

def batches(good: list[Good], max_rows: int = MAX_BATCH_ROWS, max_pins: int = MAX_BATCH_PINS) -> list[list[Good]]:
    """The good rows in file order, cut into batches of at most max_rows rows and max_pins PINs."""
    result: list[list[Good]] = []
    current: list[Good] = []
    pins = 0
    for item in good:
        has_pin = "pin" in item.row
        if current and (len(current) == max_rows or pins + has_pin > max_pins):
            result.append(current)
            current, pins = [], 0
        current.append(item)
        pins += has_pin
    if current:
        result.append(current)
    return result


def server_reason(result: dict) -> str:
    """A Portuguese reason for a row the server refused ({status: refused, field?, reason?})."""
    column = result.get("field")
    reason = str(result.get("reason") or "recusado")
    text = _SERVER_REASONS.get(reason)
    if text is None:
        text = reason
        for pattern, words in _MODEL_REASONS:  # models/ speak English to programs: say their usual reasons in Portuguese
            if pattern.fullmatch(reason):
                text = pattern.sub(words, reason)
                break
    return f"{_FIELD_NAMES.get(column, column)}: {text} (servidor)" if column else f"{text} (servidor)"


def summary(counts: dict[str, int]) -> str:
    """'N criados, M já existiam, K recusados' (a count of 1 in the singular, thousands separated)."""
    return ", ".join(views.counted(counts.get(status, 0), *words) for status, words in COUNTED.items())


def errors_path(path: Path) -> Path:
    """Where the refused lines of FILE.csv go: FILE.erros.csv (FILE.txt -> FILE.txt.erros.csv)."""
    stem = path.name[:-4] if path.name.lower().endswith(".csv") else path.name
    return path.with_name(f"{stem}.erros.csv")


def errors_csv(parsed: ParsedFile, refused: list[Refused]) -> str:
    """The errors file: linha;motivo then the original columns, with the file's own separator (and BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=parsed.separator, lineterminator="\r\n")
    writer.writerow(["linha", "motivo", *parsed.header])
    for item in sorted(refused, key=lambda r: r.number):
        writer.writerow([item.number, item.reason, *item.fields])
    return (BOM if parsed.bom else "") + buffer.getvalue()
