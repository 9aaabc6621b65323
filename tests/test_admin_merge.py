"""Administration across a partition, between real SQLite files: every node decides the same way whatever order
changes arrive in (voids and their sales commute, registers keep the later write, the same CNPJ or network name
created on both sides is one record)."""

import functools

import pytest
from replicas import AT, Replica, demo_chain

from db.catalogue import CatalogueRepository
from db.changes import read_after
from db.merge import MalformedChange, apply_entries
from db.node_state import list_merges
from db.sales import void_sale
from db.users import UserRepository
from models.records import Network, Sale, Store, User, network_id_for, new_id, store_id_for
from server.accounts import Accounts
from server.tokens import Claims
from wire.jsonrpc import RpcError

CNPJ = "11444777000161"
T0 = 1_800_000_000_000  # ms: the "now" handed to local writes, so that which write is later is the test's choice


def allow_any(sale: Sale, already_voided: bool) -> None:
    """A manager's void: no window, any seller."""


def void(replica: Replica, sale_id: str, reason: str, now_ms: int, voided_by: str):
    return replica.write(lambda conn, stamp: void_sale(conn, sale_id, voided_by, reason, AT, now_ms, stamp, allow_any))


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
            CatalogueRepository.insert_network(conn, network, f"2026-11-26T15:00:00.{now_ms % 1_000_000:06d}Z", stamp, now_ms)
            return CatalogueRepository.insert_store(conn, store, f"2026-11-26T15:00:00.{now_ms % 1_000_000:06d}Z", stamp, now_ms)
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
    a.write(lambda conn, stamp: CatalogueRepository.insert_network(conn, network, AT, stamp, T0))
    a.write(lambda conn, stamp: CatalogueRepository.update_store(conn, stores[0].id, stamp, T0, network_id=network.id))
    empty.pull_from(a)
    assert CatalogueRepository(empty.db).get_store(stores[0].id).network == network
    assert empty.digest() == a.digest()


# -- regressions found by review ----------------------------------------------------------------------------------

CPF = "52998224725"


def test_a_cpf_merge_ranks_by_where_each_account_was_registered_not_by_the_change_that_arrived_first(replicas):
    """A node that first meets an account through a later change of it (a PIN reset relayed by another node) still
    merges the CPF the way every other node does."""
    b, a, r, c = replicas(2, epoch=2), replicas(1, epoch=3), replicas(3, epoch=2), replicas(4, epoch=2)
    stores, sellers = demo_chain(b)
    exchange(b, a, r, c)
    b.sell(sellers[0].id, stores[0].id, 1000)
    u = User(new_id(), CPF, "Usuario U", 1990, "seller")
    b.write(lambda conn, stamp: UserRepository.insert(conn, u, "hU", AT, stamp, T0))
    r.pull_from(b, batch=100)
    a.pull_from(r, batch=100)
    a.pull_from(r, batch=100)
    a.write(lambda conn, stamp: UserRepository.set_pin_hash(conn, u.id, "hU2", stamp, T0 + 5))
    r.pull_from(a, batch=100)
    v = User(new_id(), CPF, "Usuario V", 1990, "seller")
    c.write(lambda conn, stamp: UserRepository.insert(conn, v, "hV", AT, stamp, T0))
    c.pull_from(r, batch=100)
    exchange(b, a, r, c)
    assert len({n.users.canonical_id(u.id) for n in (a, b, r, c)}) == 1
    assert a.digest() == b.digest() == r.digest() == c.digest()


def test_a_relayed_batch_keeps_each_origins_order_so_a_later_push_never_stalls(replicas):
    """A node that received a sale and then a new store in one batch logs them in that order; pushing on from it
    to a node that lacks both must not send a sale at the store before the store."""
    first, follower = replicas(3, epoch=1), replicas(1, epoch=1)
    stores, sellers = demo_chain(first)
    follower.pull_from(first, batch=1000)
    first.sell(sellers[0].id, stores[0].id, 100)
    new = first.write(lambda conn, stamp: CatalogueRepository.insert_store(
        conn, Store(store_id_for(CNPJ), "Loja Nova", CNPJ, stores[0].network), AT, stamp, T0))
    relay = replicas(2, epoch=2)
    relay.pull_from(first, batch=1000)
    relay.sell(sellers[0].id, new.id, 200)
    follower.pull_from(relay, batch=1000)
    assert follower.digest() == relay.digest()


