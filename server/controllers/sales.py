"""Recording sales (sellers only; the seller is always the token's user), voiding them, and a seller's own sales.

Concurrent sales.record calls are written together (server.ledger.WriteGroup, record_together): one run of new
sales for the group, each retry or conflict found on its own, as if each had been written alone.
"""

import datetime as dt
import logging

from db.errors import NotFound, SaleConflict
from db.reports import ReportsRepository
from db.sales import SalesRepository, find_sales, record_new_sales, record_sale, void_sale
from db.users import UserRepository
from db.voids import voided_among
from models.dates import check_range, check_sale_date, parse_iso_date, today_in
from models.errors import ValidationError
from models.limits import MAX_LIST_LIMIT
from models.money import format_cents, parse_amount
from models.people import MANAGER, SELLER
from models.records import Sale, parse_void_reason
from runtime.clock import iso_utc
from server.caches import Directory
from server.controllers.params import date_range_params, limit_param, uuid_param
from server.controllers.present import sale_json, total_json, void_json
from server.dispatch import ANY_ROLE, Method, Param
from server.ledger import Ledger, Outcome, WriteGroup, write_alone
from wire.errors import CONFLICT, FORBIDDEN, INACTIVE, NOT_FOUND, app_error

log = logging.getLogger("onsell.sales")
DEFAULT_LIST_LIMIT = 100

Recording = tuple[Sale, bool]  # a sale to record, and whether its date was given (a retry compares it only then)


def record_together(conn, stamp, items: list[Recording]) -> list[Outcome]:
    """Record the sales of concurrent calls in one write: the new ones as one run (db.sales.record_new_sales), a retry
    of a stored sale (or of one earlier in the group) as record_sale answers it alone. Each outcome is
    (True, (stored, duplicate, voided)) or (False, SaleConflict). Should the run fail, each new sale is written on its own
    (in a savepoint each), so one bad sale sinks only itself."""
    sale_ids = [sale.sale_id for sale, _ in items]
    held = find_sales(conn, sale_ids)
    fresh, again, seen = [], [], set()
    for index, (sale, _) in enumerate(items):
        (again if sale.sale_id in held or sale.sale_id in seen else fresh).append(index)
        seen.add(sale.sale_id)
    outcomes: list = [None] * len(items)
    if fresh:
        _record_fresh(conn, stamp, items, fresh, outcomes)
    for index in again:
        sale, date_given = items[index]
        try:
            outcomes[index] = (True, record_sale(conn, sale, stamp, date_given))
        except SaleConflict as exc:
            outcomes[index] = (False, exc)
    voided = voided_among(conn, sale_ids)  # a void may have come first, from a peer
    return [(True, (*value, sale_id in voided)) if ok else (ok, value) for (ok, value), sale_id in zip(outcomes, sale_ids)]


def _record_fresh(conn, stamp, items: list[Recording], fresh: list[int], outcomes: list) -> None:
    ok, stored = write_alone(conn, stamp, lambda: record_new_sales(conn, stamp, [items[index][0] for index in fresh]))
    if not ok:  # the run is rolled back: each sale on its own
        for index in fresh:
            outcomes[index] = _record_alone(conn, stamp, *items[index])
        return
    for index, sale in zip(fresh, stored):
        outcomes[index] = (True, (sale, False))


def _record_alone(conn, stamp, sale: Sale, date_given: bool) -> Outcome:
    return write_alone(conn, stamp, lambda: record_sale(conn, sale, stamp, date_given))


