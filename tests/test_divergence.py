"""Real node processes whose files are lost or tampered with: every acknowledged sale still ends up on every node.

The finding: a node whose database was wiped, started before the others, wrote new sales under change ids the
others already held for other sales, and every node then believed it held everything."""

import pytest
from support import Cluster, ClusterSeller


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(**kwargs) -> Cluster:
        c = Cluster(tmp_path, **kwargs)
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


def _sell(c: Cluster, count: int) -> dict[str, int]:
    seller = ClusterSeller(c)
    for i in range(count):
        seller.sell_one(1000 + i)
    return seller.acknowledged


def test_a_node_whose_database_was_wiped_and_that_starts_alone_loses_no_sale(cluster):
    c = cluster()
    c.start(1)
    c.wait_coordinator(1)  # node 1 alone: coordinator of epoch 1, loads the demo chain
    acknowledged = _sell(c, 8)
    c.start(2, 3)
    c.wait_coordinator(3)
    acknowledged |= _sell(c, 3)
    c.wait_converged()
    c.stop()
    for suffix in ("", "-wal", "-shm"):
        c.nodes[1].database_path.with_name(c.nodes[1].database_path.name + suffix).unlink(missing_ok=True)
    c.start(1)  # alone again, with an empty file: epoch 1 again
    c.wait_coordinator(1)
    after_wipe = _sell(c, 4)  # fewer than node 1 wrote in epoch 1 before: the same (node, epoch, seq) again
    c.start(2, 3)
    c.wait_coordinator(3)
    digest = c.wait_converged(timeout=30)
    lost = set(acknowledged) - digest["ids"], set(after_wipe) - digest["ids"]
    assert lost == (set(), set()), f"acknowledged sales missing on every node: {lost}"
    assert digest["rows"] == len(digest["ids"]) == digest["aggregate_count"] == digest["seller_count"]
    assert all(node.status()["conflicting_changes"] == 0 for node in c.nodes.values())
