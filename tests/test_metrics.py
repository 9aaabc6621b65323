"""METRICS_ADDRESS: /metrics in Prometheus' text format (parsed with prometheus_client's own parser) and /healthz."""

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import TEST_SECRET, Cluster, ClusterSeller, RawClient, free_ports, wait_until

from server.config import ConfigError, load_config
from server.metrics import is_serving


def scrape(port: int) -> dict:
    """{(sample name, sorted labels): value} of one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.fixture
def metered(tmp_path):
    ports = free_ports(2)
    addresses = ",".join(f"{n}=127.0.0.1:{p}" for n, p in zip((1, 2), ports))
    cluster = Cluster(tmp_path, size=2, env={"METRICS_ADDRESS": addresses}).start()
    yield cluster, dict(zip((1, 2), ports))
    cluster.stop()


def test_metrics_count_sales_sign_in_failures_and_commits_and_show_role_epoch_and_lag(metered):
    """Two sales (one sent twice) and a wrong PIN on the coordinator: counters, histograms and gauges as expected."""
    cluster, metrics_ports = metered
    epoch = cluster.wait_coordinator(2)
    seller = ClusterSeller(cluster)
    first = seller.sell_one(1000)
    seller.sell_one(2000)
    seller.api.record_sale(first, seller.store_id, 1000)  # a retry: acknowledged again, not recorded again
    wrong = RawClient(cluster.nodes[2].port)
    assert wrong.call("auth.login", {"cpf": "12345678909", "pin": "9999"})["error"]["code"] == 1003
    wrong.close()
    cluster.wait_converged()
    coordinator = scrape(metrics_ports[2])
    assert coordinator[("onsell_sales_recorded_total", ())] == 2
    assert coordinator[("onsell_sales_acknowledged_total", ())] == 3
    assert coordinator[("onsell_sale_acknowledgement_seconds_count", ())] == 3
    assert coordinator[("onsell_sign_in_failures_total", (("reason", "bad_credentials"),))] == 1
    assert coordinator[("onsell_requests_total", (("method", "sales.record"), ("outcome", "ok")))] == 3
    assert coordinator[("onsell_group_commit_writes_count", ())] >= 2
    assert coordinator[("onsell_role", (("role", "coordinator"),))] == 1
    assert coordinator[("onsell_epoch", ())] == epoch
    assert coordinator[("onsell_connections", ())] >= 1
    assert coordinator[("onsell_conflicting_changes_total", ())] == coordinator[("onsell_anti_entropy_repaired_total", ())] == 0
    assert coordinator[("onsell_under_replicated_acks_total", ())] == 0 and coordinator[("onsell_stepped_down", ())] == 0
    wait_until(lambda: scrape(metrics_ports[2]).get(("onsell_replication_lag_changes", (("node", "1"),))) == 0, 10,
               what="node 1's lag to read 0 on the coordinator")
    follower = scrape(metrics_ports[1])
    assert follower[("onsell_role", (("role", "follower"),))] == 1 and follower[("onsell_sales_recorded_total", ())] == 0
    assert health(metrics_ports[2]) == (200, {"serving": True, "role": "coordinator"})
    assert health(metrics_ports[1]) == (200, {"serving": True, "role": "follower"})


def test_a_new_coordinator_counts_the_election(metered):
    """Killing the coordinator: the survivor's epoch and elections counter rise, and it says it is the coordinator."""
    cluster, metrics_ports = metered
    cluster.wait_coordinator(2)
    before = scrape(metrics_ports[1])
    cluster.nodes[2].kill9()
    cluster.wait_coordinator(1, among=[1])
    after = scrape(metrics_ports[1])
    assert after[("onsell_epoch", ())] > before[("onsell_epoch", ())]
    assert after[("onsell_elections_total", ())] >= before[("onsell_elections_total", ())] + 1
    assert after[("onsell_role", (("role", "coordinator"),))] == 1


def test_unknown_paths_are_404_and_health_is_503_without_a_coordinator():
    """/other: 404; a candidate (or a node that knows no coordinator) is not healthy."""
    assert not is_serving({"role": "candidate", "coordinator_id": 0})
    assert not is_serving({"role": "follower", "coordinator_id": 0})
    assert is_serving({"role": "coordinator", "coordinator_id": 3})
    assert not is_serving({"role": "follower", "coordinator_id": 2, "stepped_down": "storage"})


def test_metrics_address_is_checked_at_start(tmp_path):
    """A bad METRICS_ADDRESS or one that is a node's address stops the node with the key named."""
    env = {"DATA_DIR": str(tmp_path), "CLUSTER": "1=127.0.0.1:7001", "CLUSTER_SECRET": TEST_SECRET}
    for bad in ("nowhere", "127.0.0.1:7001", "1=127.0.0.1:99999"):
        with pytest.raises(ConfigError) as raised:
            load_config(1, {**env, "METRICS_ADDRESS": bad})
        assert raised.value.key == "METRICS_ADDRESS", bad
    assert load_config(1, {**env, "METRICS_ADDRESS": "127.0.0.1:9101"}).metrics_address == ("127.0.0.1", 9101)
    assert load_config(1, {**env, "METRICS_ADDRESS": "2=127.0.0.1:9102"}).metrics_address is None
