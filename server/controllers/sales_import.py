"""sales.import: a manager brings a chain's sales history in batches (docs/protocol.md, "Imports").

Each row names its seller (id or CPF) and store (id or CNPJ), an amount and a day (any day up to today: history may be
older than what sales.record accepts). A row is idempotent by its sale_id, derived from its content and `line` when it
has none: importing the same file again imports nothing twice. Rows that cannot be imported are answered with their
index and reason and change nothing; the others go in one write, their aggregates summed per batch, acknowledged once
replicated like every write.
"""

import datetime as dt
import logging

from db.catalogue import CatalogueRepository
from db.sales import find_sales, record_if_new, record_new_sales, touch_stored
from db.users import UserRepository
from models.dates import parse_iso_date, today_in
from models.documents import parse_cnpj, parse_cpf
from models.errors import ValidationError
from models.money import format_cents, parse_amount
from models.numbers import is_whole
from models.people import MANAGER
from models.records import Sale, imported_sale_id, parse_uuid
from runtime.clock import iso_utc
from server.controllers.params import rows_param
from server.dispatch import Method
from server.ledger import Ledger, Outcome, WriteGroup, write_alone

log = logging.getLogger("onsell.sales")
MAX_SALES_IMPORT_ROWS = 10_000
ROW_KEYS = {"sale_id", "seller", "store", "amount", "sold_on", "line"}
KEYS_REMEMBERED_MAX = 100_000  # sellers' and stores' values as written, each kind, normalised once (past it: forgotten)
ID, DOCUMENT = "id", "document"
NOT_A_SELLER = "is a manager's, not a seller's: a sale is recorded for a seller"


def import_together(conn, stamp, batches: list[list[Sale]]) -> list[Outcome]:
    """Write the sales of concurrent sales.import calls in one write (a group, server.ledger.WriteGroup): all of them as
    one run of new sales when none is held yet and no sale_id is in two calls (an import's usual case); otherwise each
    call's sales on their own, as if written alone. An outcome is (True, (imported, conflicts)), a conflict naming
    the index of its sale in its call's list."""
    held_found = False
    if len(batches) > 1:
        every = [sale for batch in batches for sale in batch]
        if len({sale.sale_id for sale in every}) == len(every):
            ok, all_new = write_alone(conn, stamp, lambda: record_if_new(conn, stamp, every))  # a failure: each call alone
            if ok and all_new:
                return [(True, (len(batch), [])) for batch in batches]
            held_found = ok  # a file run again: each call looks its sales up at once, without trying the insert again
    return [write_alone(conn, stamp, lambda batch=batch: _import(conn, stamp, batch, not held_found)) for batch in batches]


def _import(conn, stamp, sales: list[Sale], try_insert: bool = True) -> tuple[int, list[dict]]:
    """One call's sales (each sale_id once): (how many were new, the conflicts); the others were already held.
    try_insert: first as one insert that stops at a held id (db.sales.record_if_new), the usual case of new sales."""
    if try_insert and record_if_new(conn, stamp, sales):
        return len(sales), []
    stored = find_sales(conn, [s.sale_id for s in sales])
    new, conflicts = [], []
    for index, sale in enumerate(sales):
        held = stored.get(sale.sale_id)
        if held is None:
            new.append(sale)
        elif held.same_content(sale):
            touch_stored(conn, stamp, held)
        else:
            conflicts.append({"index": index, "field": "sale_id", "reason": "already used for a different sale"})
    record_new_sales(conn, stamp, new)  # a sale whose void came first from a peer counts nowhere (db.sales)
    return len(new), conflicts


class SalesImportController:
    def __init__(self, ledger: Ledger, catalogue: CatalogueRepository, users: UserRepository, clock, timezone,
                 max_sale_cents: int):
        self.ledger = ledger
        self.catalogue = catalogue
        self.users = users
        self.clock = clock
        self.timezone = timezone
        self.max_sale_cents = max_sale_cents
        self.seller_keys: dict[str, tuple[str, str]] = {}  # a seller's id or CPF as written -> _key_of it (calls name the same)
        self.store_keys: dict[str, tuple[str, str]] = {}
        self.imports = WriteGroup(ledger, import_together)  # concurrent calls (a client sends several) share one write

    def methods(self) -> list[Method]:
        return [Method("sales.import", self.import_sales, (rows_param(MAX_SALES_IMPORT_ROWS),), role=MANAGER)]

    def import_sales(self, caller, rows: list) -> dict:
        """{imported, duplicates, refused: [{index, field, reason}]}: each row imported, already there, or refused."""
        now = self.clock.now()
        refused, prepared = _Checks(self, rows, today_in(self.timezone, now), iso_utc(now)).run()
        (imported, conflicts), replicas = self.imports.commit([sale for _, sale in prepared]) if prepared else ((0, []), 1)
        conflicts = [{**conflict, "index": prepared[conflict["index"]][0]} for conflict in conflicts]
        refused = sorted(refused + conflicts, key=lambda r: r["index"])
        duplicates = len(rows) - imported - len(refused)  # already stored, or repeated in this batch
        log.info("sales imported: %d new, %d already there, %d refused; copies held: %d", imported, duplicates, len(refused), replicas)
        return {"imported": imported, "duplicates": duplicates, "refused": refused, "replicas": replicas}


