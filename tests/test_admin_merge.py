"""Administration across a partition, between real SQLite files: every node decides the same way whatever order
changes arrive in (voids and their sales commute, registers keep the later write, the same CNPJ or network name
created on both sides is one record)."""

import functools

import pytest
from replicas import Replica, demo_chain

from db.catalogue import CatalogueRepository
from db.changes import read_after
from db.merge import apply_entries
from db.node_state import list_merges
from db.sales import void_sale
from db.users import UserRepository
from models.records import Network, Sale, Store, network_id_for, store_id_for

CNPJ = "11444777000161"
T0 = 1_800_000_000_000  # ms: the "now" handed to local writes, so that which write is later is the test's choice


def allow_any(sale: Sale, already_voided: bool) -> None:
    """A manager's void: no window, any seller."""


def void(replica: Replica, sale_id: str, reason: str, now_ms: int, voided_by: str):
    return replica.write(lambda conn, stamp: void_sale(conn, sale_id, voided_by, reason, "t", now_ms, stamp, allow_any))


def exchange(*nodes: Replica) -> None:
    """Everyone pulls from everyone until nothing moves."""
    while sum(a.pull_from(b) for a in nodes for b in nodes if a is not b):
        pass


def ship_only_origins_of(src: Replica, dst: Replica, node_id: int) -> int:
    """Apply to dst the changes src holds that were written by node_id, skipping the rest: a catch-up in another order."""
    entries, _ = src.db.read(lambda c: read_after(c, src.changes.vector(), dst.changes.vector(), 10_000))
    picked = [e for e in entries if e["origin"][0] == node_id]
    return dst.db.write(functools.partial(apply_entries, entries=picked, merged_at="t")).applied


def counted(replica: Replica, seller_id: str) -> tuple[int, int]:
    total = replica.reports.seller_total(seller_id, None, None)
    return total.total_cents, total.count


@pytest.mark.parametrize("void_first", [True, False])
def test_a_void_that_arrives_before_its_sale_still_wins(replicas, void_first):
    """The sale is recorded by node 2, voided by node 3; node 1 gets the void first (or the sale first): voided either way."""
    writer, voider, late = replicas(2, epoch=1), replicas(3, epoch=2), replicas(1, epoch=1)
    stores, sellers = demo_chain(writer)
    exchange(writer, voider, late)
    seller = sellers[0].id
    before = counted(late, seller)
    sale = writer.sell(seller, stores[0].id, 12_345)
    voider.pull_from(writer)
    void(voider, sale.sale_id, "valor errado", T0, seller)
    if void_first:
        assert ship_only_origins_of(voider, late, 3) == 1  # the void alone: its sale is not there yet
        assert late.sales.is_voided(sale.sale_id) and counted(late, seller) == before
    late.pull_from(writer)
    late.pull_from(voider)
    assert counted(late, seller) == before
    exchange(writer, voider, late)
    assert writer.digest() == voider.digest() == late.digest()
    assert counted(writer, seller) == before


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_two_voids_of_one_sale_count_once_and_the_earlier_is_kept_everywhere(replicas, order):
    a, b = replicas(1, epoch=2), replicas(2, epoch=3)
    stores, sellers = demo_chain(a)
    seller = sellers[0].id
    before = counted(a, seller)
    sale = a.sell(seller, stores[0].id, 5_000)
    b.pull_from(a)
    void(a, sale.sale_id, "primeiro motivo", T0 + 10, seller)
    void(b, sale.sale_id, "segundo motivo", T0 + 20, seller)
    first, second = (a, b) if order == "ab" else (b, a)
    second.pull_from(first)
    first.pull_from(second)
    assert a.digest() == b.digest()
    assert a.digest()["voids"][0][2] == "primeiro motivo"
    assert counted(a, seller) == counted(b, seller) == before


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_the_same_cnpj_and_network_name_created_on_both_sides_is_one_store_with_both_sides_sales(replicas, order):
    a, b = replicas(1, epoch=2), replicas(2, epoch=3)
    _, sellers = demo_chain(a)
    b.pull_from(a)
    seller = sellers[0].id

    def create(replica: Replica, name: str, now_ms: int):
        network = Network(network_id_for("REDE SUL"), "REDE SUL")
        store = Store(store_id_for(CNPJ), name, CNPJ, network)

        def write(conn, stamp):
            CatalogueRepository.insert_network(conn, network, f"t{now_ms}", stamp, now_ms)
            return CatalogueRepository.insert_store(conn, store, f"t{now_ms}", stamp, now_ms)
        return replica.write(write)

    store_a = create(a, "Loja Sul A", T0 + 1)
    store_b = create(b, "Loja Sul B", T0 + 2)
    assert store_a.id == store_b.id
    a.sell(seller, store_a.id, 1_000)
    b.sell(seller, store_b.id, 2_000)
    first, second = (a, b) if order == "ab" else (b, a)
    second.pull_from(first)
    first.pull_from(second)
    assert a.digest() == b.digest()
    assert a.reports.store_total(store_a.id, None, None).total_cents == 3_000
    [merged] = [s for s in CatalogueRepository(a.db).list_stores() if s.cnpj == CNPJ]
    assert merged.name == "Loja Sul B"  # the later name
    for replica in (a, b):
        kinds = {m["kind"] for m in replica.db.read(list_merges)}
        assert kinds == {"store", "network"}


