"""Random administration between four real SQLite replicas: sales (some reusing an id), voids, CPFs registered
on several nodes, PIN/active/store changes, networks and stores created twice, moved, renamed, closed, with
partial exchanges (a batch of 1 to 6 changes) in between and clocks up to 5 s apart. After a full exchange every
node holds the same rows, registers, voids and totals, and every total equals the sum of its unvoided sales.
Seeded: a failing seed is a scenario to replay."""

import functools
import random
import uuid

import pytest
from replicas import AT, TODAY, Replica, demo_chain

from db.catalogue import CatalogueRepository
from db.changes import read_after
from db.errors import AlreadyExists, NotFound, SaleConflict
from db.merge import apply_entries
from db.periods import LEVELS
from db.sales import NOT_VOIDED, UUID_TEXT_SQL, record_sale, void_sale
from db.users import UserRepository
from models.changes import highest_epoch
from models.documents import cnpj_check_digits, cpf_check_digits
from models.records import Network, Sale, Store, User, network_id_for, store_id_for

T0 = 1_800_000_000_000
CPFS = [n + cpf_check_digits(n) for n in ("529982247", "390533447", "111444777")]
CNPJS = [b + cnpj_check_digits(b) for b in ("114447770001", "400000010001", "400000020001")]
NETWORK_NAMES = ["Rede A", "REDE A", "Rede B", "Rede C"]
STEPS = 60
SEEDS = range(12)


def exchange(nodes: list[Replica]) -> None:
    for _ in range(50):
        if not sum(a.pull_from(b) for a in nodes for b in nodes if a is not b):
            return
    raise AssertionError("the replicas' vectors never stopped moving")


def one_batch(dst: Replica, src: Replica, size: int) -> None:
    entries, _ = src.db.read(lambda c: read_after(c, src.changes.vector(), dst.changes.vector(), size))
    if entries:
        dst.db.write(functools.partial(apply_entries, entries=entries, merged_at=AT))


def rows(node: Replica, sql: str) -> list[tuple]:
    return [tuple(r) for r in node.db.read(lambda c: c.execute(sql).fetchall())]


def allow_any(sale, already_voided) -> None:
    """A manager's void."""


