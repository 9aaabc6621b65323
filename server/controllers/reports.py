"""The managers' reports: five from the daily aggregates, and the voids for audit."""

import datetime as dt
from dataclasses import replace

from db.catalogue import CatalogueRepository
from db.periods import PERIODS, count_buckets, cut_buckets, period_start
from db.reports import CHAIN, ReportsRepository, network_rows, seller_rows, store_rows
from db.sales import SalesRepository
from db.users import UserRepository
from models.dates import check_range, today_in
from models.errors import ValidationError
from models.limits import MAX_LIST_LIMIT, MAX_RANKING_LIMIT
from models.people import MANAGER, SELLER
from models.records import Total
from runtime.clock import iso_utc
from server.controllers.params import (
    date_range_params,
    detail_param,
    limit_param,
    optional_uuid_param,
    uuid_param,
)
from server.controllers.present import total_json, void_json
from server.dispatch import Method, Param
from wire.errors import NOT_FOUND, app_error

MAX_SERIES_BUCKETS = 400  # points of one sales_by_period series: over a year of days
DEFAULT_SERIES_BUCKETS = {"day": 30, "week": 12, "month": 12}  # without `from`: this many periods up to `to`
VOIDS_OPEN_BEFORE = dt.date(1900, 1, 1)
VOIDS_OPEN_AFTER = dt.date(9000, 1, 1)


