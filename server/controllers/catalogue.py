"""Networks, stores and the list of sellers."""

from db.catalogue import CatalogueRepository
from db.users import UserRepository
from models.people import MANAGER
from server.controllers.present import network_json, store_json
from server.dispatch import Method


class CatalogueController:
    def __init__(self, catalogue: CatalogueRepository, users: UserRepository):
        self.catalogue = catalogue
        self.users = users

    def methods(self) -> list[Method]:
        return [
            Method("networks.list", self.networks),
            Method("stores.list", self.stores),
            Method("sellers.list", self.sellers, role=MANAGER),
        ]

    def networks(self, caller) -> dict:
        return {"networks": [network_json(n) for n in self.catalogue.list_networks()]}

    def stores(self, caller) -> dict:
        return {"stores": [store_json(s) for s in self.catalogue.list_stores()]}

    def sellers(self, caller) -> dict:
        return {"sellers": [{"id": u.id, "name": u.name, "cpf": u.cpf} for u in self.users.list_sellers()]}
