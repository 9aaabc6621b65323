"""Real node processes whose files are lost or tampered with: every acknowledged sale still ends up on every node.

The finding: a node whose database was wiped, started before the others, wrote new sales under change ids the
others already held for other sales, and every node then believed it held everything."""

import sqlite3
import time
import uuid

from peers import RawPeer
from replicas import Replica, demo_chain
from support import Cluster, ClusterSeller, drop_sale, fresh_sale_id, wait_until

from db.changes import load_vector, read_after
from replication.anti_entropy_runner import SETTLE_S


def _sell(c: Cluster, count: int) -> dict[str, int]:
    seller = ClusterSeller(c)
    for i in range(count):
        seller.sell_one(1000 + i)
    return seller.acknowledged


def _files(node) -> list:
    path = node.database_path
    return [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")]


def test_a_node_whose_database_was_wiped_hears_the_epoch_before_taking_one_and_loses_no_sale(clusters):
    """Node 2's file deleted while the cluster is down; it starts with node 1 (a majority: accounts need one) before
    the primary, and coordinates only in an epoch above every one the cluster used."""
    c = clusters()
    c.start()
    before = c.wait_coordinator(3)
    acknowledged = _sell(c, 8)
    c.wait_converged()
    c.stop()
    for path in _files(c.nodes[2]):
        path.unlink(missing_ok=True)
    c.start(1, 2)
    assert c.wait_coordinator(2) > before
    acknowledged |= _sell(c, 4)
    c.start(3)
    c.wait_coordinator(3)
    digest = c.wait_converged(timeout=30)
    assert set(acknowledged) <= digest["ids"], f"acknowledged sales missing: {set(acknowledged) - digest['ids']}"
    assert digest["rows"] == len(digest["ids"]) == digest["aggregate_count"] == digest["seller_count"]


def test_a_node_restored_from_a_backup_and_started_alone_loses_no_sale(clusters):
    """The finding: node 1, back on an older copy of its file, started alone, took an epoch it had taken before and
    wrote new sales under change ids the others held for other sales; every node then believed it held everything
    (fails on main: the nodes never converge)."""
    c = clusters()
    c.start()
    c.wait_coordinator(3)
    c.wait_converged()
    c.stop()
    backup = {path: path.read_bytes() for path in _files(c.nodes[1]) if path.exists()}
    c.start(1)  # alone: coordinator of the next epoch, selling to the demo accounts of its file
    c.wait_coordinator(1)
    acknowledged = _sell(c, 8)
    c.start(2, 3)
    c.wait_coordinator(3)
    c.wait_converged()
    c.stop()
    for path in _files(c.nodes[1]):
        path.unlink(missing_ok=True)
    for path, content in backup.items():
        path.write_bytes(content)
    c.start(1)  # alone again, on the older file: the same epoch again
    c.wait_coordinator(1)
    after_restore = _sell(c, 4)  # fewer than node 1 wrote in that epoch before: the same (node, epoch, seq) again
    c.start(2, 3)
    c.wait_coordinator(3)
    digest = c.wait_converged(timeout=30)
    lost = set(acknowledged) - digest["ids"], set(after_restore) - digest["ids"]
    assert lost == (set(), set()), f"acknowledged sales missing on every node: {lost}"
    assert digest["rows"] == len(digest["ids"]) == digest["aggregate_count"] == digest["seller_count"]
    assert all(node.status()["conflicting_changes"] == 0 for node in c.nodes.values())


def _remove_sale_while_stopped(node, pick) -> str:
    """Delete one sale and its change straight from a stopped node's file, totals included (a lost page, a bad restore)."""
    conn = sqlite3.connect(node.database_path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT sale_id FROM sales ORDER BY sale_id").fetchall()
        sale_id = str(uuid.UUID(bytes=rows[pick][0]))
        conn.execute("BEGIN")
        drop_sale(conn, sale_id)
        conn.execute("COMMIT")
        return sale_id
    finally:
        conn.close()


def test_anti_entropy_finds_and_repairs_sales_removed_behind_replications_back(clusters):
    c = clusters(env={"ANTI_ENTROPY_INTERVAL_S": "1"})
    c.start()
    c.wait_coordinator(3)
    acknowledged = _sell(c, 5)
    before = c.wait_converged()
    c.stop()
    gone_on_follower = _remove_sale_while_stopped(c.nodes[1], 10)
    gone_on_coordinator = _remove_sale_while_stopped(c.nodes[3], 20)
    assert gone_on_follower not in c.nodes[1].sales_digest()["ids"] and gone_on_coordinator not in c.nodes[3].sales_digest()["ids"]
    c.start()
    c.wait_coordinator(3)
    digest = c.wait_converged(timeout=30)
    assert digest == before and set(acknowledged) <= digest["ids"]
    status = wait_until(lambda: (s := c.nodes[3].status())["anti_entropy"]["repaired"] >= 2 and s, what="the repairs counted")
    difference = status["anti_entropy"]["last_difference"]
    assert difference["peer"] in (1, 2) and difference["missing_here"] + difference["missing_there"] >= 1
    found = [fields for code, fields in c.nodes[3].events() if code == "anti_entropy_difference"]
    assert sum(f["missing_here"] for f in found) >= 1 and sum(f["missing_there"] for f in found) >= 1  # both ways
    wait_until(lambda: all(p["last_agreed_at"] and p["last_agreed_at"] > difference["at"]
                           for p in c.nodes[3].status()["anti_entropy"]["peers"].values()), what="comparisons agreeing again")


def _signed_call(c: Cluster, to: int, method: str, body: dict) -> dict:
    """Call a peer method on node `to` as node 3 would, with a valid envelope."""
    raw = RawPeer(c.nodes[to].port, 3, to, set(c.nodes))
    try:
        return raw.call(method, body)
    finally:
        raw.close()


def test_a_change_id_pushed_again_with_other_content_is_refused_and_counted(clusters):
    c = clusters()
    c.start()
    epoch = c.wait_coordinator(3)
    before = c.wait_converged()
    conn = sqlite3.connect(f"file:{c.nodes[1].database_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row  # as the node's own connections (db.database)
    try:
        log, _ = read_after(conn, load_vector(conn)[0], {}, 10_000)
        sale_entry = next(entry for entry in log if entry["kind"] == "sale")
        node, incarnation, origin_epoch, seq = sale_entry["origin"]
        sale = {key: sale_entry["data"][key] for key in ("id", "seller_id", "store_id", "amount_cents", "sold_on", "recorded_at")}
    finally:
        conn.close()
    forged = {"origin": [node, incarnation, origin_epoch, seq], "kind": "sale", "data": {**sale, "id": fresh_sale_id()}}
    push = {"epoch": epoch, "entries": [forged], "more": False, "vector": {}, "position": 0}
    assert _signed_call(c, 1, "peer.push", push)["result"]["accepted"] is True
    assert c.nodes[1].status()["conflicting_changes"] == 1
    assert c.nodes[1].sales_digest() == before
    assert _signed_call(c, 1, "peer.digest", {"before": "yesterday"})["error"]["data"]["field"] == "before"
    before = "2999-01-01T00:00:00.000000Z"
    assert _signed_call(c, 1, "peer.digest", {"before": before, "bucket": "sale:today"})["error"]["data"]["field"] == "bucket"
    assert _signed_call(c, 1, "peer.rows", {"kind": "sale", "ids": "x"})["error"]["data"]["field"] == "ids"


def test_anti_entropy_under_a_steady_flow_of_sales_agrees_and_repairs_nothing(clusters):
    c = clusters(env={"ANTI_ENTROPY_INTERVAL_S": "1"})
    c.start()
    c.wait_coordinator(3)
    seller = ClusterSeller(c).start()
    try:
        time.sleep(SETTLE_S + 4)  # comparisons every second, the last ones over sales recorded while selling
    finally:
        seller.stop()
    assert seller.errors == [] and len(seller.acknowledged) > 20
    status = c.nodes[3].status()["anti_entropy"]
    assert status["last_difference"] is None and status["repaired"] == 0
    assert sorted(status["peers"]) == ["1", "2"] and all(p["last_agreed_at"] for p in status["peers"].values())


def test_a_node_alone_takes_an_epoch_above_every_one_in_its_log(clusters):
    """A file whose log holds changes of epoch 5 but whose node_state says less (restored, copied): alone, the node
    does not take an epoch its own log has already seen."""
    c = clusters()
    node = c.nodes[1]
    node.data_dir.mkdir(parents=True)
    replica = Replica(node.database_path, node_id=1, epoch=5)
    try:
        demo_chain(replica)
    finally:
        replica.close()
    c.start(1)
    assert c.wait_coordinator(1) == 6