class Chain:
    """Four replicas and the random operations a chain's managers, sellers and links make."""

    def __init__(self, tmp_path, seed: int):
        self.rng = random.Random(seed)
        self.ids = random.Random(seed * 7 + 1)
        self.nodes = [Replica(tmp_path / f"n{i}.db", i, i) for i in range(1, 5)]
        self.skew = {n.node_id: self.rng.randint(-5000, 5000) for n in self.nodes}
        self.epoch = 4
        self.sale_ids: list[str] = []
        demo_chain(self.nodes[0])
        exchange(self.nodes)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def step(self, number: int) -> None:
        rng, node = self.rng, self.rng.choice(self.nodes)
        now = T0 + number * 1000 + self.skew[node.node_id]
        if highest_epoch(node.changes.vector()) > node.role.epoch:  # it heard of a later epoch
            self.epoch += 1
            node.role.epoch = self.epoch
        op = rng.random()
        try:
            if op < 0.2:
                self.sell(node)
            elif op < 0.3:
                self.void(node, now)
            elif op < 0.4:
                user = User(self.new_id(), rng.choice(CPFS), "Pessoa X", 1990, rng.choice(["seller", "manager"]))
                node.write(lambda c, s: UserRepository.insert(c, user, "h", AT, s, now))
            elif op < 0.55:
                self.change_person(node, now, number)
            elif op < 0.62:
                name = rng.choice(NETWORK_NAMES)
                node.write(lambda c, s: CatalogueRepository.insert_network(c, Network(network_id_for(name), name),
                                                                           f"2026-11-26T15:00:00.{number:06d}Z", s, now))
            elif op < 0.7:
                cnpj, network = rng.choice(CNPJS), rng.choice(rows(node, "SELECT id FROM networks"))[0]
                store = Store(store_id_for(cnpj), f"Loja {number}", cnpj, Network(network, ""))
                node.write(lambda c, s: CatalogueRepository.insert_store(c, store, f"2026-11-26T15:00:00.{number:06d}Z", s, now))
            elif op < 0.8:
                self.change_store(node, now, number)
            else:
                one_batch(node, rng.choice([x for x in self.nodes if x is not node]), rng.randint(1, 6))
        except (AlreadyExists, NotFound, SaleConflict):
            pass

    def sell(self, node: Replica) -> None:
        rng = self.rng
        sellers = rows(node, "SELECT id FROM users WHERE merged_into IS NULL AND role = 'seller'")
        stores = rows(node, "SELECT id FROM stores")
        sale_id = rng.choice(self.sale_ids) if self.sale_ids and rng.random() < 0.15 else self.new_id()
        self.sale_ids.append(sale_id)
        sale = Sale(sale_id, rng.choice(sellers)[0], rng.choice(stores)[0], rng.randint(1, 9999), TODAY, AT)
        node.write(lambda c, s: record_sale(c, sale, s))

    def void(self, node: Replica, now: int) -> None:
        held = rows(node, f"SELECT {UUID_TEXT_SQL.format('sale_id')} FROM sales")
        if not held:
            return
        sale_id = self.rng.choice(held)[0]
        voider = rows(node, "SELECT id FROM users ORDER BY id LIMIT 1")[0][0]
        node.write(lambda c, s: void_sale(c, sale_id, voider, "motivo x", AT, now, s, allow_any))

    def change_person(self, node: Replica, now: int, number: int) -> None:
        rng = self.rng
        user_id = rng.choice(rows(node, "SELECT id FROM users"))[0]
        kind = rng.random()
        if kind < 0.33:
            active = rng.random() < 0.5
            node.write(lambda c, s: UserRepository.set_active(c, user_id, active, s, now))
        elif kind < 0.66:
            node.write(lambda c, s: UserRepository.set_pin_hash(c, user_id, f"h{number}", s, now))
        else:
            stores = [r[0] for r in rows(node, "SELECT id FROM stores")]
            chosen = rng.sample(stores, 2)
            node.write(lambda c, s: UserRepository.set_stores(c, user_id, chosen, s, now))

    def change_store(self, node: Replica, now: int, number: int) -> None:
        rng = self.rng
        store_id = rng.choice(rows(node, "SELECT id FROM stores"))[0]
        networks = [r[0] for r in rows(node, "SELECT id FROM networks")]
        change = rng.choice([{"name": f"Nome {number}"}, {"network_id": rng.choice(networks)}, {"open_": rng.random() < 0.5}])
        node.write(lambda c, s: CatalogueRepository.update_store(c, store_id, s, now, **change))


def totals_match_unvoided_sales(node: Replica) -> bool:
    """Every level of the totals of every seller and store equals the sum of its unvoided sales."""
    unvoided = f"FROM sales s WHERE {NOT_VOIDED} GROUP BY 1"
    by_seller = rows(node, f"SELECT seller, SUM(amount_cents), COUNT(*) {unvoided}")
    by_store = rows(node, f"SELECT store, SUM(amount_cents), COUNT(*) {unvoided}")
    for level in LEVELS:
        seller_totals = rows(node, f"SELECT key, SUM(total_cents), SUM(sale_count) FROM totals_seller_{level} GROUP BY 1 "
                                   "HAVING SUM(sale_count) != 0")
        store_totals = rows(node, f"SELECT key, SUM(total_cents), SUM(sale_count) FROM totals_store_{level} GROUP BY 1 "
                                  "HAVING SUM(sale_count) != 0")
        if sorted(by_seller) != sorted(seller_totals) or sorted(by_store) != sorted(store_totals):
            return False
    return True


@pytest.mark.parametrize("seed", SEEDS)
def test_random_administration_converges_and_totals_equal_the_unvoided_sales(tmp_path, seed):
    chain = Chain(tmp_path, seed)
    try:
        for number in range(STEPS):
            chain.step(number)
        exchange(chain.nodes)
        digests = [node.digest() for node in chain.nodes]
        differing = [key for key in digests[0] if any(d[key] != digests[0][key] for d in digests[1:])]
        assert differing == [], f"seed {seed}: the replicas differ in {differing}"
        assert all(totals_match_unvoided_sales(node) for node in chain.nodes), f"seed {seed}: totals differ from sales"
    finally:
        for node in chain.nodes:
            node.close()
