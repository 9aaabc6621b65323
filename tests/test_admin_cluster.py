"""Administration on three real node processes: what a manager changes is replicated before it is acknowledged,
survives the coordinator's death, converges across a cut link, and reaches a node that was down."""

import sqlite3
import uuid

from links import LinkedCluster
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, ServerProcess, wait_until

from models.documents import cnpj_check_digits


def call(node: ServerProcess, method: str, **params) -> dict:
    """The whole response object of one call to this node."""
    client = node.raw()
    try:
        return client.call(method, params)
    finally:
        client.close()


def result(node: ServerProcess, method: str, **params) -> dict:
    answer = call(node, method, **params)
    assert "result" in answer, answer
    return answer["result"]


def token(node: ServerProcess, cpf: str, pin: str = DEMO_PIN) -> str:
    return result(node, "auth.login", cpf=cpf, pin=pin)["token"]


def query(node: ServerProcess, sql: str, params: tuple = ()) -> list[tuple]:
    """Read this node's own file, read-only, beside the running server."""
    conn = sqlite3.connect(f"file:{node.database_path}?mode=ro", uri=True, timeout=10)
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def test_a_store_created_on_the_coordinator_is_on_the_next_one_after_a_kill(clusters):
    c = clusters().start()
    c.wait_coordinator(3)
    manager = token(c.nodes[3], DEMO_MANAGER_CPF)
    network = result(c.nodes[3], "networks.create", token=manager, name="REDE CLUSTER")["network"]
    base = "556677880001"
    store = result(c.nodes[3], "stores.create", token=manager, name="Loja Cluster", cnpj=base + cnpj_check_digits(base),
                   network_id=network["id"])["store"]
    c.nodes[3].kill9()
    c.wait_coordinator(2, among=[1, 2])
    assert store in result(c.nodes[2], "stores.list")["stores"]
    seller = token(c.nodes[2], DEMO_SELLER_CPF)
    sale = result(c.nodes[2], "sales.record", token=seller, sale_id=str(uuid.uuid4()), store_id=store["id"], amount="12.34")
    assert sale["duplicate"] is False


def test_a_void_on_one_side_of_a_cut_and_the_sale_on_the_other_converge_to_voided(clusters):
    """The sale is recorded on node 3 and its till retries it there during a partition; node 2, coordinator of the
    other side, voids it. After healing every node holds the void and counts the sale nowhere."""
    c = clusters(LinkedCluster).start()
    c.wait_coordinator(3)
    node3, node2 = c.nodes[3], c.nodes[2]
    seller3 = token(node3, DEMO_SELLER_CPF)
    store_id = result(node3, "stores.list")["stores"][0]["id"]
    sale_id = str(uuid.uuid4())
    result(node3, "sales.record", token=seller3, sale_id=sale_id, store_id=store_id, amount="999.99")
    before = c.wait_converged()
    c.partition([3], [1, 2])
    c.wait_coordinator(2, among=[1, 2])
    manager2 = token(node2, DEMO_MANAGER_CPF)
    voided = result(node2, "sales.void", token=manager2, sale_id=sale_id, reason="valor digitado errado")
    assert voided["duplicate"] is False
    retried = result(node3, "sales.record", token=seller3, sale_id=sale_id, store_id=store_id, amount="999.99")
    assert retried["duplicate"] is True  # the other side has not heard of the void yet
    other = result(node3, "sales.record", token=seller3, sale_id=str(uuid.uuid4()), store_id=store_id, amount="1.00")
    c.heal()
    c.wait_coordinator(3, timeout=30)
    after = c.wait_converged(timeout=30)
    assert after["ids"] == before["ids"] | {other["sale"]["sale_id"]}
    assert after["aggregate_count"] == before["aggregate_count"]  # one sale voided, one recorded
    assert after["aggregate_cents"] == before["aggregate_cents"] - 99_999 + 100
    for node in c.nodes.values():
        wait_until(lambda node=node: query(node, "SELECT sale_id, reason FROM sale_voids") == [(sale_id, "valor digitado errado")],
                   what=f"the void on node {node.node_id}")


def test_a_deactivated_sellers_old_token_is_refused_by_a_node_that_was_down_once_it_caught_up(clusters):
    c = clusters().start()
    c.wait_coordinator(3)
    old_token = token(c.nodes[3], DEMO_SELLER_CPF)
    seller_id = result(c.nodes[3], "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)["user"]["id"]
    c.nodes[1].stop()
    manager = token(c.nodes[3], DEMO_MANAGER_CPF)
    assert result(c.nodes[3], "users.deactivate", token=manager, user_id=seller_id)["user"]["active"] is False
    assert call(c.nodes[3], "sales.mine", token=old_token)["error"]["code"] == 1001
    c.nodes[1].start()
    wait_until(lambda: query(c.nodes[1], "SELECT active FROM users WHERE id = ?", (seller_id,)) == [(0,)],
               what="node 1 to catch up with the deactivation")
    c.nodes[3].kill9()
    c.nodes[2].kill9()
    c.wait_coordinator(1, among=[1])
    refused = call(c.nodes[1], "sales.mine", token=old_token)["error"]
    assert (refused["code"], refused["data"]["reason"]) == (1001, "unauthenticated")
    assert call(c.nodes[1], "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)["error"]["code"] == 1011
