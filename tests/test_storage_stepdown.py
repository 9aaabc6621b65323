"""A node whose storage fails, on three real node processes: a coordinator steps aside (a follower takes over, no
acknowledged sale is lost) and rejoins once its storage works; a follower's failing storage does not disturb the
coordinator. The fault is injected from outside the server's code (tests/faults/sitecustomize.py): while a flag file
exists in a node's data folder, every write transaction there fails with SQLite's "disk I/O error"."""

import os

import pytest
from support import ROOT, Cluster, ClusterSeller, ServerProcess, wait_until

FLAG = "storage-fault"
FAULT_ENV = {"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests' / 'faults'}", "ONSELL_TEST_STORAGE_FAULT": FLAG}
SALES_PER_STAGE = 15


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, env=FAULT_ENV).start()
    yield c
    c.stop()


def storage_fails(node: ServerProcess, failing: bool) -> None:
    flag = node.data_dir / FLAG
    if failing:
        flag.touch()
    else:
        flag.unlink()


def stepped_down(node: ServerProcess):
    status = node.status()
    return status if status["stepped_down"] == "storage" else None


def sells_on(seller: ClusterSeller, count: int, what: str) -> None:
    target = len(seller.acknowledged) + count
    wait_until(lambda: len(seller.acknowledged) >= target or seller.errors, 30, what=what)
    assert seller.errors == [], seller.errors


def test_a_coordinator_whose_storage_fails_steps_aside_a_follower_takes_over_and_it_rejoins(cluster):
    cluster.wait_coordinator(3)
    seller = ClusterSeller(cluster).start()
    try:
        sells_on(seller, SALES_PER_STAGE, "sales before the fault")
        storage_fails(cluster.nodes[3], True)
        cluster.wait_coordinator(2, among=[1, 2])
        status = wait_until(lambda: stepped_down(cluster.nodes[3]), what="node 3 to say it stepped down")
        assert status["role"] != "coordinator"
        assert cluster.nodes[3].has_event("stepped_aside", reason="storage")
        sells_on(seller, SALES_PER_STAGE, "sales through node 2")
        storage_fails(cluster.nodes[3], False)
        cluster.wait_coordinator(3)
        sells_on(seller, SALES_PER_STAGE, "sales after node 3 is back")
    finally:
        seller.stop()
    assert seller.errors == []
    digest = cluster.wait_converged()
    assert set(seller.acknowledged) <= digest["ids"]
    assert cluster.nodes[3].status()["stepped_down"] is None
    assert cluster.nodes[3].has_event("storage_recovered")


def test_a_follower_whose_storage_fails_does_not_disturb_the_coordinator(cluster):
    epoch = cluster.wait_coordinator(3)
    seller = ClusterSeller(cluster).start()
    try:
        sells_on(seller, SALES_PER_STAGE, "sales before the fault")
        storage_fails(cluster.nodes[2], True)
        wait_until(lambda: stepped_down(cluster.nodes[2]), what="node 2 to say it stepped down")
        sells_on(seller, SALES_PER_STAGE, "sales while node 2's storage fails")
        status = cluster.nodes[3].status()
        assert status["role"] == "coordinator" and status["epoch"] == epoch and status["under_replicated_acks"] == 0, status
        storage_fails(cluster.nodes[2], False)
        wait_until(lambda: cluster.nodes[2].status()["stepped_down"] is None, what="node 2 to rejoin")
        sells_on(seller, SALES_PER_STAGE, "sales after node 2 is back")
    finally:
        seller.stop()
    assert min(seller.acknowledged.values()) >= 2
    digest = cluster.wait_converged()
    assert set(seller.acknowledged) <= digest["ids"]
