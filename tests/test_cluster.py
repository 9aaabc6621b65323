"""Real node processes on loopback: election, failover, return of the primary, catch-up, pauses, and
peer authentication. Every sale acknowledged anywhere ends up on every node exactly once."""

import json
import subprocess
import sys
import time

import pytest

from models.records import new_sale_id
from support import ROOT, Cluster, ClusterSeller, RawClient, wait_until


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


def assert_everything_everywhere_once(c: Cluster, seller: ClusterSeller) -> dict:
    assert seller.errors == []  # the client's failover hid every fault from the seller
    digest = c.wait_converged()
    assert set(seller.acknowledged) <= digest["ids"]
    assert digest["rows"] == len(digest["ids"]) == digest["aggregate_count"] == digest["seller_count"]
    return digest


def test_three_nodes_elect_node_3_and_followers_point_to_it(cluster):
    c = cluster().start()
    assert c.wait_coordinator(3) == 1
    digest = c.wait_converged()
    assert digest["rows"] == 360  # the demo chain, loaded once on the coordinator and replicated
    raw = c.nodes[1].raw()
    refused = raw.call("networks.list")["error"]
    assert refused["code"] == 1008 and refused["data"]["coordinator"] == {"id": 3, "address": f"127.0.0.1:{c.nodes[3].port}"}
    assert raw.call("ping")["result"] == {"node_id": 1, "role": "follower", "epoch": 1, "coordinator_id": 3}
    raw.close()
    status = c.nodes[2].status()
    assert [(n["id"], n["role"], n["alive"]) for n in status["nodes"]] == [(1, "follower", True), (2, "follower", True), (3, "coordinator", True)]
    wait_until(lambda: all(n["behind"] == 0 for n in c.nodes[3].status()["nodes"]), what="every node at the coordinator's position")


def test_failover_to_node_2_and_the_primary_takes_its_role_back(cluster):
    c = cluster().start()
    c.wait_coordinator(3)
    seller = ClusterSeller(c).start()
    wait_until(lambda: len(seller.acknowledged) >= 50, what="sales on node 3")
    c.nodes[3].kill9()
    assert c.wait_coordinator(2, among=[1, 2]) == 2
    before = len(seller.acknowledged)
    wait_until(lambda: len(seller.acknowledged) >= before + 50, what="sales accepted by node 2")
    assert "Coordinator announced: node 2, epoch 2" in c.nodes[2].log()
    c.nodes[3].start()
    assert c.wait_coordinator(3) == 3
    log3 = c.nodes[3].log()
    assert "following node 2 in epoch 2" in log3 and "catch-up from node 2" in log3
    assert log3.index("following node 2 in epoch 2") < log3.index("Coordinator announced: node 3, epoch 3")
    after = len(seller.acknowledged)
    wait_until(lambda: len(seller.acknowledged) >= after + 50, what="sales on the returned primary")
    seller.stop()
    digest = assert_everything_everywhere_once(c, seller)
    assert digest["rows"] == 360 + len(seller.acknowledged)
    assert max(seller.acknowledged.values()) >= 2


def test_a_follower_killed_during_a_write_burst_catches_up(cluster):
    c = cluster().start()
    c.wait_coordinator(3)
    seller = ClusterSeller(c).start()
    wait_until(lambda: len(seller.acknowledged) >= 30, what="a write burst")
    c.nodes[1].kill9()
    before = len(seller.acknowledged)
    wait_until(lambda: len(seller.acknowledged) >= before + 300, what="writes while node 1 is down")
    c.nodes[1].start()
    wait_until(lambda: "catch-up from node 3 finished" in c.nodes[1].log(), what="node 1 to catch up")
    seller.stop()
    assert_everything_everywhere_once(c, seller)


def test_a_paused_coordinator_steps_down_on_waking_and_acknowledges_nothing_stale(cluster):
    c = cluster().start()
    c.wait_coordinator(3)
    seller = ClusterSeller(c)
    for _ in range(20):
        seller.sell_one()
    stuck = RawClient(c.nodes[3].port)
    token = stuck.call("auth.login", {"cpf": "23456789092", "pin": "1234"})["result"]["token"]
    c.nodes[3].pause()
    stuck.send({"jsonrpc": "2.0", "id": 77, "method": "sales.record",
                "params": {"token": token, "sale_id": new_sale_id(), "store_id": seller.store_id, "amount": "5.00"}})
    assert c.wait_coordinator(2, among=[1, 2]) == 2
    for _ in range(20):
        seller.sell_one()  # acknowledged by node 2
    c.nodes[3].resume()
    answer = stuck.read()
    assert answer["id"] == 77 and "error" in answer and answer["error"]["data"]["reason"] in ("not_coordinator", "unavailable")
    stuck.close()
    wait_until(lambda: "stepping down" in c.nodes[3].log() or "following node 2" in c.nodes[3].log(), what="node 3 to step down")
    c.wait_coordinator(3)  # caught up, it reclaims
    for _ in range(20):
        seller.sell_one()
    assert_everything_everywhere_once(c, seller)