class SalesController:
    def __init__(self, ledger: Ledger, sales: SalesRepository, reports: ReportsRepository, catalogue: Directory,
                 users: UserRepository, clock, timezone, max_sale_cents: int, void_window_s: float):
        self.ledger = ledger
        self.sales = sales
        self.users = users
        self.reports = reports
        self.catalogue = catalogue
        self.clock = clock
        self.timezone = timezone
        self.max_sale_cents = max_sale_cents
        self.void_window_s = void_window_s
        self.recordings = WriteGroup(ledger, record_together)

    def methods(self) -> list[Method]:
        return [
            Method("sales.record", self.record, (
                uuid_param("sale_id"),
                uuid_param("store_id"),
                Param("amount", parse_amount),
                Param("sold_on", lambda v: parse_iso_date(v, "sold_on"), required=False),
            ), role=SELLER),
            Method("sales.mine", self.mine, (*date_range_params(), limit_param(MAX_LIST_LIMIT)), role=SELLER),
            Method("sales.list", self.list_of_seller, (uuid_param("seller_id"), *date_range_params(), limit_param(MAX_LIST_LIMIT)),
                   role=MANAGER),
            Method("sales.get", self.get, (uuid_param("sale_id"),), role=MANAGER),
            Method("sales.void", self.void, (uuid_param("sale_id"), Param("reason", parse_void_reason)), role=ANY_ROLE),
        ]

    def record(self, caller, sale_id: str, store_id: str, amount: int, sold_on=None) -> dict:
        """Durably record the caller's sale; a retry with the same sale_id is a duplicate, not a new sale."""
        if amount > self.max_sale_cents:
            raise ValidationError("amount", f"must be at most {format_cents(self.max_sale_cents)}")
        today = today_in(self.timezone, self.clock.now())
        date_given = sold_on is not None
        sold_on = check_sale_date(sold_on, today) if date_given else today
        store = self.catalogue.get_store(store_id)
        if store is None:
            raise app_error(NOT_FOUND, "No store has this id", field="store_id")
        if not store.open or (caller.store_ids and store_id not in caller.store_ids):
            if self.sales.find(sale_id) is None:  # a retry of a sale recorded before the change still gets its answer
                if not store.open:
                    raise app_error(INACTIVE, "This store is closed and takes no sales", field="store_id")
                raise app_error(FORBIDDEN, "This seller may not sell at this store", field="store_id",
                                store_ids=list(caller.store_ids))
        sale = Sale(sale_id, caller.user_id, store_id, amount, sold_on, iso_utc(self.clock.now()))
        try:  # durable, and held by enough nodes (or not_coordinator) before the answer
            (stored, duplicate, voided), replicas = self.recordings.commit((sale, date_given))
        except SaleConflict:
            raise app_error(CONFLICT, "This sale_id was already used for a different sale", field="sale_id") from None
        answer = {"sale": sale_json(stored), "duplicate": duplicate, "replicas": replicas}
        if voided:
            answer["voided"] = True
        # DEBUG and ids only: a line per sale at INFO would put people's names in the log and cost a lock per sale
        log.debug("sale %s %s: seller %s, store %s; copies held: %d", sale_id, "retried" if duplicate else "recorded", caller.user_id,
                  store_id, replicas)
        return answer

    def get(self, caller, sale_id: str) -> dict:
        """One sale by its code, for a manager about to void it; `void` when it is voided already."""
        sale = self.sales.find(sale_id)
        if sale is None:
            raise app_error(NOT_FOUND, "No sale has this id", field="sale_id")
        void = self.sales.find_void(sale_id)
        answer = {"sale": sale_json(sale), "voided": void is not None}
        if void is not None:
            answer["void"] = void_json(void, sale, self.users.find_by_id(void.voided_by))
        return answer

    def void(self, caller, sale_id: str, reason: str) -> dict:
        """Void a sale: a seller their own within VOID_WINDOW_MINUTES of recording it, a manager any; once."""
        now = self.clock.now()

        def allow(sale: Sale, already_voided: bool) -> None:
            if caller.role == MANAGER:
                return
            if sale.seller_id != caller.user_id:
                raise app_error(FORBIDDEN, "A seller may void only their own sales", reason="not_your_sale", field="sale_id")
            if already_voided:
                return  # a retry of one's own void is answered with it, however late
            recorded = dt.datetime.fromisoformat(sale.recorded_at.replace("Z", "+00:00"))
            if (now - recorded).total_seconds() > self.void_window_s:
                raise app_error(FORBIDDEN, f"Sales may be voided by their seller only within {self.void_window_s / 60:.0f} minutes",
                                reason="void_window_passed", field="sale_id")

        voided_at, now_ms = iso_utc(now), self.clock.wall_ms()
        try:
            (void, sale, duplicate), replicas = self.ledger.commit(
                lambda conn, stamp: void_sale(conn, sale_id, caller.user_id, reason, voided_at, now_ms, stamp, allow))
        except NotFound:
            raise app_error(NOT_FOUND, "No sale has this id", field="sale_id") from None
        if not duplicate:
            log.info("sale %s voided by user %s", sale_id, caller.user_id)
        voided_by = self.users.find_by_id(void.voided_by)
        return {"void": void_json(void, sale, voided_by), "duplicate": duplicate, "replicas": replicas}

    def mine(self, caller, start=None, end=None, limit: int = DEFAULT_LIST_LIMIT) -> dict:
        """The caller's sales in the range (newest first, at most `limit`) with the range's total and count."""
        return self._sales_of(caller.user_id, start, end, limit)

    def list_of_seller(self, caller, seller_id: str, start=None, end=None, limit: int = DEFAULT_LIST_LIMIT) -> dict:
        """For a manager looking for a sale to void: a seller's sales as sales.mine shows them to the seller."""
        seller = self.users.find_by_id(seller_id)
        if seller is None or seller.role != SELLER:
            raise app_error(NOT_FOUND, "No seller has this id", field="seller_id")
        return self._sales_of(seller.id, start, end, limit)

    def _sales_of(self, seller_id: str, start, end, limit: int) -> dict:
        check_range(start, end)
        sales = self.sales.list_for_seller(seller_id, start, end, limit)
        return {"sales": [sale_json(s) for s in sales], **total_json(self.reports.seller_total(seller_id, start, end))}