class ReportsController:
    def __init__(self, reports: ReportsRepository, users: UserRepository, catalogue: CatalogueRepository, sales: SalesRepository,
                 timezone, clock):
        self.clock = clock
        self.reports = reports
        self.users = users
        self.catalogue = catalogue
        self.sales = sales
        self.timezone = timezone

    def methods(self) -> list[Method]:
        """Every report reads only: a follower in sync may answer it (replica_read; docs/protocol.md, reports from followers)."""
        ranged = date_range_params()
        return [replace(method, replica_read=True) for method in [
            Method("reports.seller_total", self.seller_total, (uuid_param("seller_id"), *ranged, detail_param()), role=MANAGER),
            Method("reports.store_total", self.store_total, (uuid_param("store_id"), *ranged), role=MANAGER),
            Method("reports.network_total", self.network_total, (uuid_param("network_id"), *ranged, detail_param()), role=MANAGER),
            Method("reports.best_store", self.best_store, (*ranged, limit_param(MAX_RANKING_LIMIT)), role=MANAGER),
            Method("reports.best_seller", self.best_seller, (*ranged, limit_param(MAX_RANKING_LIMIT)), role=MANAGER),
            Method("reports.voids", self.voids, (*ranged, limit_param(MAX_LIST_LIMIT)), role=MANAGER),
            Method("reports.sales_by_period", self.sales_by_period,
                   (Param("period", _parse_period), *ranged, *(optional_uuid_param(f"{who}_id") for who in ("store", "network", "seller"))),
                   role=MANAGER),
        ]]

    def seller_total(self, caller, seller_id: str, start=None, end=None, detail: bool = False) -> dict:
        """With detail, `stores`: the total in each store the seller sold at, highest first."""
        check_range(start, end)
        seller = self.users.find_by_id(seller_id)
        if seller is None or seller.role != SELLER:
            raise app_error(NOT_FOUND, "No seller has this id", field="seller_id")
        answer = {"seller": {"id": seller.id, "name": seller.name}, **total_json(self.reports.seller_total(seller_id, start, end))}
        if detail:
            answer["stores"] = _per_store(self.sales.seller_by_store(seller_id, start, end))
        return answer

    def store_total(self, caller, store_id: str, start=None, end=None) -> dict:
        check_range(start, end)
        store = self.catalogue.get_store(store_id)
        if store is None:
            raise app_error(NOT_FOUND, "No store has this id", field="store_id")
        return {"store": {"id": store.id, "name": store.name}, **total_json(self.reports.store_total(store_id, start, end))}

    def network_total(self, caller, network_id: str, start=None, end=None, detail: bool = False) -> dict:
        """With detail, `stores`: the total of each of the network's stores with sales in the range, highest first."""
        check_range(start, end)
        network = self.catalogue.get_network(network_id)
        if network is None:
            raise app_error(NOT_FOUND, "No network has this id", field="network_id")
        answer = {"network": {"id": network.id, "name": network.name}, **total_json(self.reports.network_total(network_id, start, end))}
        if detail:
            answer["stores"] = _per_store(self.reports.network_by_store(network_id, start, end))
        return answer

    def best_store(self, caller, start=None, end=None, limit: int = 1) -> dict:
        """Stores with sales in the range by total, highest first; [] when there are none."""
        check_range(start, end)
        rows = self.reports.best_stores(start, end, limit)
        return {"ranking": [{"store": {"id": i, "name": n}, **total_json(t)} for i, n, t in rows]}

    def best_seller(self, caller, start=None, end=None, limit: int = 1) -> dict:
        """Sellers with sales in the range by total, highest first; [] when there are none."""
        check_range(start, end)
        rows = self.reports.best_sellers(start, end, limit)
        return {"ranking": [{"seller": {"id": i, "name": n}, **total_json(t)} for i, n, t in rows]}

    def sales_by_period(self, caller, period: str, start=None, end=None, store_id=None, network_id=None, seller_id=None) -> dict:
        """The range's sales per day, week or month (cut at the range's ends, so they add up to its total), of the chain or
        of one store, network or seller; `previous` is the same number of days just before the range."""
        chosen = [(name, value) for name, value in (("store_id", store_id), ("network_id", network_id), ("seller_id", seller_id))
                  if value is not None]
        if len(chosen) > 1:
            raise ValidationError(chosen[1][0], "give at most one of store_id, network_id and seller_id")
        end = end or today_in(self.timezone, self.clock.now())
        if start is None:
            start = period_start(period, end)
            for _ in range(DEFAULT_SERIES_BUCKETS[period] - 1):
                start = period_start(period, start - dt.timedelta(days=1))
        check_range(start, end)
        if count_buckets(period, start, end) > MAX_SERIES_BUCKETS:
            raise ValidationError("from", f"must leave at most {MAX_SERIES_BUCKETS} periods in the range")
        subject, rows = self._series_subject(store_id, network_id, seller_id)
        buckets = cut_buckets(period, start, end)
        totals = self.reports.series(rows, buckets)
        days = (end - start).days + 1
        before = (start - dt.timedelta(days=days), start - dt.timedelta(days=1))
        previous = self.reports.total(rows, *before)
        whole = Total(sum(t.total_cents for t in totals), sum(t.count for t in totals))
        points = [{"start": first.isoformat(), "end": last.isoformat(), **total_json(t)} for (first, last), t in zip(buckets, totals)]
        return {"period": period, "from": start.isoformat(), "to": end.isoformat(), **subject, **total_json(whole), "series": points,
                "previous": {"from": before[0].isoformat(), "to": before[1].isoformat(), **total_json(previous)}}

    def _series_subject(self, store_id, network_id, seller_id):
        """({subject: …} for the answer, the aggregate rows to read) of the series' store, network, seller or the chain."""
        if store_id is not None:
            store = self.catalogue.get_store(store_id)
            if store is None:
                raise app_error(NOT_FOUND, "No store has this id", field="store_id")
            return {"store": {"id": store.id, "name": store.name}}, store_rows(store_id)
        if network_id is not None:
            network = self.catalogue.get_network(network_id)
            if network is None:
                raise app_error(NOT_FOUND, "No network has this id", field="network_id")
            return {"network": {"id": network.id, "name": network.name}}, network_rows(network_id)
        if seller_id is not None:
            seller = self.users.find_by_id(seller_id)
            if seller is None or seller.role != SELLER:
                raise app_error(NOT_FOUND, "No seller has this id", field="seller_id")
            return {"seller": {"id": seller.id, "name": seller.name}}, seller_rows(seller_id)
        return {}, CHAIN

    def voids(self, caller, start=None, end=None, limit: int = 100) -> dict:
        """Voids whose voided_at falls on the range's days (in TIMEZONE), newest first."""
        check_range(start, end)
        # Days far outside any sale's life are open ends: no time zone arithmetic can overflow on them.
        start_iso = self._day_start(start) if start and start > VOIDS_OPEN_BEFORE else ""
        end_iso = self._day_start(end + dt.timedelta(days=1)) if end and end < VOIDS_OPEN_AFTER else "~"  # "~" sorts after ISO
        names: dict[str, object] = {}
        voids = []
        for void, sale in self.sales.list_voids(start_iso, end_iso, limit):
            if void.voided_by not in names:
                names[void.voided_by] = self.users.find_by_id(void.voided_by)
            voids.append(void_json(void, sale, names[void.voided_by]))
        return {"voids": voids}

    def _day_start(self, day: dt.date) -> str:
        return iso_utc(dt.datetime.combine(day, dt.time(), tzinfo=self.timezone))


def _parse_period(value) -> str:
    if value not in PERIODS:
        raise ValidationError("period", "must be day, week or month")
    return value


def _per_store(rows) -> list[dict]:
    return [{"store": {"id": store_id, "name": name}, **total_json(total)} for store_id, name, total in rows]
