"""Liveness under faults on three real node processes, through per-link proxies (tests/links.py): a node that can send
but not be reached, slow links, and too few copies with REPLICATION_STRICT."""

import time

import pytest
from links import LinkedCluster
from support import DEMO_PIN, DEMO_SELLER_CPF, ServerProcess, fresh_sale_id

ONE_WAY_WATCH_S = 6.0
SLOW_LINK_S = 0.4


@pytest.fixture
def linked(tmp_path):
    """Starts one LinkedCluster (with the given env), stopped after the test."""
    made: list[LinkedCluster] = []

    def make(env: dict | None = None) -> LinkedCluster:
        made.append(LinkedCluster(tmp_path, env=env))
        return made[-1].start()
    yield make
    for c in made:
        c.stop()


class Seller:
    """Records sales at one node directly (no failover), as the demo seller."""

    def __init__(self, node: ServerProcess):
        self.node = node
        self.token = node.result("auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)["token"]
        self.store_id = node.result("stores.list")["stores"][0]["id"]

    def sell(self, amount: str = "10.00") -> dict:
        """The whole answer to one sales.record."""
        return self.node.call("sales.record", token=self.token, sale_id=fresh_sale_id(), store_id=self.store_id, amount=amount)


def test_a_node_that_can_send_but_not_be_reached_does_not_depose_the_primary(linked):
    """2 and 3 cannot connect to 1, while 1's own calls (and their answers) go through: 1 misses 3's heartbeats, yet the
    epoch stays put, 3 keeps serving and every sale gets its copy on 2."""
    c = linked()
    epoch = c.wait_coordinator(3)
    seller = Seller(c.nodes[3])
    c.block(2, 1)
    c.block(3, 1)
    deadline, answers = time.monotonic() + ONE_WAY_WATCH_S, []
    while time.monotonic() < deadline:
        answers.append(seller.sell())
        time.sleep(0.1)
    status = c.nodes[3].status()
    assert status["role"] == "coordinator" and status["epoch"] - epoch <= 1, status
    assert all("result" in a for a in answers), [a for a in answers if "result" not in a][:3]
    assert all(a["result"]["replicas"] >= 2 for a in answers)
    assert c.nodes[1].has_event("missed_heartbeats")  # the fault did reach it
    c.heal()
    c.wait_converged()


def test_under_slow_links_sales_still_get_their_copies(linked):
    """400 ms on every link, each way (more than FAILURE_TIMEOUT_MS for a round trip): slower, but never a single copy."""
    c = linked()
    epoch = c.wait_coordinator(3)
    seller = Seller(c.nodes[3])
    c.delay(SLOW_LINK_S)
    answers = [seller.sell() for _ in range(4)]
    assert [a.get("result", a).get("replicas") for a in answers] == [2, 2, 2, 2], answers
    status = c.nodes[3].status()
    assert status["under_replicated_acks"] == 0 and status["epoch"] == epoch and status["role"] == "coordinator", status


def test_strict_refuses_a_sale_that_would_get_too_few_copies_and_counts_short_ones_otherwise(linked):
    c = linked(env={"REPLICATION_STRICT": "on", "REPLICATION_TIMEOUT_MS": "1000"})
    c.wait_coordinator(3)
    seller = Seller(c.nodes[3])
    assert seller.sell()["result"]["replicas"] == 2
    c.partition([3], [1, 2])
    answer = seller.sell()
    assert answer["error"]["code"] == 1009 and answer["error"]["data"]["reason"] == "too_few_replicas", answer
    assert answer["error"]["data"]["replicas"] == 1
    assert c.nodes[3].status()["refused_too_few"] >= 1