def test_peer_messages_without_the_secret_change_nothing(cluster):
    c = cluster().start()
    epoch = c.wait_coordinator(3)
    before = c.wait_converged()
    raw = c.nodes[1].raw()
    forged = [
        ("peer.message", {"type": "coordinator", "sender": 2, "epoch": 99}),
        ("peer.message", {"from": 2, "sent_ms": int(time.time() * 1000), "nonce": "n", "mac": "00" * 32,
                          "body": {"type": "coordinator", "sender": 2, "epoch": 99}}),
        ("peer.push", {"from": 3, "sent_ms": int(time.time() * 1000), "nonce": "m", "mac": "ab" * 32,
                       "body": {"epoch": 99, "entries": [], "vector": {}}}),
        ("peer.pull", {"from": 3, "sent_ms": 0, "nonce": "o", "mac": "", "body": {"vector": {}}}),
    ]
    for method, params in forged:
        error = raw.call(method, params)["error"]
        assert error["code"] == 1001 and error["data"]["reason"] == "unauthenticated"
    raw.send_bytes(b'{"jsonrpc":"2.0","id":5,"method":"peer.message","params":"junk"}\n' + bytes(range(256)) + b"\n")
    assert "error" in raw.read() and "error" in raw.read()
    raw.close()
    assert c.wait_coordinator(3) == epoch
    assert c.wait_converged() == before
    assert all(s["epoch"] == epoch for s in (c.nodes[n].status() for n in (1, 2, 3)))
    assert "refused peer.message" in c.nodes[1].log()


def test_a_cluster_without_a_secret_refuses_to_start(tmp_path):
    env = {"CLUSTER": "1=127.0.0.1:1,2=127.0.0.1:2", "DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), "CLUSTER_SECRET": ""}
    done = subprocess.run([sys.executable, "-m", "server", "--id", "1"], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2
    assert "CLUSTER_SECRET is required" in done.stderr and "Traceback" not in done.stderr


def test_cluster_status_shows_positions_and_who_is_down(cluster):
    c = cluster().start()
    c.wait_coordinator(3)
    c.nodes[1].kill9()
    status = wait_until(lambda: (s := c.nodes[3].status()) and not s["nodes"][0]["alive"] and s, what="node 1 reported down")
    assert status["nodes"][0]["role"] == "down"
    assert status["nodes"][2]["position"] == status["position"] > 0
    print(json.dumps(status))


def test_links_closed_as_idle_are_reopened_and_elections_still_work(cluster):
    c = cluster(env={"IDLE_TIMEOUT_S": "1"})
    c.start()
    c.wait_coordinator(3)
    wait_until(lambda: "closing idle connection" in c.nodes[3].log(), what="an idle peer link to be closed")
    c.nodes[3].kill9()
    c.wait_coordinator(2, among=[1, 2])
    assert "Coordinator announced: node 1" not in c.nodes[1].log()  # its stale link to node 2 did not make 2 look dead
    seller = ClusterSeller(c)
    seller.sell_one()
    assert c.wait_converged(nodes=[1, 2])["ids"] >= set(seller.acknowledged)


def test_a_signed_but_malformed_batch_is_refused_and_changes_nothing(cluster):
    c = cluster().start()
    c.wait_coordinator(3)
    before = c.wait_converged()
    from wire.peer_auth import PeerAuth
    from support import TEST_SECRET
    auth = PeerAuth(TEST_SECRET.encode(), 3, {1, 2, 3}, lambda: int(time.time() * 1000))
    status = c.nodes[1].status()
    raw = c.nodes[1].raw()
    body = {"epoch": status["epoch"], "entries": [{"origin": [3, status["epoch"], 10**6], "kind": "sale", "data": {"id": "x"}}],
            "more": False, "vector": {}, "position": 0}
    error = raw.call("peer.push", auth.seal("peer.push", body))["error"]
    raw.close()
    assert error["code"] == -32602 and error["data"]["field"] == "entries"
    assert c.nodes[1].sales_digest() == before
    assert "Traceback" not in c.nodes[1].log()


def test_two_coordinators_lost_in_a_row_then_both_return(cluster):
    c = cluster().start()
    c.wait_coordinator(3)
    seller = ClusterSeller(c).start()
    wait_until(lambda: len(seller.acknowledged) >= 30, what="sales on node 3")
    c.nodes[3].kill9()
    c.wait_coordinator(2, among=[1, 2])
    count = len(seller.acknowledged)
    wait_until(lambda: len(seller.acknowledged) >= count + 30, what="sales on node 2")
    c.nodes[2].kill9()
    assert c.wait_coordinator(1, among=[1]) == 3
    count = len(seller.acknowledged)
    wait_until(lambda: len(seller.acknowledged) >= count + 30, what="sales on node 1, alone")
    assert min(list(seller.acknowledged.values())[-10:]) == 1  # alone, it acknowledges with the one copy it has
    c.nodes[2].start()
    c.nodes[3].start()
    c.wait_coordinator(3)
    count = len(seller.acknowledged)
    wait_until(lambda: len(seller.acknowledged) >= count + 30, what="sales on the returned primary")
    seller.stop()
    assert_everything_everywhere_once(c, seller)
