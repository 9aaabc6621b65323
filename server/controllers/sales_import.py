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
from db.sales import find_sales, record_new_sales, touch_stored
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
from server.ledger import Ledger

log = logging.getLogger("onsell.sales")
MAX_SALES_IMPORT_ROWS = 10_000
ROW_KEYS = {"sale_id", "seller", "store", "amount", "sold_on", "line"}


class SalesImportController:
    def __init__(self, ledger: Ledger, catalogue: CatalogueRepository, users: UserRepository, clock, timezone,
                 max_sale_cents: int):
        self.ledger = ledger
        self.catalogue = catalogue
        self.users = users
        self.clock = clock
        self.timezone = timezone
        self.max_sale_cents = max_sale_cents

    def methods(self) -> list[Method]:
        return [Method("sales.import", self.import_sales, (rows_param(MAX_SALES_IMPORT_ROWS),), role=MANAGER)]

    def import_sales(self, caller, rows: list) -> dict:
        """{imported, duplicates, refused: [{index, field, reason}]}: each row imported, already there, or refused."""
        now = self.clock.now()
        lookups = _Lookups(self.catalogue, self.users)
        today, recorded_at = today_in(self.timezone, now), iso_utc(now)
        refused, prepared, seen = [], [], {}
        for index, row in enumerate(rows):
            try:
                sale = self._sale_of(row, lookups, today, recorded_at)
                earlier = seen.get(sale.sale_id)
                if earlier is not None and not earlier.same_content(sale):
                    raise ValidationError("sale_id", "used by another row of this batch with other content")
            except ValidationError as exc:
                refused.append({"index": index, "field": exc.field, "reason": exc.reason})
                continue
            if sale.sale_id not in seen:
                seen[sale.sale_id] = sale
                prepared.append((index, sale))

        def write(conn, stamp) -> tuple[int, int, list]:
            stored = find_sales(conn, [s.sale_id for _, s in prepared])
            new, duplicates, conflicts = [], 0, []
            for index, sale in prepared:
                held = stored.get(sale.sale_id)
                if held is None:
                    new.append(sale)
                elif held.same_content(sale):
                    duplicates += 1
                    touch_stored(conn, stamp, held)
                else:
                    conflicts.append({"index": index, "field": "sale_id", "reason": "already used for a different sale"})
            record_new_sales(conn, stamp, new)  # a sale whose void came first from a peer counts nowhere (db.sales)
            return len(new), duplicates, conflicts

        (imported, _, conflicts), replicas = self.ledger.commit(write) if prepared else ((0, 0, []), 1)
        refused = sorted(refused + conflicts, key=lambda r: r["index"])
        duplicates = len(rows) - imported - len(refused)  # already stored, or repeated in this batch
        log.info("sales imported: %d new, %d already there, %d refused (%d copies)", imported, duplicates, len(refused), replicas)
        return {"imported": imported, "duplicates": duplicates, "refused": refused, "replicas": replicas}

    def _sale_of(self, row, lookups: "_Lookups", today: dt.date, recorded_at: str) -> Sale:
        if not isinstance(row, dict):
            raise ValidationError("rows", "each row must be an object")
        unknown = set(row) - ROW_KEYS
        if unknown:
            raise ValidationError(sorted(unknown)[0], "is not a column of a sale")
        seller_key, seller_id = lookups.seller(row.get("seller"))
        store_key, store_id = lookups.store(row.get("store"))
        cents = parse_amount(row.get("amount"))
        if cents > self.max_sale_cents:
            raise ValidationError("amount", f"must be at most {format_cents(self.max_sale_cents)}")
        sold_on = parse_iso_date(row.get("sold_on"), "sold_on")
        if sold_on > today:
            raise ValidationError("sold_on", "must not be in the future")
        if row.get("sale_id") is not None:
            sale_id = parse_uuid(row["sale_id"], "sale_id")
        elif is_whole(row.get("line"), 1):
            sale_id = imported_sale_id(seller_key, store_key, cents, sold_on.isoformat(), row["line"])
        else:
            raise ValidationError("sale_id", "give a sale_id, or the row's line in its file to derive one")
        return Sale(sale_id, seller_id, store_id, cents, sold_on, recorded_at)


class _Lookups:
    """Sellers and stores named by the rows of one call: each list read once, then (normalised key, id) by key."""

    def __init__(self, catalogue: CatalogueRepository, users: UserRepository):
        self.catalogue = catalogue
        self.users = users
        self._sellers: dict[str, str] | None = None  # CPF or id -> the seller's id
        self._stores: dict[str, str] | None = None  # CNPJ or id -> the store's id
        self._found: dict[tuple[str, str], tuple[str, str]] = {}  # (field, value as written) -> (key, id): rows repeat them

    def seller(self, value) -> tuple[str, str]:
        if self._sellers is None:
            self._sellers = {key: u.id for u in self.users.list_sellers() for key in (u.id, u.cpf)}
        return self._find("seller", value, self._sellers, parse_cpf, "must be a seller's id or CPF", "no seller has this id or CPF")

    def store(self, value) -> tuple[str, str]:
        if self._stores is None:
            self._stores = {key: s.id for s in self.catalogue.list_stores() for key in (s.id, s.cnpj)}
        return self._find("store", value, self._stores, parse_cnpj, "must be a store's id or CNPJ", "no store has this id or CNPJ")

    def _find(self, field: str, value, known: dict[str, str], parse_document, what: str, missing: str) -> tuple[str, str]:
        if isinstance(value, str) and (field, value) in self._found:
            return self._found[field, value]
        key = _normalised(value, field, parse_document, what)
        if key not in known:
            raise ValidationError(field, missing)
        self._found[field, value] = key, known[key]
        return key, known[key]


def _normalised(value, field: str, parse_document, what: str) -> str:
    """An id as given, or a CPF/CNPJ as its digits."""
    if not isinstance(value, str):
        raise ValidationError(field, what)
    try:
        return parse_uuid(value, field)
    except ValidationError:
        pass
    try:
        return parse_document(value, field)
    except ValidationError:
        raise ValidationError(field, what) from None
