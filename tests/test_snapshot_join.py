"""A node with no database file joins from a snapshot of the coordinator's (replication/snapshot_join.py), on real
processes: it says so in cluster.status, survives kill -9 halfway through the transfer, and ends up holding exactly
the coordinator's sales, those acknowledged during the transfer included."""

import datetime as dt
import os

from links import LinkedCluster
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, ClusterSeller, fresh_sale_id, wait_until

from client.api import Api
from client.connection import Connection

CHUNK = 4096  # small chunks: the transfer of a few hundred KiB takes many round trips, so "halfway" is reachable
IMPORTED = 3000  # sales imported before the join: the file is then a few hundred KiB


def _import_history(cluster, count: int) -> None:
    api = Api(Connection(cluster.servers()))
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    store = api.stores()[0]["cnpj"]
    day = (dt.date.today() - dt.timedelta(days=400)).isoformat()
    for start in range(0, count, 1000):
        rows = [{"sale_id": fresh_sale_id(), "seller": DEMO_SELLER_CPF, "store": store, "amount": f"{12 + i % 50}.34", "sold_on": day}
                for i in range(start, min(count, start + 1000))]
        answer = api.import_sales(rows)
        assert answer["imported"] == len(rows), answer


def _wipe(node) -> None:
    """The node's disk replaced: no database file (nor its -wal and -shm)."""
    for suffix in ("", "-wal", "-shm"):
        path = node.database_path.with_name(node.database_path.name + suffix)
        if path.exists():
            os.remove(path)


def _cluster_with_node_1_wiped(clusters):
    """A 3-node cluster with IMPORTED sales, coordinated by node 3; node 1 stopped and its file gone."""
    cluster = clusters(LinkedCluster, size=3, env={"SNAPSHOT_CHUNK_BYTES": str(CHUNK)}).start()
    cluster.wait_coordinator(3)
    _import_history(cluster, IMPORTED)
    joiner, coordinator = cluster.nodes[1], cluster.nodes[3]
    joiner.stop()
    _wipe(joiner)
    return cluster, joiner, coordinator


def _served(coordinator) -> list[dict]:
    return coordinator.status().get("snapshots_served", [])


def _assert_same_sales(joiner, coordinator) -> None:
    mine, theirs = joiner.sales_digest(), coordinator.sales_digest()
    assert mine["rows"] == theirs["rows"] and mine["ids"] == theirs["ids"], (mine["rows"], theirs["rows"])
    assert (mine["aggregate_count"], mine["aggregate_cents"]) == (theirs["aggregate_count"], theirs["aggregate_cents"])
    assert mine["aggregate_count"] == mine["rows"], "a sale counted twice (or not at all) in the aggregates"


def test_a_node_with_no_file_joins_from_the_coordinators_snapshot(clusters):
    cluster, joiner, coordinator = _cluster_with_node_1_wiped(clusters)
    joiner.start(timeout=60)
    status = joiner.status()
    assert status["joined_by_snapshot"] is not None, status
    assert status["joined_by_snapshot"]["from"] == 3
    assert status["joined_by_snapshot"]["bytes"] > IMPORTED * 100, status["joined_by_snapshot"]
    cluster.wait_converged(timeout=30)
    _assert_same_sales(joiner, coordinator)
    assert wait_until(lambda: _served(coordinator) == [], 10, what="the coordinator to remove the copy it served")
    assert not list(coordinator.data_dir.glob("*.copy-*")) and not list(joiner.data_dir.glob("*.part-*"))
    # a later restart of the node, now with a file, catches up as before: still the same file, not copied again
    joiner.stop()
    joiner.start()
    assert joiner.status()["joined_by_snapshot"] == status["joined_by_snapshot"]
    assert [code for code, _ in joiner.events()].count("snapshot_begun") == 1
    # without the cluster secret nobody gets a copy
    forged = {"from": 1, "to": 3, "grant": "g", "seq": 99, "mac": "ab" * 32, "body": {"op": "begin"}}
    error = coordinator.call("peer.snapshot", **forged)["error"]
    assert error["code"] == 1001 and error["data"]["reason"] == "unauthenticated"
    assert _served(coordinator) == []


def test_killed_halfway_the_joiner_finishes_and_holds_every_sale_once(clusters):
    cluster, joiner, coordinator = _cluster_with_node_1_wiped(clusters)
    cluster.links[(1, 3)].delay_s = 0.01  # the joiner's calls to the coordinator: each chunk takes a while
    seller = ClusterSeller(cluster).start()  # the cluster keeps acknowledging sales through the transfer
    joiner.start(wait=False)
    sold_before = len(seller.acknowledged)

    def halfway():
        served = _served(coordinator)
        return served and served[0]["state"] == "ready" and served[0]["sent"] > served[0]["size"] // 3 and served[0]
    copy = wait_until(halfway, 60, interval=0.05, what="the transfer to be a third done")
    assert copy["sent"] < copy["size"], "the transfer ended before the kill: the test proves nothing"
    joiner.kill9()
    assert len(seller.acknowledged) > sold_before, "no sale acknowledged during the transfer"
    assert not joiner.database_path.exists(), "a database file before the transfer ended"
    assert list(joiner.data_dir.glob("*.part-*")), "no part left by the killed transfer"
    cluster.links[(1, 3)].delay_s = 0.0
    joiner.start(timeout=60)
    sold = len(seller.acknowledged)
    wait_until(lambda: len(seller.acknowledged) > sold + 20, 30, what="sales after the joiner started again")
    seller.stop()
    assert seller.errors == []
    status = joiner.status()
    assert status["joined_by_snapshot"] == {"from": 3, "bytes": copy["size"]}, status["joined_by_snapshot"]
    cluster.wait_converged(timeout=30)
    _assert_same_sales(joiner, coordinator)
    held = joiner.sales_digest()["ids"]
    assert set(seller.acknowledged) <= held, "a sale acknowledged during the transfer is missing on the joiner"
    assert not list(joiner.data_dir.glob("*.part-*"))