def test_sales_moved_by_a_cpf_merge_reach_a_node_that_lacks_the_winning_account_yet(replicas):
    """A relay ships a merged seller's sales as they are now (under the account that won), possibly in a batch
    before that account: the receiver takes them and merges the same way once the account arrives."""
    a, b, relay, late = replicas(1, epoch=2), replicas(2, epoch=3), replicas(3, epoch=1), replicas(4, epoch=1)
    stores, _ = demo_chain(a)
    exchange(a, b, relay, late)
    on_a, on_b = User(new_id(), CPF, "Na A", 1990, "seller"), User(new_id(), CPF, "Na B", 1990, "seller")
    a.write(lambda conn, stamp: UserRepository.insert(conn, on_a, "h1", AT, stamp, T0))
    for _ in range(5):
        a.sell(on_a.id, stores[0].id, 100)
    b.write(lambda conn, stamp: UserRepository.insert(conn, on_b, "h2", AT, stamp, T0))
    relay.pull_from(a)
    relay.pull_from(b)  # the merge: on_a's sales now name whichever account won
    for batch in (1, 2, 3):
        late.pull_from(relay, batch=batch)
    exchange(a, b, relay, late)
    assert a.digest() == b.digest() == relay.digest() == late.digest()
    winner = late.users.canonical_id(on_a.id)
    assert late.reports.seller_total(winner, None, None).count == 5


def test_a_change_to_the_account_that_lost_a_cpf_merge_counts_for_the_one_that_won(replicas):
    """The person deactivated on one side stays deactivated whichever registration wins the merge."""
    a, b = replicas(1, epoch=2), replicas(2, epoch=3)
    demo_chain(a)
    exchange(a, b)
    on_a, on_b = User(new_id(), CPF, "Fulano A", 1990, "seller"), User(new_id(), CPF, "Fulano B", 1990, "seller")
    a.write(lambda conn, stamp: UserRepository.insert(conn, on_a, "h1", AT, stamp, T0))
    b.write(lambda conn, stamp: UserRepository.insert(conn, on_b, "h2", AT, stamp, T0))
    a.write(lambda conn, stamp: UserRepository.set_active(conn, on_a.id, False, stamp, T0 + 60_000))
    exchange(a, b)
    assert a.digest() == b.digest()
    standing = a.users.find_by_cpf(CPF)[0]
    assert standing.id == on_b.id and standing.active is False


def test_a_peer_row_with_a_version_that_is_not_one_is_refused_and_changes_nothing(replicas):
    a, b = replicas(1), replicas(2)
    demo_chain(a)
    entries, _ = a.db.read(lambda conn: read_after(conn, a.changes.vector(), {}, 10_000))
    user = next(e for e in entries if e["kind"] == "user")
    user["data"]["pin_version"] = "~"
    with pytest.raises(MalformedChange):
        b.db.write(functools.partial(apply_entries, entries=entries, merged_at=AT))
    assert b.changes.position() == 0


def test_a_token_of_the_account_that_lost_a_cpf_merge_is_refused(replicas):
    """The account that won has its own PIN and credential version: the other's tokens were never issued under them."""
    a, b = replicas(1, epoch=2), replicas(2, epoch=3)
    demo_chain(a)
    exchange(a, b)
    on_a, on_b = User(new_id(), CPF, "Na A", 1990, "seller"), User(new_id(), CPF, "Na B", 1990, "seller")
    a.write(lambda conn, stamp: UserRepository.insert(conn, on_a, "h1", AT, stamp, T0))
    b.write(lambda conn, stamp: UserRepository.insert(conn, on_b, "h2", AT, stamp, T0))
    tokens = {user.id: Claims(user.id, "seller", user.name, 2**40, node.users.account(user.id).credential_version)
              for user, node in ((on_a, a), (on_b, b))}
    exchange(a, b)
    winner = a.users.canonical_id(on_a.id)
    loser = on_a.id if winner == on_b.id else on_b.id
    accounts = Accounts(a.users)
    assert accounts.caller(tokens[winner]).user_id == winner
    with pytest.raises(RpcError) as refused:
        accounts.caller(tokens[loser])
    assert refused.value.code == 1001 and refused.value.data["detail"] == "credentials_changed"
