"""Accounts are created only by a coordinator that a majority of the nodes follow (trust issue, item 8): a CPF
registered on both sides of a partition was a silent account takeover. Sales need no majority: both sides sell."""

from links import LinkedCluster
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, Cluster, fresh_sale_id, wait_until
from test_admin_cluster import call

from models.documents import cpf_check_digits

NEW_PERSON = {"name": "Pessoa Nova", "birth_year": 1990, "pin": "2580"}


def refusal(answer: dict) -> tuple:
    error = answer.get("error") or {}
    return error.get("code"), (error.get("data") or {}).get("reason")


def new_cpf(n: int) -> str:
    nine = f"{440_000_000 + n:09d}"
    return nine + cpf_check_digits(nine)


def test_a_coordinator_cut_off_from_the_others_refuses_accounts_but_records_sales(tmp_path):
    c = LinkedCluster(tmp_path)
    try:
        c.start()
        c.wait_coordinator(3)
        alone = c.nodes[3]
        manager = call(alone, "auth.login", cpf=DEMO_MANAGER_CPF, pin=DEMO_PIN)["result"]["token"]
        seller = call(alone, "auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)["result"]["token"]
        store = call(alone, "stores.list")["result"]["stores"][0]["id"]
        assert "result" in call(alone, "auth.register", cpf=new_cpf(0), **NEW_PERSON)  # a majority follows it: created
        c.partition([3], [1, 2])
        c.wait_coordinator(2, among=[1, 2])
        assert alone.status()["role"] == "coordinator"  # alone, it still coordinates its side
        no_quorum = (1009, "no_quorum")
        assert refusal(call(alone, "auth.register", cpf=new_cpf(1), **NEW_PERSON)) == no_quorum
        assert refusal(call(alone, "users.create", token=manager, cpf=new_cpf(1), role="seller", **NEW_PERSON)) == no_quorum
        rows = [{"cpf": new_cpf(1), "name": "Pessoa Nova", "birth_year": 1990, "role": "vendedor"}]
        assert refusal(call(alone, "users.import", token=manager, rows=rows)) == no_quorum
        alone_sale = fresh_sale_id()
        sold = call(alone, "sales.record", token=seller, sale_id=alone_sale, store_id=store, amount="12.34")
        assert sold["result"]["replicas"] == 1  # sales keep selling without a majority
        assert alone.has_event("no_quorum", reached=1, nodes=3)
        majority_side = c.nodes[2]
        assert "result" in call(majority_side, "auth.register", cpf=new_cpf(1), **NEW_PERSON)  # 2 of 3: created there
        c.heal()
        c.wait_coordinator(3)
        digest = c.wait_converged()
        assert alone_sale in digest["ids"]
        manager = call(alone, "auth.login", cpf=DEMO_MANAGER_CPF, pin=DEMO_PIN)["result"]["token"]
        assert call(alone, "cluster.status", token=manager)["result"]["merges"] == []  # nobody's account was taken over
        assert "result" in call(alone, "auth.login", cpf=new_cpf(1), pin="2580")
    finally:
        c.stop()


def test_the_demo_data_is_loaded_once_a_majority_is_up(tmp_path):
    """A coordinator alone does not load the demo chain (another alone elsewhere would load a second one); once a
    majority follows it, it does, once."""
    c = Cluster(tmp_path)
    try:
        c.start(3)
        c.wait_coordinator(3, among=[3])
        assert c.nodes[3].status()["position"] == 0
        assert c.nodes[3].has_event("waiting_for_majority", what="demo_data")
        c.start(2)
        wait_until(lambda: c.nodes[3].has_event("demo_loaded"), what="the demo data once node 2 follows node 3")
        c.start(1)
        c.wait_coordinator(3)
        assert c.wait_converged()["rows"] == 360
        assert sum(node.has_event("demo_loaded") for node in c.nodes.values()) == 1
    finally:
        c.stop()


def test_the_client_explains_a_refusal_for_want_of_a_majority():
    from client.connection import RemoteError
    from client.views import remote_error
    from wire.jsonrpc import RpcError

    said = remote_error(RemoteError(RpcError(1009, "no majority", {"reason": "no_quorum", "reached": 1, "nodes": 3})))
    assert said.startswith("Não é possível criar contas agora")
