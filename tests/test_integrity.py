"""A damaged database file: found by quick_check in the background, set aside, and rebuilt from the peers."""

import os
import sqlite3

import pytest
from support import ClusterSeller, wait_until

from db.database import Database
from server.integrity import quick_check, set_aside


def corrupt_a_middle_page_of_sales(path) -> int:
    """Overwrite, in a stopped node's file, the middle one of the pages holding the sales table; its number."""
    conn = sqlite3.connect(path)
    try:
        pages = [row[0] for row in conn.execute("SELECT pageno FROM dbstat WHERE name = 'sales' ORDER BY pageno")]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    page = pages[len(pages) // 2]
    with open(path, "r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(os.urandom(page_size))
    return page


def _demo_file(tmp_path):
    path = tmp_path / "node-1.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sales (sale_id TEXT PRIMARY KEY, note TEXT)")
    conn.executemany("INSERT INTO sales VALUES (?, ?)", [(f"sale-{i:05d}", "x" * 200) for i in range(2000)])
    conn.commit()
    conn.close()
    return path


def test_quick_check_finds_a_damaged_page_and_the_file_is_set_aside_with_its_companions(tmp_path):
    path = _demo_file(tmp_path)
    assert quick_check(path) == []
    corrupt_a_middle_page_of_sales(path)
    assert quick_check(path) != []
    path.with_name("node-1.db-wal").write_bytes(b"")
    moved = set_aside(path, "20261127T190000Z")
    assert moved.name == "node-1.db.corrupt-20261127T190000Z" and moved.exists()
    assert moved.with_name(moved.name + "-wal").exists() and not path.exists()


def test_every_sqlite_error_of_a_read_or_a_write_is_reported_for_a_check(tmp_path):
    db = Database(tmp_path / "node-1.db")
    seen: list[BaseException] = []
    db.on_error.append(seen.append)
    try:
        with pytest.raises(sqlite3.DatabaseError):
            db.read(lambda c: c.execute("SELECT * FROM no_such_table"))
        with pytest.raises(sqlite3.DatabaseError):
            db.write(lambda c: c.execute("INSERT INTO no_such_table VALUES (1)"))
    finally:
        db.close()
    assert len(seen) == 2 and all(isinstance(e, sqlite3.DatabaseError) for e in seen)


def _answers(node) -> bool:
    try:
        return bool(node.status())
    except (OSError, ValueError, KeyError):
        return False


def corrupt_the_header(path) -> None:
    """Overwrite the first page's header: SQLite cannot even open the file."""
    with open(path, "r+b") as file:
        file.write(os.urandom(100))


@pytest.mark.parametrize("damaged, corrupt", [(1, corrupt_a_middle_page_of_sales), (3, corrupt_a_middle_page_of_sales),
                                              (1, corrupt_the_header)])
def test_a_node_whose_file_is_damaged_sets_it_aside_and_catches_up_from_empty(clusters, damaged, corrupt):
    """Node 1 a follower; node 3 the primary, which must not take its role back on the damaged file; a file that
    cannot even be opened."""
    c = clusters()
    c.start()
    c.wait_coordinator(3)
    seller = ClusterSeller(c)
    for i in range(5):
        seller.sell_one(500 + i)
    before = c.wait_converged()
    node = c.nodes[damaged]
    node.stop()
    corrupt(node.database_path)
    node.start()  # it starts (the check runs in the background)
    wait_until(lambda: node.has_event("integrity_rebuilding"), what="node 1 to find its file damaged and set it aside")
    assert node.has_event("integrity_failed")
    wait_until(lambda: _answers(node), what="node to serve again on its new file")  # migrated before it listens
    assert len(list(node.data_dir.glob(f"node-{damaged}.db.corrupt-*"))) == 1
    after = c.wait_converged(timeout=30)
    assert after == before and set(seller.acknowledged) <= after["ids"]
    assert quick_check(node.database_path) == []
    c.wait_coordinator(3)
