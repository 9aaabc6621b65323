"""Recording sales (sellers only; the seller is always the token's user) and a seller's own sales."""

import logging

from db.catalogue import CatalogueRepository
from db.errors import SaleConflict
from db.reports import ReportsRepository
from db.sales import SalesRepository, record_sale
from db.users import UserRepository
from models.dates import check_range, check_sale_date, parse_iso_date, today_in
from models.money import format_brl, parse_amount
from models.people import SELLER
from models.records import Sale
from runtime.clock import iso_utc
from server.controllers.params import MAX_LIST_LIMIT, date_range_params, limit_param, uuid_param
from server.controllers.present import sale_json, total_json
from server.dispatch import Method, Param
from server.ledger import Ledger
from wire.errors import CONFLICT, NOT_FOUND, UNAUTHENTICATED, app_error

log = logging.getLogger("onsell.sales")
DEFAULT_LIST_LIMIT = 100


class SalesController:
    def __init__(self, ledger: Ledger, sales: SalesRepository, reports: ReportsRepository, catalogue: CatalogueRepository,
                 users: UserRepository, clock, timezone):
        self.ledger = ledger
        self.sales = sales
        self.users = users
        self.reports = reports
        self.catalogue = catalogue
        self.clock = clock
        self.timezone = timezone

    def methods(self) -> list[Method]:
        return [
            Method("sales.record", self.record, (
                uuid_param("sale_id"),
                uuid_param("store_id"),
                Param("amount", parse_amount),
                Param("sold_on", lambda v: parse_iso_date(v, "sold_on"), required=False),
            ), role=SELLER),
            Method("sales.mine", self.mine, (*date_range_params(), limit_param(MAX_LIST_LIMIT)), role=SELLER),
        ]

    def record(self, caller, sale_id: str, store_id: str, amount: int, sold_on=None) -> dict:
        """Durably record the caller's sale; a retry with the same sale_id is a duplicate, not a new sale."""
        today = today_in(self.timezone, self.clock.now())
        date_given = sold_on is not None
        sold_on = check_sale_date(sold_on, today) if date_given else today
        store = self.catalogue.get_store(store_id)
        if store is None:
            raise app_error(NOT_FOUND, "No store has this id", field="store_id")
        sale = Sale(sale_id, self._seller_id(caller), store_id, amount, sold_on, iso_utc(self.clock.now()))
        try:  # durable, and held by enough nodes (or not_coordinator) before the answer
            (stored, duplicate), replicas = self.ledger.commit(lambda conn, stamp: record_sale(conn, sale, stamp, date_given))
        except SaleConflict:
            raise app_error(CONFLICT, "This sale_id was already used for a different sale", field="sale_id") from None
        if duplicate:
            log.info("sale %s retried by %s: already recorded", sale_id, caller.name)
        else:
            log.info("sale recorded: %s by %s at %s on %s (%d copies)", format_brl(amount), caller.name, store.name,
                     sold_on.isoformat(), replicas)
        return {"sale": sale_json(stored), "duplicate": duplicate, "replicas": replicas}

    def mine(self, caller, start=None, end=None, limit: int = DEFAULT_LIST_LIMIT) -> dict:
        """The caller's sales in the range (newest first, at most `limit`) with the range's total and count."""
        check_range(start, end)
        seller_id = self._seller_id(caller)
        sales = self.sales.list_for_seller(seller_id, start, end, limit)
        return {"sales": [sale_json(s) for s in sales], **total_json(self.reports.seller_total(seller_id, start, end))}

    def _seller_id(self, caller) -> str:
        """The caller's user id now: the same, or the account it was merged into (CPF registered twice)."""
        seller_id = self.users.canonical_id(caller.user_id)
        if seller_id is None:
            raise app_error(UNAUTHENTICATED, "This account does not exist here; sign in again")
        return seller_id
