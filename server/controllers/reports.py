"""The managers' reports: five from the daily aggregates, and the voids for audit."""

import datetime as dt

from db.catalogue import CatalogueRepository
from db.reports import ReportsRepository
from db.sales import SalesRepository
from db.users import UserRepository
from models.dates import check_range
from models.people import MANAGER, SELLER
from runtime.clock import iso_utc
from server.controllers.params import MAX_LIST_LIMIT, MAX_RANKING_LIMIT, date_range_params, limit_param, uuid_param
from server.controllers.present import total_json, void_json
from server.dispatch import Method
from wire.errors import NOT_FOUND, app_error

VOIDS_OPEN_BEFORE = dt.date(1900, 1, 1)
VOIDS_OPEN_AFTER = dt.date(9000, 1, 1)


class ReportsController:
    def __init__(self, reports: ReportsRepository, users: UserRepository, catalogue: CatalogueRepository, sales: SalesRepository,
                 timezone):
        self.reports = reports
        self.users = users
        self.catalogue = catalogue
        self.sales = sales
        self.timezone = timezone

    def methods(self) -> list[Method]:
        ranged = date_range_params()
        return [
            Method("reports.seller_total", self.seller_total, (uuid_param("seller_id"), *ranged), role=MANAGER),
            Method("reports.store_total", self.store_total, (uuid_param("store_id"), *ranged), role=MANAGER),
            Method("reports.network_total", self.network_total, (uuid_param("network_id"), *ranged), role=MANAGER),
            Method("reports.best_store", self.best_store, (*ranged, limit_param(MAX_RANKING_LIMIT)), role=MANAGER),
            Method("reports.best_seller", self.best_seller, (*ranged, limit_param(MAX_RANKING_LIMIT)), role=MANAGER),
            Method("reports.voids", self.voids, (*ranged, limit_param(MAX_LIST_LIMIT)), role=MANAGER),
        ]

    def seller_total(self, caller, seller_id: str, start=None, end=None) -> dict:
        check_range(start, end)
        seller = self.users.find_by_id(seller_id)
        if seller is None or seller.role != SELLER:
            raise app_error(NOT_FOUND, "No seller has this id", field="seller_id")
        return {"seller": {"id": seller.id, "name": seller.name}, **total_json(self.reports.seller_total(seller_id, start, end))}

    def store_total(self, caller, store_id: str, start=None, end=None) -> dict:
        check_range(start, end)
        store = self.catalogue.get_store(store_id)
        if store is None:
            raise app_error(NOT_FOUND, "No store has this id", field="store_id")
        return {"store": {"id": store.id, "name": store.name}, **total_json(self.reports.store_total(store_id, start, end))}

    def network_total(self, caller, network_id: str, start=None, end=None) -> dict:
        check_range(start, end)
        network = self.catalogue.get_network(network_id)
        if network is None:
            raise app_error(NOT_FOUND, "No network has this id", field="network_id")
        return {"network": {"id": network.id, "name": network.name}, **total_json(self.reports.network_total(network_id, start, end))}

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
