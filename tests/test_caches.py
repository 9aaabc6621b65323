"""The accounts and stores each call reads are cached (server/caches.py): a sale reads neither through the pool once
they are held, and every change to them counts from the next call on, whether made here or replicated from a peer."""

import sqlite3

import pytest
from inprocess import call, error, login, reason, record, stores_by_name
from replicas import demo_chain
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF

from db.catalogue import CatalogueRepository
from db.users import UserRepository
from server.caches import Directory, RowCache

T0 = 1_764_169_200_000  # ms, a time for the replicas' registers


@pytest.fixture
def manager(node) -> str:
    return login(node, DEMO_MANAGER_CPF)


@pytest.fixture
def seller(node) -> tuple[str, str]:
    """(token, user id) of the demo seller, who has recorded a sale: their account and that store are cached."""
    answer = call(node, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)
    record(node, answer["token"], store_of(node), "10.00")
    return answer["token"], answer["user"]["id"]


def store_of(node, name: str | None = None) -> str:
    stores = stores_by_name(node)
    return stores[name] if name else sorted(stores.values())[0]


def count_pool_reads(node, monkeypatch) -> list:
    reads = []
    original = node.database.read
    monkeypatch.setattr(node.database, "read", lambda fn: reads.append(fn) or original(fn))
    return reads


def test_a_sale_reads_neither_the_account_nor_the_store_through_the_pool_once_they_are_held(node, seller, monkeypatch):
    store = store_of(node)
    reads = count_pool_reads(node, monkeypatch)
    for cents in ("1.00", "2.00", "3.00"):
        assert "sale" in record(node, seller[0], store, cents)
    assert reads == []


def test_a_deactivated_sellers_next_sale_is_refused(node, seller, manager):
    call(node, "users.deactivate", token=manager, user_id=seller[1])
    refused = error(node, "sales.record", token=seller[0], sale_id="0190b1d2-0000-7000-8000-000000000001", store_id=store_of(node),
                    amount="1.00")
    assert reason(refused)[0] == 1001 and refused.data["detail"] == "account_deactivated"


def test_a_pin_reset_refuses_the_old_token_at_the_next_sale(node, seller, manager):
    call(node, "users.reset_pin", token=manager, user_id=seller[1], pin="2580")
    refused = error(node, "sales.record", token=seller[0], sale_id="0190b1d2-0000-7000-8000-000000000002", store_id=store_of(node),
                    amount="1.00")
    assert reason(refused)[0] == 1001 and refused.data["detail"] == "credentials_changed"
    assert "sale" in record(node, login(node, DEMO_SELLER_CPF, "2580"), store_of(node), "1.00")


def test_a_closed_store_takes_no_next_sale_and_a_reopened_one_does(node, seller, manager):
    call(node, "stores.close", token=manager, store_id=store_of(node))
    assert reason(error(node, "sales.record", token=seller[0], sale_id="0190b1d2-0000-7000-8000-000000000003",
                        store_id=store_of(node), amount="1.00")) == (1011, "inactive")
    call(node, "stores.reopen", token=manager, store_id=store_of(node))
    assert "sale" in record(node, seller[0], store_of(node), "1.00")


def test_a_sellers_new_stores_count_from_the_next_sale(node, seller, manager):
    others = [s for s in stores_by_name(node).values() if s != store_of(node)]
    call(node, "users.assign_stores", token=manager, user_id=seller[1], store_ids=others[:1])
    refused = error(node, "sales.record", token=seller[0], sale_id="0190b1d2-0000-7000-8000-000000000004", store_id=store_of(node),
                    amount="1.00")
    assert reason(refused) == (1002, "forbidden") and refused.data["store_ids"] == others[:1]
    assert "sale" in record(node, seller[0], others[0], "1.00")


def test_changes_replicated_from_a_peer_clear_what_the_follower_holds(replicas):
    """A follower that serves (or will serve) clients must see a peer's deactivation and closing as soon as it applies them."""
    a, b = replicas(1), replicas(2)
    stores, sellers = demo_chain(a)
    b.pull_from(a)
    cached = Directory(b.db, b.users, CatalogueRepository(b.db))
    assert cached.account(sellers[0].id).user.active and cached.get_store(stores[0].id).open
    a.write(lambda conn, stamp: UserRepository.set_active(conn, sellers[0].id, False, stamp, T0))
    a.write(lambda conn, stamp: CatalogueRepository.update_store(conn, stores[0].id, stamp, T0, open_=False))
    assert cached.account(sellers[0].id).user.active  # b has not applied them yet
    b.pull_from(a)
    assert not cached.account(sellers[0].id).user.active
    assert not cached.get_store(stores[0].id).open


def test_a_row_read_while_a_commit_changed_it_is_answered_but_not_kept():
    cache = RowCache()
    values = iter(["before the commit", "after it"])

    def load_across_a_commit():
        cache.clear()  # the commit's watch fires while this read is under way
        return next(values)
    assert cache.get("k", load_across_a_commit) == "before the commit"
    assert cache.get("k", lambda: next(values)) == "after it"
    assert cache.get("k", lambda: "not read again") == "after it"


def test_unknown_rows_are_not_kept_and_the_cache_has_a_bound():
    cache = RowCache(max_entries=2)
    assert cache.get("nobody", lambda: None) is None
    assert cache.get("nobody", lambda: "created since") == "created since"
    for key in ("a", "b", "c"):
        cache.get(key, lambda key=key: key.upper())
    assert len(cache._entries) <= 2


def test_watching_a_table_that_does_not_exist_fails_loudly(node):
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        node.database.watch(("no_such_table",), lambda: None)
