"""Benchmark: report latency on a node holding many sales; prints the median time of each report.

    python bench/reports.py [--sales 1000000] [--sellers 1000] [--stores 200] [--days 366]

Builds the database file directly through the same insert that the server
uses (so the daily aggregates are filled exactly as in production), then
starts a real node on it and times each report over the network.
"""

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import ServerProcess, fresh_sale_id  # noqa: E402

from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402
from db.catalogue import CatalogueRepository  # noqa: E402
from db.changes import Stamp  # noqa: E402
from db.database import Database  # noqa: E402
from db.sales import record_new_sales  # noqa: E402
from db.users import UserRepository  # noqa: E402
from models.documents import cnpj_check_digits, cpf_check_digits  # noqa: E402
from models.pins import hash_pin  # noqa: E402
from models.records import Network, Sale, Store, User, new_id  # noqa: E402

REPEATS = 20
BATCH = 50_000
BUILT_AT = "2026-01-01T00:00:00.000000Z"  # when the built rows say they were made


def build(path: Path, sales: int, sellers: int, stores: int, days: int) -> None:
    db = Database(path, node_id=1)
    changes = Stamp(db.incarnation, epoch=1)  # the bench writes directly, as node 1 in epoch 1
    rng = random.Random(1)
    networks = [Network(new_id(), f"REDE {i}") for i in range(10)]
    store_list = [Store(new_id(), f"Loja {i:04d}", f"{10000000 + i:08d}0001" + cnpj_check_digits(f"{10000000 + i:08d}0001"),
                        networks[i % 10]) for i in range(stores)]
    seller_ids = [new_id() for _ in range(sellers)]
    manager_hash = hash_pin("1234")
    today = dt.date.today()

    def catalogue(conn):
        for network in networks:
            CatalogueRepository.insert_network(conn, network, BUILT_AT, changes)
        for store in store_list:
            CatalogueRepository.insert_store(conn, store, BUILT_AT, changes)
        for i, seller_id in enumerate(seller_ids):
            nine = f"{600000000 + i:09d}"
            UserRepository.insert(conn, User(seller_id, nine + cpf_check_digits(nine), f"Vendedor {i:04d}", 1990, "seller"), "x",
                                  BUILT_AT, changes)
        UserRepository.insert(conn, User(new_id(), "56789012303", "Gerente", 1975, "manager"), manager_hash, BUILT_AT, changes)
    db.write(catalogue)
    made = 0
    while made < sales:
        batch = []
        for _ in range(min(BATCH, sales - made)):
            day = today - dt.timedelta(days=rng.randrange(days))
            batch.append(Sale(fresh_sale_id(), rng.choice(seller_ids), rng.choice(store_list).id, rng.randint(100, 100_000),
                              day, BUILT_AT))

        def chunk(conn, batch=batch):
            record_new_sales(conn, changes, batch)
        db.write(chunk, timeout=600)
        made += len(batch)
        print(f"  built {made:,} sales", file=sys.stderr)
    db.close()


def timed(call) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--sellers", type=int, default=1000)
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--days", type=int, default=366)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        build(Path(tmp) / "node-1.db", args.sales, args.sellers, args.stores, args.days)
        print(f"built {args.sales:,} sales in {time.perf_counter() - started:.0f}s")
        size = sum(p.stat().st_size for p in Path(tmp).glob("node-1.db*"))
        print(f"  {size / args.sales:.0f} bytes on disk per sale (db + wal)")
        server = ServerProcess(Path(tmp), demo=False, env={"LOG_LEVEL": "WARNING"}).start()
        try:
            api = Api(Connection({1: ("127.0.0.1", server.port)}))
            api.login("56789012303", "1234")
            store, network = api.stores()[0], api.networks()[0]
            seller = api.sellers()[0]
            month_ago = dt.date.today() - dt.timedelta(days=30)
            year_from = (dt.date.today() - dt.timedelta(days=365)).replace(day=15)  # a year not aligned to months
            year_to = year_from + dt.timedelta(days=364)
            reports = {
                "seller_total (all time)": lambda: api.report("seller_total", seller_id=seller["id"]),
                "store_total (all time)": lambda: api.report("store_total", store_id=store["id"]),
                "network_total (30 days)": lambda: api.report("network_total", month_ago, None, network_id=network["id"]),
                "best_store (all time, top 10)": lambda: api.report("best_store", limit=10),
                "best_seller (all time, top 10)": lambda: api.report("best_seller", limit=10),
                "best_seller (30 days, top 10)": lambda: api.report("best_seller", month_ago, None, limit=10),
                "best_seller (a year from a 15th)": lambda: api.report("best_seller", year_from, year_to, limit=10),
            }
            print(f"sales={args.sales:,} sellers={args.sellers} stores={args.stores} days={args.days}; median of {REPEATS} calls:")
            for name, call in reports.items():
                print(f"  {name:32s} {timed(call):8.1f} ms")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
