"""The client across a cluster: transparent failover, the return of the primary, the seller's queue."""

import subprocess
import sys

import pytest
from support import ROOT, Cluster, InteractiveClient, fresh_sale_id, queued_sale_ids, wait_until

from client.api import Api
from client.connection import Connection

SELLER_CPF, PIN = "12345678909", "1234"


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "cluster").start()
    c.wait_coordinator(3)
    yield c
    c.stop()


def test_a_client_selling_through_a_coordinator_kill_sees_no_error_and_nothing_twice(cluster):
    notices: list[str] = []
    api = Api(Connection(cluster.servers(), on_notice=notices.append))
    api.login(SELLER_CPF, PIN)
    store = api.stores()[0]["id"]
    acknowledged = []
    for i in range(400):
        if i == 100:
            cluster.nodes[3].kill9()
        new_id = fresh_sale_id()
        api.record_sale(new_id, store, 100 + i)  # no retry here: the connection does it, or the test fails
        acknowledged.append(new_id)
    assert notices == ["Servidor principal indisponível: conectado ao coordenador temporário (nó 2)"]
    digest = cluster.wait_converged()
    assert set(acknowledged) <= digest["ids"] and digest["rows"] == len(digest["ids"]) == 360 + 400


def test_a_session_started_on_node_3_goes_on_on_node_2_and_back_on_node_3(cluster):
    notices: list[str] = []
    api = Api(Connection(cluster.servers(), on_notice=notices.append))
    api.login(SELLER_CPF, PIN)
    store = api.stores()[0]["id"]
    api.record_sale(fresh_sale_id(), store, 500)
    assert api.connection.coordinator_id == 3
    cluster.nodes[3].kill9()
    api.record_sale(fresh_sale_id(), store, 600)  # same token, no new sign-in
    assert api.connection.coordinator_id == 2
    cluster.nodes[3].start()
    cluster.wait_coordinator(3)
    result = api.record_sale(fresh_sale_id(), store, 700)
    assert api.connection.coordinator_id == 3 and result["replicas"] >= 2
    assert notices == ["Servidor principal indisponível: conectado ao coordenador temporário (nó 2)",
                       "Servidor principal de volta: conectado ao nó 3"]
    assert api.my_sales(None, None)["count"] >= 3


def test_the_interactive_client_across_a_failover(cluster, tmp_path):
    client = InteractiveClient(cluster.cluster, tmp_path / "queue.db")
    client.type(SELLER_CPF, PIN)
    client.wait_for("Perfil: vendedor.")
    client.type("1", "1", "10,00", "s")
    client.wait_for("Venda registrada: R$ 10,00")
    cluster.nodes[3].kill9()
    client.type("1", "1", "20,00", "s")
    screen = client.wait_for("Venda registrada: R$ 20,00")
    assert "Servidor principal indisponível: conectado ao coordenador temporário (nó 2)" in screen
    client.type("2")
    screen = client.wait_for("Suas vendas em")
    client.type("7")  # Sair
    assert client.finish() == 0
    assert "R$ 30,00 em 2 vendas, ticket médio R$ 15,00" in client.output and "Sessão encerrada." in client.output
    assert "Traceback" not in client.output and "Não foi possível" not in client.output


def test_sales_queued_while_every_node_is_down_are_recorded_once_after_a_client_kill(cluster, tmp_path):
    queue = tmp_path / "queue.db"
    client = InteractiveClient(cluster.cluster, queue, env={"CLIENT_FAILOVER_TIMEOUT_MS": "1000"})
    client.type(SELLER_CPF, PIN)
    client.wait_for("Perfil: vendedor.")
    for node in cluster.nodes.values():
        node.kill9()
    client.type("1", "2", "11,00", "s")
    client.wait_for("Venda guardada: será enviada quando o servidor voltar (1 pendente)")
    client.type("1", "3", "12,00", "s")
    client.wait_for("(2 pendentes)")
    client.type("4")
    assert "aguardando envio" in client.wait_for("Situação")
    queued = queued_sale_ids(queue)
    assert len(queued) == 2
    client.kill9()  # the till is switched off with sales still waiting
    cluster.start()
    cluster.wait_coordinator(3)
    again = InteractiveClient(cluster.cluster, queue)  # started again, nobody has signed in yet
    wait_until(lambda: queued_sale_ids(queue) == [], timeout=30, what="the queue to be sent")
    again.finish()
    digest = cluster.wait_converged()
    assert set(queued) <= digest["ids"] and digest["rows"] == len(digest["ids"]) == 360 + 2


def test_a_script_sale_with_no_server_is_queued_with_its_own_exit_status(cluster, tmp_path):
    queue = tmp_path / "queue.db"
    env = {"ONSELL_CPF": SELLER_CPF, "ONSELL_PIN": PIN, "ONSELL_QUEUE": str(queue), "CLIENT_FAILOVER_TIMEOUT_MS": "500",
           "CLUSTER": cluster.cluster, "PYTHONPATH": str(ROOT)}
    store_id = Api(Connection(cluster.servers())).stores()[0]["id"]
    signed_in = subprocess.run([sys.executable, "-m", "client", "sales"], env=env, capture_output=True, text=True, timeout=60)
    assert signed_in.returncode == 0, signed_in.stderr  # with no server, only a seller who signed in on this till lately sells
    for node in cluster.nodes.values():
        node.kill9()
    done = subprocess.run([sys.executable, "-m", "client", "sale", "--store", store_id, "--amount", "9,99"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 4 and "venda guardada" in done.stderr
    queued = queued_sale_ids(queue)
    assert len(queued) == 1
    cluster.start()
    cluster.wait_coordinator(3)
    done = subprocess.run([sys.executable, "-m", "client", "sale", "--store", store_id, "--amount", "1,00"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert queued_sale_ids(queue) == []
    digest = cluster.wait_converged()
    assert set(queued) <= digest["ids"] and digest["rows"] == 360 + 2


def test_the_cluster_view_in_portuguese(cluster):
    cluster.nodes[1].kill9()
    env = {"CLUSTER": cluster.cluster, "PYTHONPATH": str(ROOT)}

    def view():
        done = subprocess.run([sys.executable, "-m", "client", "status"], env=env, capture_output=True, text=True, timeout=60)
        return done.returncode == 0 and "fora do ar" in done.stdout and done.stdout
    out = wait_until(view, what="node 1 shown as down")
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()[:1].isdigit()}
    assert "coordenador" in lines["3"] and "seguidor" in lines["2"] and "fora do ar" in lines["1"]
    assert "Visto pelo nó 3; coordenador: nó 3" in out


def test_a_client_that_knows_only_a_follower_is_pointed_to_the_coordinator(cluster):
    only_node_1 = {1: cluster.servers()[1]}
    notices: list[str] = []
    api = Api(Connection(only_node_1, on_notice=notices.append))
    api.login(SELLER_CPF, PIN)
    assert api.connection.coordinator_id == 3 and 3 in api.connection.servers
    assert notices == []  # node 3 is the primary, not a temporary coordinator


def test_a_client_whose_socket_was_closed_as_idle_goes_on_without_an_error(tmp_path):
    c = Cluster(tmp_path / "idle", env={"IDLE_TIMEOUT_S": "1"}).start()
    try:
        c.wait_coordinator(3)
        api = Api(Connection(c.servers()))
        api.login(SELLER_CPF, PIN)
        wait_until(lambda: c.nodes[3].has_event("idle_connection_closed"), what="the client's socket closed as idle")
        api.stores()
        assert api.connection.node_id == 3 and api.connection.coordinator_id == 3
    finally:
        c.stop()
