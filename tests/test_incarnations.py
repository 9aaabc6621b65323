"""Change ids that cannot collide: incarnations, the migration that adds them, and a change id reused for other content."""

import functools
import logging
import shutil
import sqlite3
from unittest.mock import patch

from replicas import TODAY, Replica, demo_chain

from db import schema
from db.changes import Stamp, read_after
from db.merge import apply_entries
from db.node_state import load_conflicts
from db.sales import record_sale
from models.changes import LEGACY_INCARNATION
from models.records import Sale, new_id

AT = "2026-11-01T12:00:00.000000Z"
NETWORK, STORE, USER = new_id(), new_id(), new_id()


def _database_at_schema_4(path) -> None:
    """A file as the code before incarnations left it, with data: node 3's changes in epoch 2 and node 1's in epoch 1."""
    conn = sqlite3.connect(path, isolation_level=None)
    with patch.object(schema, "MIGRATIONS", schema.MIGRATIONS[:4]):
        schema.migrate(conn, 3)
    conn.execute("INSERT INTO networks (id, name, created_at) VALUES (?, 'REDE', ?)", (NETWORK, AT))
    conn.execute("INSERT INTO stores (id, name, cnpj, network_id, created_at) VALUES (?, 'Loja', '11222333000181', ?, ?)",
                 (STORE, NETWORK, AT))
    conn.execute("INSERT INTO users (id, cpf, name, birth_year, role, pin_hash, created_at, registration) "
                 "VALUES (?, '12345678909', 'Ana', 1990, 'seller', 'h', ?, '3.2.3')", (USER, AT))
    sales = [(new_id(), 3, 2, 4), (new_id(), 3, 2, 5), (new_id(), 1, 1, 1)]
    for sale_id, node, epoch, seq in sales:
        conn.execute("INSERT INTO sales VALUES (?, ?, ?, 100, '2026-11-01', ?, ?, ?, ?)", (sale_id, USER, STORE, AT, node, epoch, seq))
    changes = [(3, 2, 1, "network", NETWORK), (3, 2, 2, "store", STORE), (3, 2, 3, "user", USER),
               *((node, epoch, seq, "sale", sale_id) for sale_id, node, epoch, seq in sales)]
    conn.executemany("INSERT INTO changes (origin_node, origin_epoch, origin_seq, kind, entity_id) VALUES (?, ?, ?, ?, ?)", changes)
    conn.close()


def test_migration_5_keeps_every_held_change_under_a_legacy_incarnation_so_nothing_ships_again(tmp_path):
    _database_at_schema_4(tmp_path / "node-3.db")
    shutil.copy(tmp_path / "node-3.db", tmp_path / "node-2.db")  # another node holding the same changes
    a, b = Replica(tmp_path / "node-3.db", node_id=3, epoch=4), Replica(tmp_path / "node-2.db", node_id=2)
    try:
        legacy = {(3, LEGACY_INCARNATION, 2): 5, (1, LEGACY_INCARNATION, 1): 1}
        assert a.changes.vector() == legacy and b.changes.vector() == legacy
        assert a.db.read(lambda c: read_after(c, a.changes.vector(), b.changes.vector(), 100)) == ([], False)
        assert a.pull_from(b) == 0 and b.pull_from(a) == 0
        sale = a.sell(USER, STORE, 250)
        assert (sale.origin_epoch, sale.origin_seq) == (4, 1)
        new = (3, a.db.incarnation.text, 4)
        assert a.db.incarnation.text != LEGACY_INCARNATION and a.changes.vector() == {**legacy, new: 1}
        assert b.pull_from(a) == 1 and b.changes.vector() == a.changes.vector() and b.digest()["sales"] == a.digest()["sales"]
    finally:
        a.close()
        b.close()


def test_each_opening_of_a_database_is_a_new_incarnation_so_a_wiped_node_never_reuses_an_id(tmp_path, replicas):
    """The finding: a node whose file was wiped wrote new sales under ids the others held for other sales."""
    old, other = replicas(1), replicas(3)
    stores, sellers = demo_chain(old)
    for i in range(5):
        old.sell(sellers[1].id, stores[1].id, 900 + i)
    other.pull_from(old)
    old.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"node-1.db{suffix}").unlink(missing_ok=True)
    wiped = Replica(tmp_path / "node-1.db", node_id=1)  # epoch 1 again, an empty file
    try:
        demo_chain(wiped)
        sold = [wiped.sell(sellers[0].id, stores[0].id, 100 + i).sale_id for i in range(3)]  # fewer than before the wipe
        other.pull_from(wiped)
        held = {row[0] for row in other.digest()["sales"]}
        assert set(sold) <= held
        assert other.db.read(load_conflicts) == 0
    finally:
        wiped.close()


def test_a_change_id_held_for_other_content_is_refused_logged_once_and_counted(replicas, caplog):
    a, b = replicas(3), replicas(1)
    demo_chain(a)
    b.pull_from(a)
    before = b.digest()
    entries, _ = a.db.read(lambda c: read_after(c, a.changes.vector(), {}, 1000))
    sales = [e for e in entries if e["kind"] == "sale"][:2]
    forged = [dict(e, data={**e["data"], "id": new_id()}) for e in sales]  # known ids, other sales
    with caplog.at_level(logging.ERROR, logger="onsell.merge"):
        result = b.db.write(functools.partial(apply_entries, entries=forged, merged_at="t"))
    assert (result.applied, result.conflicts) == (0, 2)
    assert b.digest() == before
    assert b.db.read(load_conflicts) == 2
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    same = b.db.write(functools.partial(apply_entries, entries=sales, merged_at="t"))  # the same content again: just skipped
    assert (same.skipped, same.conflicts) == (2, 0) and b.db.read(load_conflicts) == 2


def test_a_retried_sale_waits_for_the_change_that_stored_it_incarnation_included(replicas):
    a = replicas(3)
    stores, sellers = demo_chain(a)
    sale = Sale(new_id(), sellers[0].id, stores[0].id, 700, TODAY, AT)
    first, retry = Stamp(a.db.incarnation, 1), Stamp(a.db.incarnation, 1)
    a.db.write(lambda c: record_sale(c, sale, first))
    stored, duplicate = a.db.write(lambda c: record_sale(c, sale, retry))
    assert duplicate and retry.origins == first.origins and first.origins[0].incarnation == a.db.incarnation.text
    assert a.changes.holds(retry.origins[0])
