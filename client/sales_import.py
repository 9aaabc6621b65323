"""Reading a sales history file for `import sales`, line by line (a file may hold millions of sales): pure, no sockets.

The file is a catalogue-style CSV (client/imports.py: UTF-8 with or without BOM, ';' or ',', Portuguese or English
headers) with the columns id;cpf;cnpj;valor;data. `id` may be empty or absent: the sale then gets an id derived from
its content and its line (models.records.imported_sale_id), so running the same file again imports nothing twice.
`valor` as 1234,56 or 1234.56 (R$ and thousands separators too); `data` as dd/mm/aaaa or AAAA-MM-DD, not after today.
Each line becomes a row of `sales.import` or a refusal with its line number and a Portuguese reason.
"""

import csv
import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Iterator

from client.imports import SALES, Good, ImportFileError, Refused, RowError, _by_column, _document, sniff
from client.prompts import parse_day
from models.dates import NOT_A_CALENDAR_DATE
from models.documents import parse_cnpj, parse_cpf
from models.errors import ValidationError
from models.money import format_cents, parse_typed_amount
from models.records import imported_sale_id, parse_uuid

BATCH_ROWS = 5_000  # rows per sales.import call: ~650 KB of JSON, under the server's MAX_LINE_BYTES (1 MiB)


@dataclass(frozen=True)
class Header:
    separator: str
    columns: list[str]
    cells: list[str]  # as written, for the errors file


def read_header(lines: Iterator[str]) -> tuple[Header, int]:
    """The header (the first non-blank line) and its line number; ImportFileError when there is none or it is wrong."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            separator, columns = sniff(SALES, line.rstrip("\r\n"))
            cells = next(csv.reader([line.rstrip("\r\n")], delimiter=separator))
            return Header(separator, columns, cells), number
    raise ImportFileError("o arquivo está vazio")


def check_sale(values: dict[str, str], line: int, today: dt.date, known: dict | None = None) -> dict:
    """The sales.import row of one line ({sale_id, seller, store, amount, sold_on}); RowError otherwise.
    `known`: documents already checked, as written -> digits (a history names the same people and stores again and again)."""
    known = {} if known is None else known
    cpf = _checked(known, values["cpf"], "CPF", 11, parse_cpf)
    cnpj = _checked(known, values["cnpj"], "CNPJ", 14, parse_cnpj)
    if not values["amount"]:
        raise RowError("valor em branco")
    try:
        cents = parse_typed_amount(values["amount"])
    except ValidationError:
        raise RowError(f"valor inválido: {values['amount']!r} (use 1234,56 ou 1234.56, de R$ 0,01 a R$ 1.000.000,00)") from None
    if not values["date"]:
        raise RowError("data em branco")
    try:
        day = parse_day(values["date"])
    except ValidationError as exc:
        if exc.reason == NOT_A_CALENDAR_DATE:
            raise RowError(f"data inexistente: {values['date']!r}") from None
        raise RowError(f"data inválida: {values['date']!r} (use dd/mm/aaaa ou AAAA-MM-DD)") from None
    if day > today:
        raise RowError(f"data no futuro: {values['date']}")
    given = values.get("sale_id") or ""
    try:
        sale_id = parse_uuid(given.strip().lower(), "id") if given else imported_sale_id(cpf, cnpj, cents, day.isoformat(), line)
    except ValidationError:
        raise RowError(f"id inválido: {given!r} (um código de venda, ou deixe em branco)") from None
    return {"sale_id": sale_id, "seller": cpf, "store": cnpj, "amount": format_cents(cents), "sold_on": day.isoformat()}


def _checked(known: dict, value: str, what: str, length: int, parse) -> str:
    """The digits of a CPF or CNPJ as written, checked once per distinct value; RowError when wrong."""
    if (what, value) not in known:
        known[what, value] = _document(value, what, length, parse)
    return known[what, value]


def read_sales(lines: Iterable[str], today: dt.date) -> tuple[Header, Iterator[Good | Refused]]:
    """The header, and each data line checked, in file order (lines are read as the iterator is consumed)."""
    source = iter(lines)
    header, header_line = read_header(source)

    def rows() -> Iterator[Good | Refused]:
        reader = csv.reader(source, delimiter=header.separator, strict=True)
        known: dict = {}
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Refused(header_line + reader.line_num, f"linha mal formada ({exc})", [])
                continue
            number = header_line + reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            try:
                yield Good(number, check_sale(_by_column(header.columns, cells, SALES), number, today, known), cells)
            except RowError as exc:
                yield Refused(number, str(exc), cells)
    return header, rows()


def batches_of(items: Iterator[Good | Refused], size: int = BATCH_ROWS) -> Iterator[tuple[list[Good], list[Refused]]]:
    """Good rows cut into batches of `size` (with the refusals met on the way)."""
    good: list[Good] = []
    refused: list[Refused] = []
    for item in items:
        if isinstance(item, Good):
            good.append(item)
            if len(good) == size:
                yield good, refused
                good, refused = [], []
        else:
            refused.append(item)
    if good or refused:
        yield good, refused