class _Checks:
    """The rows of one call checked, in order: what each refusal says is what a row-by-row check would say first.
    Sellers and stores are looked up once per call for the ids, CPFs and CNPJs its rows name; amounts and days that
    repeat are parsed once."""

    def __init__(self, controller: SalesImportController, rows: list, today: dt.date, recorded_at: str):
        self.rows = rows
        self.today = today
        self.recorded_at = recorded_at
        self.max_sale_cents = controller.max_sale_cents
        self.sellers = _Lookup("seller", parse_cpf, "must be a seller's id or CPF", "no seller has this id or CPF")
        self.stores = _Lookup("store", parse_cnpj, "must be a store's id or CNPJ", "no store has this id or CNPJ")
        objects = [row for row in rows if isinstance(row, dict)]
        self.sellers.find([row.get("seller") for row in objects], controller.users.seller_ids, controller.seller_keys,
                          controller.users.non_sellers, NOT_A_SELLER)
        self.stores.find([row.get("store") for row in objects], controller.catalogue.store_ids, controller.store_keys)
        self._cents: dict[str, int] = {}  # amount as written -> cents, when within the limits
        self._days: dict[str, dt.date] = {}  # day as written -> the day, when not after today

    def run(self) -> tuple[list[dict], list[tuple[int, Sale]]]:
        """The refusals ({index, field, reason}) and the sales to write (index, sale), each sale_id once."""
        refused, prepared, seen = [], [], {}
        for index, row in enumerate(self.rows):
            try:
                sale = self.sale_of(row)
                earlier = seen.get(sale.sale_id)
                if earlier is not None and not earlier.same_content(sale):
                    raise ValidationError("sale_id", "used by another row of this batch with other content")
            except ValidationError as exc:
                refused.append({"index": index, "field": exc.field, "reason": exc.reason})
                continue
            if sale.sale_id not in seen:
                seen[sale.sale_id] = sale
                prepared.append((index, sale))
        return refused, prepared

    def sale_of(self, row) -> Sale:
        if not isinstance(row, dict):
            raise ValidationError("rows", "each row must be an object")
        if not ROW_KEYS.issuperset(row):
            raise ValidationError(sorted(set(row) - ROW_KEYS)[0], "is not a column of a sale")
        seller_key, seller_id = self.sellers.get(row.get("seller"))
        store_key, store_id = self.stores.get(row.get("store"))
        cents = self.cents(row.get("amount"))
        sold_on = self.day(row.get("sold_on"))
        if row.get("sale_id") is not None:
            sale_id = parse_uuid(row["sale_id"], "sale_id")
        elif is_whole(row.get("line"), 1):
            sale_id = imported_sale_id(seller_key, store_key, cents, sold_on.isoformat(), row["line"])
        else:
            raise ValidationError("sale_id", "give a sale_id, or the row's line in its file to derive one")
        return Sale(sale_id, seller_id, store_id, cents, sold_on, self.recorded_at)

    def cents(self, value) -> int:
        cents = self._cents.get(value) if isinstance(value, str) else None
        if cents is None:
            cents = parse_amount(value)
            if cents > self.max_sale_cents:
                raise ValidationError("amount", f"must be at most {format_cents(self.max_sale_cents)}")
            self._cents[value] = cents
        return cents

    def day(self, value) -> dt.date:
        day = self._days.get(value) if isinstance(value, str) else None
        if day is None:
            day = parse_iso_date(value, "sold_on")
            if day > self.today:
                raise ValidationError("sold_on", "must not be in the future")
            self._days[value] = day
        return day


class _Lookup:
    """The sellers (or stores) that the rows of one call name, read at once: value as written -> (normalised key, id),
    or the refusal of that value."""

    def __init__(self, field: str, parse_document, what: str, missing: str):
        self.field = field
        self.parse_document = parse_document
        self.what = what
        self.missing = missing
        self._found: dict[str, tuple[str, str] | str] = {}  # value as written -> (key, id), or the reason it is refused

    def find(self, values: list, ids_of, known_keys: dict[str, tuple[str, str]], others_of=None, other: str = "") -> None:
        """Look up each distinct string among `values` with ids_of(ids, documents) -> {id or document: id}.
        known_keys: value as written -> what _key_of makes of it, kept from call to call (it never changes).
        others_of: the same lookup of what ids_of leaves out (a manager's CPF among sellers'), asked only when a key
        is not found: those are refused with `other` instead of the missing reason."""
        ids, documents = {}, {}  # value as written -> normalised id, or document digits
        for value in {v for v in values if isinstance(v, str)}:
            kind, key = known_keys.get(value) or _remember(known_keys, value, _key_of(value, self.field, self.parse_document))
            if kind == ID:
                ids[value] = key
            elif kind == DOCUMENT:
                documents[value] = key
            else:
                self._found[value] = self.what
        keys = ids | documents
        known = ids_of(sorted(set(ids.values())), sorted(set(documents.values()))) if keys else {}
        missing = {key for key in keys.values() if key not in known}
        others = others_of(sorted(missing & set(ids.values())), sorted(missing & set(documents.values()))) if others_of and missing else {}
        for value, key in keys.items():
            self._found[value] = (key, known[key]) if key in known else other if key in others else self.missing

    def get(self, value) -> tuple[str, str]:
        found = self._found.get(value) if isinstance(value, str) else self.what
        if isinstance(found, str):
            raise ValidationError(self.field, found)
        return found


def _key_of(value: str, field: str, parse_document) -> tuple[str, str]:
    """(ID, the id) for a UUID, (DOCUMENT, its digits) for a CPF or CNPJ, masked or bare; ("", "") for neither."""
    try:
        return DOCUMENT, parse_document(value, field)
    except ValidationError:
        pass
    try:
        return ID, parse_uuid(value, field)
    except ValidationError:
        return "", ""


def _remember(known: dict, value: str, key: tuple[str, str]) -> tuple[str, str]:
    if len(known) >= KEYS_REMEMBERED_MAX:
        known.clear()
    known[value] = key
    return key