@pytest.mark.parametrize("later", ["deactivation", "reactivation"])
def test_a_deactivation_and_a_reactivation_on_two_sides_keep_the_later(replicas, later):
    a, b = replicas(1, epoch=2), replicas(2, epoch=3)
    _, sellers = demo_chain(a)
    person = sellers[1].id
    a.write(lambda conn, stamp: UserRepository.set_active(conn, person, False, stamp, T0))
    b.pull_from(a)
    deactivate_at, reactivate_at = (T0 + 20, T0 + 10) if later == "deactivation" else (T0 + 10, T0 + 20)
    a.write(lambda conn, stamp: UserRepository.set_active(conn, person, False, stamp, deactivate_at))
    b.write(lambda conn, stamp: UserRepository.set_active(conn, person, True, stamp, reactivate_at))
    exchange(a, b)
    assert a.digest() == b.digest()
    assert a.users.find_by_id(person).active is (later == "reactivation")


def test_pin_resets_on_both_sides_keep_the_later_and_refuse_the_earlier_sides_tokens(replicas):
    """A token carries the credential version it was issued under: after the merge only the later reset's holds."""
    a, b = replicas(1, epoch=2), replicas(2, epoch=3)
    _, sellers = demo_chain(a)
    b.pull_from(a)
    person = sellers[0].id
    b.write(lambda conn, stamp: UserRepository.set_pin_hash(conn, person, "hash-b", stamp, T0 + 5))
    a.write(lambda conn, stamp: UserRepository.set_pin_hash(conn, person, "hash-a", stamp, T0 + 9))
    version_on_a, version_on_b = a.users.account(person).credential_version, b.users.account(person).credential_version
    exchange(a, b)
    assert a.digest() == b.digest()
    assert a.users.account(person).credential_version == b.users.account(person).credential_version == version_on_a
    assert version_on_b != version_on_a  # tokens issued on b during the partition are refused now
    assert a.db.read(lambda c: c.execute("SELECT pin_hash FROM users WHERE id = ?", (person,)).fetchone()[0]) == "hash-a"


def test_a_rename_on_one_side_and_a_move_on_the_other_both_stay(replicas):
    """Registers merge one by one: a store's name and its network are separate."""
    a, b = replicas(1, epoch=2), replicas(2, epoch=3)
    stores, _ = demo_chain(a)
    b.pull_from(a)
    store, other_network = stores[0], next(s.network for s in stores if s.network != stores[0].network)
    a.write(lambda conn, stamp: CatalogueRepository.update_store(conn, store.id, stamp, T0 + 50, name="Nome Novo"))
    b.write(lambda conn, stamp: CatalogueRepository.update_store(conn, store.id, stamp, T0 + 10, network_id=other_network.id))
    exchange(a, b)
    assert a.digest() == b.digest()
    moved = CatalogueRepository(a.db).get_store(store.id)
    assert (moved.name, moved.network) == ("Nome Novo", other_network)


def test_a_local_update_after_a_clock_step_back_still_wins_everywhere(replicas):
    """A node's own later write gets a version above the current one even when its clock went back."""
    a, b = replicas(1, epoch=2), replicas(2, epoch=2)
    stores, _ = demo_chain(a)
    b.pull_from(a)
    store_id = stores[0].id
    a.write(lambda conn, stamp: CatalogueRepository.update_store(conn, store_id, stamp, T0 + 1_000, name="Primeiro"))
    a.write(lambda conn, stamp: CatalogueRepository.update_store(conn, store_id, stamp, T0, name="Segundo"))  # clock stepped back
    b.pull_from(a)
    assert CatalogueRepository(b.db).get_store(store_id).name == "Segundo"
    assert a.digest() == b.digest()


def test_a_store_moved_to_a_network_made_after_it_arrives_whole_on_an_empty_node(replicas):
    """Replication ships rows as they are now: a store whose network is newer than the store still lands complete."""
    a, empty = replicas(1), replicas(2)
    stores, _ = demo_chain(a)
    network = Network(network_id_for("REDE NOVA"), "REDE NOVA")
    a.write(lambda conn, stamp: CatalogueRepository.insert_network(conn, network, "t", stamp, T0))
    a.write(lambda conn, stamp: CatalogueRepository.update_store(conn, stores[0].id, stamp, T0, network_id=network.id))
    empty.pull_from(a)
    assert CatalogueRepository(empty.db).get_store(stores[0].id).network == network
    assert empty.digest() == a.digest()
