"""The demo chain: three networks, six stores, four sellers, one manager (every PIN 1234),
and a few hundred sales over the 90 days before today. Loaded only into an empty database.

Ids are derived from names (UUIDv5), so demo data loaded on two nodes is the
same data, and replication merges it instead of seeing two chains."""

import datetime as dt
import random
import sqlite3
import uuid

from db.catalogue import CatalogueRepository
from db.changes import Stamp
from db.sales import record_sale
from db.users import UserRepository
from models.documents import cnpj_check_digits
from models.people import MANAGER, SELLER
from models.records import Network, Sale, Store, User

DEMO_PIN = "1234"
DEMO_SALES = 360
DEMO_DAYS = 90
DEMO_SEED = 2023  # same sales pattern on every demo

NETWORKS = {
    "MAX ATACADO": ["Max Atacado Centro", "Max Atacado Sul"],
    "ATAKADAO": ["Atakadão Norte", "Atakadão Leste"],
    "LOJAS MARTINS": ["Lojas Martins 1", "Lojas Martins 2"],
}
SELLERS = [
    ("12345678909", "João de Alencar", 1985),
    ("23456789092", "Maria das Dores", 1990),
    ("34567890175", "Pedro Solto Aguiar", 1979),
    ("45678901249", "Ana Milena da Silva", 1996),
]
MANAGERS = [("56789012303", "Lucas Matos de Abreu", 1975)]
DEMO_NAMESPACE = uuid.UUID("6f1d9a52-4c2b-4b7e-9a0e-0c5e1d2a3b4c")


def demo_id(name: str) -> str:
    return str(uuid.uuid5(DEMO_NAMESPACE, name))


def _cnpj(n: int) -> str:
    base = f"{11222333 + n * 1111:08d}0001"
    return base + cnpj_check_digits(base)


def is_empty(conn: sqlite3.Connection) -> bool:
    return all(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == 0 for t in ("networks", "stores", "users", "sales"))


def demo_write(today: dt.date, pin_hash_of, now_iso: str):
    """A write (conn, stamp) -> bool that loads the demo chain into an empty database; False (and no change) otherwise."""
    hashes = {cpf: pin_hash_of(DEMO_PIN) for cpf, _, _ in SELLERS + MANAGERS}

    def load(conn: sqlite3.Connection, stamp: Stamp) -> bool:
        if not is_empty(conn):
            return False
        stores = []
        for network_name, store_names in NETWORKS.items():
            network = CatalogueRepository.insert_network(conn, Network(demo_id(network_name), network_name), now_iso, stamp)
            for name in store_names:
                store = Store(demo_id(name), name, _cnpj(len(stores) + 1), network)
                stores.append(CatalogueRepository.insert_store(conn, store, now_iso, stamp))
        sellers = []
        for role, people in ((SELLER, SELLERS), (MANAGER, MANAGERS)):
            for cpf, name, year in people:
                user = User(demo_id(cpf), cpf, name, year, role)
                UserRepository.insert(conn, user, hashes[cpf], now_iso, stamp)
                if role == SELLER:
                    sellers.append(user)
        rng = random.Random(DEMO_SEED)
        for number in range(DEMO_SALES):
            day = today - dt.timedelta(days=rng.randint(1, DEMO_DAYS))
            cents = rng.randint(500, 80_000)
            sale = Sale(demo_id(f"sale {number}"), rng.choice(sellers).id, rng.choice(stores).id, cents, day,
                        f"{day.isoformat()}T15:00:00.000000Z")
            record_sale(conn, sale, stamp)
        return True

    return load
