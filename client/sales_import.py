"""Reading a sales history file for `import sales`, line by line (a file may hold millions of sales): pure, no sockets.

The file is a catalogue-style CSV (client/imports.py: UTF-8 with or without BOM or Windows-1252, ';' or ',', Portuguese or English
headers) with the columns id;cpf;cnpj;valor;data. `id` may be empty or absent: the sale then gets an id derived from
its content and its line (models.records.imported_sale_id), so running the same file again imports nothing twice.
`valor` as 1234,56 or 1234.56 (R$ and thousands separators too); `data` as dd/mm/aaaa or AAAA-MM-DD (a time after it is
left out), not after today.
Each line becomes a row of `sales.import` or a refusal with its line number and a Portuguese reason.
"""

import csv
import datetime as dt
import re
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


KNOWN_VALUES_MAX = 100_000  # checked CPFs, CNPJs, amounts and days remembered per file, each kind (past it: forgotten, checked again)


class SaleChecker:
    """check_sale for the lines of one file: where each column is, and what it has already checked (a history names the
    same people, stores, days and amounts again and again: each distinct value is checked once)."""

    def __init__(self, columns: list[str], today: dt.date):
        self.columns = columns
        self.today = today
        self.width = len(columns)
        self.sale_id_at = columns.index("sale_id") if "sale_id" in columns else None
        self.cpf_at, self.cnpj_at, self.amount_at, self.date_at = (columns.index(c) for c in ("cpf", "cnpj", "amount", "date"))
        self._cpfs: dict[str, str] = {}  # as written -> digits
        self._cnpjs: dict[str, str] = {}
        self._amounts: dict[str, tuple[int, str]] = {}  # as written -> (cents, wire form)
        self._days: dict[str, str] = {}  # as written -> ISO day, not after today

    def row(self, cells: list[str], line: int) -> dict:
        """The sales.import row of a line's cells; RowError otherwise."""
        if len(cells) != self.width:  # cells missing, or extra (blank ones are let through): said as every import says it
            values = _by_column(self.columns, cells, SALES)
            return self.check(values.get("sale_id") or "", values["cpf"], values["cnpj"], values["amount"], values["date"], line)
        given = cells[self.sale_id_at].strip() if self.sale_id_at is not None else ""
        return self.check(given, cells[self.cpf_at].strip(), cells[self.cnpj_at].strip(), cells[self.amount_at].strip(),
                          cells[self.date_at].strip(), line)

    def check(self, given: str, cpf_text: str, cnpj_text: str, amount: str, date: str, line: int) -> dict:
        """The row of a line's values (stripped), checked in the order their refusals are told."""
        cpf = self._cpfs.get(cpf_text) or _remember(self._cpfs, cpf_text, _document(cpf_text, "CPF", 11, parse_cpf))
        cnpj = self._cnpjs.get(cnpj_text) or _remember(self._cnpjs, cnpj_text, _document(cnpj_text, "CNPJ", 14, parse_cnpj))
        cents, wire_amount = self._amounts.get(amount) or _remember(self._amounts, amount, _amount(amount))
        day = self._days.get(date) or _remember(self._days, date, _day(date, self.today))
        try:
            sale_id = parse_uuid(given.lower(), "id") if given else imported_sale_id(cpf, cnpj, cents, day, line)
        except ValidationError:
            raise RowError(f"id inválido: {given!r} (o código de venda do onsell, como 0b7f0f6e-3f5e-4d53-9a43-2f1b0e6f1a01, "
                           "ou deixe em branco: a venda é então reconhecida pelo conteúdo e pela linha)") from None
        return {"sale_id": sale_id, "seller": cpf, "store": cnpj, "amount": wire_amount, "sold_on": day}


def _remember(known: dict, written: str, value):
    if len(known) >= KNOWN_VALUES_MAX:
        known.clear()
    known[written] = value
    return value


def _amount(text: str) -> tuple[int, str]:
    if not text:
        raise RowError("valor em branco")
    try:
        cents = parse_typed_amount(text)
    except ValidationError:
        raise RowError(f"valor inválido: {text!r} (use 1234,56 ou 1234.56, de R$ 0,01 a R$ 1.000.000,00)") from None
    return cents, format_cents(cents)


# A time after the day, as a spreadsheet exports a date-and-time cell ("10/11/2026 14:30", "2026-11-10T14:30:00"): the
# day is what counts; a time with a zone is not taken (its day could be another here).
_TIME_AFTER_DAY = re.compile(r"(\S+?)[ T](?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?")  # a time that can be
_ZONE_AFTER_TIME = re.compile(r"\S+?[ T]\d{1,2}:\d{2}\S*\s*(?:Z|[+-]\d{2}:?\d{2})")


def _day(text: str, today: dt.date) -> str:
    if not text:
        raise RowError("data em branco")
    if _ZONE_AFTER_TIME.fullmatch(text):
        raise RowError(f"data com fuso horário: {text!r} (informe só a data: dd/mm/aaaa ou AAAA-MM-DD)")
    timed = _TIME_AFTER_DAY.fullmatch(text)
    try:
        day = parse_day(timed.group(1) if timed else text)
    except ValidationError as exc:
        if exc.reason == NOT_A_CALENDAR_DATE:
            raise RowError(f"data inexistente: {text!r}") from None
        raise RowError(f"data inválida: {text!r} (use dd/mm/aaaa ou AAAA-MM-DD)") from None
    if day > today:
        raise RowError(f"data no futuro: {text}")
    return day.isoformat()


def read_sales(lines: Iterable[str], today: dt.date) -> tuple[Header, Iterator[Good | Refused]]:
    """The header, and each data line checked, in file order (lines are read as the iterator is consumed)."""
    source = iter(lines)
    header, header_line = read_header(source)

    def rows() -> Iterator[Good | Refused]:
        reader = csv.reader(source, delimiter=header.separator, strict=True)
        checker = SaleChecker(header.columns, today)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Refused(header_line + reader.line_num, f"linha mal formada ({exc})", [])
                continue
            if not "".join(cells).strip():
                continue
            number = header_line + reader.line_num
            try:
                yield Good(number, checker.row(cells, number), cells)
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
