"""Nodes as bare databases for replication tests: a Replica is one node's SQLite file, change log and ledger,
and pull_from() ships what another holds that it lacks, as replication does, in batches."""

import datetime as dt
import functools

from support import FixedRole

from db.catalogue import CatalogueRepository
from db.changes import ChangeLog, read_after
from db.database import Database
from db.demo import demo_write
from db.merge import apply_entries
from db.periods import LEVELS
from db.reports import ReportsRepository
from db.sales import UUID_TEXT_SQL, SalesRepository, record_sale
from db.users import UserRepository
from models.records import Sale, User, new_id
from server.ledger import Ledger

TODAY = dt.date(2026, 11, 26)
AT = "2026-11-26T15:00:00.000000Z"  # when the replicas' writes happen, as the nodes write times


class Replica:
    """One node's database with its change log; `epoch` is what its local writes are stamped with."""

    def __init__(self, path, node_id: int, epoch: int = 1):
        self.node_id, self.epoch = node_id, epoch
        self.db = Database(path, node_id)
        self.changes = ChangeLog()
        self.db.read(self.changes.load)
        self.db.after_commit.append(self.changes.on_commit)
        self.role = FixedRole(epoch)
        self.ledger = Ledger(node_id, self.db, self.role)
        self.sales = SalesRepository(self.db)
        self.users = UserRepository(self.db)
        self.reports = ReportsRepository(self.db)

    def sell(self, seller_id: str, store_id: str, cents: int, sale_id: str | None = None) -> Sale:
        sale = Sale(sale_id or new_id(), seller_id, store_id, cents, TODAY, AT)
        return self.ledger.commit(lambda conn, stamp: record_sale(conn, sale, stamp))[0][0]

    def register(self, user: User, pin_hash: str) -> None:
        self.ledger.commit(lambda conn, stamp: UserRepository.insert(conn, user, pin_hash, AT, stamp))

    def pull_from(self, other: "Replica", batch: int = 7) -> int:
        """Apply everything `other` holds that this one lacks, in batches; how many changes were applied."""
        applied = 0
        while True:
            entries, more = other.db.read(lambda c: read_after(c, other.changes.vector(), self.changes.vector(), batch))
            if entries:
                applied += self.db.write(functools.partial(apply_entries, entries=entries, merged_at="t")).applied
            if not more:
                return applied

    def digest(self) -> dict:
        """Everything replication must make equal: rows with their registers and versions, voids, totals, the vector."""
        def query(conn):
            total_tables = [f"totals_{who}_{level}" for who in ("store", "seller") for level in LEVELS]

            def rows(sql: str) -> list[tuple]:
                return sorted(tuple(r) for r in conn.execute(sql))
            return {
                "sales": rows(f"SELECT {UUID_TEXT_SQL.format('s.sale_id')}, ks.id, kt.id, s.amount_cents, s.day FROM sales s "
                              "JOIN local_keys ks ON ks.key = s.seller JOIN local_keys kt ON kt.key = s.store"),
                "users": rows("SELECT id, cpf, merged_into, active, active_version, pin_hash, pin_version, store_ids, stores_version "
                              "FROM users"),
                "networks": rows("SELECT id, name, name_version, created_at, creations FROM networks"),
                "stores": rows("SELECT id, name, cnpj, network_id, open, name_version, network_version, open_version, created_at, "
                               "creations FROM stores"),
                "voids": rows("SELECT sale_id, voided_by, reason, voided_at, version FROM sale_voids"),
                "totals": sorted(tuple(r) for t in total_tables  # local keys differ between nodes: by UUID
                                 for r in conn.execute(f"SELECT '{t}', t.period, k.id, t.total_cents, t.sale_count FROM {t} t "
                                                       "JOIN local_keys k ON k.key = t.key WHERE t.sale_count > 0")),
            }
        return {**self.db.read(query), "vector": self.changes.vector()}

    def write(self, write):
        """Commit write(conn, stamp) as this node's local write; its result."""
        return self.ledger.commit(write)[0]

    def close(self):
        self.db.close()


def demo_chain(replica: Replica):
    replica.ledger.commit(demo_write(TODAY, lambda pin: "scrypt$test", AT))
    stores = CatalogueRepository(replica.db).list_stores()
    sellers = replica.users.list_sellers()
    return stores, sellers
