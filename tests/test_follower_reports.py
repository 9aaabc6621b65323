"""Reports from followers on real node processes: a follower in sync answers reports.* itself with as_of; one whose link
to the coordinator is delayed or cut beyond REPORT_MAX_LAG_MS, or that does not hold the asked min_position, refuses
with 1008 and the client (report --replica) gets the coordinator's answer; the default client never asks a follower.

Who answered is read from the answer's as_of.node_id; why a follower refused from data.stale."""

import json

import pytest
from links import LinkedCluster
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, fresh_sale_id, run_client, wait_until

MAX_LAG_MS = 1000  # REPORT_MAX_LAG_MS's default
SLOW_LINK_MAX_LAG_MS = 500  # with a slow link: below its round trip, while the election stays put (as in test_liveness)
SLOW_LINK_S = 0.4  # each way: a push's round trip alone is more than SLOW_LINK_MAX_LAG_MS


def token(node, cpf: str) -> str:
    return node.result("auth.login", cpf=cpf, pin=DEMO_PIN)["token"]


def best_seller(node, manager: str, **params) -> dict:
    return node.call("reports.best_seller", token=manager, limit=5, **params)


def without_as_of(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "as_of"}


def sell(node, seller: str, store_id: str, amount: str = "123.45") -> dict:
    answer = node.call("sales.record", token=seller, sale_id=fresh_sale_id(), store_id=store_id, amount=amount)
    assert "result" in answer, answer
    return answer["result"]


def client_report(c, ids: list[int], *args: str, env: dict | None = None) -> dict:
    """`report best-seller --format json` through the client, whose CLUSTER names only the nodes `ids`; its JSON."""
    servers = ",".join(f"{n}=127.0.0.1:{c.nodes[n].port}" for n in ids)
    done = run_client(["report", "best-seller", "--limit", "5", "--format", "json", *args], c.nodes[ids[0]].port,
                      env={"CLUSTER": servers, "ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN, **(env or {})})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip() == "", done.stderr  # nothing odd on screen
    return json.loads(done.stdout)


def test_a_follower_in_sync_answers_a_report_with_as_of_and_holds_the_callers_write(clusters):
    c = clusters().start()
    c.wait_coordinator(3)
    c.wait_converged()
    manager, seller = token(c.nodes[3], DEMO_MANAGER_CPF), token(c.nodes[3], DEMO_SELLER_CPF)
    store_id = c.nodes[3].result("stores.list")["stores"][0]["id"]
    sale = sell(c.nodes[3], seller, store_id)
    assert sale["position"] >= 361 and sale["replicas"] >= 2  # the demo's 360 sales and more: a write answers its position
    at_coordinator = best_seller(c.nodes[3], manager, min_position=sale["position"])["result"]
    assert at_coordinator["as_of"]["node_id"] == 3 and at_coordinator["as_of"]["lag_ms"] == 0
    assert at_coordinator["as_of"]["position"] == at_coordinator["as_of"]["coordinator_position"] >= sale["position"]

    def answered_by_1():
        answer = best_seller(c.nodes[1], manager, min_position=sale["position"])
        return answer.get("result")
    at_follower = wait_until(answered_by_1, what="follower 1 to answer holding the sale")
    as_of = at_follower["as_of"]
    assert as_of["node_id"] == 1 and 0 <= as_of["lag_ms"] <= MAX_LAG_MS, as_of
    assert as_of["position"] >= sale["position"] and as_of["coordinator_position"] >= sale["position"], as_of
    assert without_as_of(at_follower) == without_as_of(at_coordinator)  # the same ranking, the sale in it
    assert c.nodes[1].call("networks.list")["error"]["code"] == 1008  # only reports: the rest still goes to the coordinator
    writes = c.nodes[1].call("sales.record", token=seller, sale_id=fresh_sale_id(), store_id=store_id, amount="1.00")
    assert writes["error"]["code"] == 1008


def test_a_min_position_beyond_the_followers_is_refused_and_the_coordinator_answers_it(clusters):
    c = clusters().start()
    c.wait_coordinator(3)
    c.wait_converged()
    manager = token(c.nodes[3], DEMO_MANAGER_CPF)
    in_sync = wait_until(lambda: best_seller(c.nodes[2], manager).get("result"), what="follower 2 in sync")
    beyond = in_sync["as_of"]["coordinator_position"] + 1000
    refused = best_seller(c.nodes[2], manager, min_position=beyond)["error"]
    assert refused["code"] == 1008 and refused["data"]["reason"] == "not_coordinator", refused
    assert refused["data"]["stale"] == "min_position" and refused["data"]["coordinator"]["id"] == 3, refused
    assert refused["data"]["as_of"]["node_id"] == 2
    assert best_seller(c.nodes[3], manager, min_position=beyond)["result"]["as_of"]["node_id"] == 3
    bad = best_seller(c.nodes[2], manager, min_position="soon")["error"]
    assert bad["code"] == -32602 and bad["data"]["field"] == "min_position", bad


@pytest.mark.parametrize("fault", ["delayed", "cut"])
def test_a_follower_behind_a_slow_or_cut_link_refuses_and_the_client_gets_the_coordinators_answer(clusters, fault):
    c = clusters(LinkedCluster, env={"REPORT_MAX_LAG_MS": str(SLOW_LINK_MAX_LAG_MS)}).start()
    c.wait_coordinator(3)
    c.wait_converged()
    manager, seller = token(c.nodes[3], DEMO_MANAGER_CPF), token(c.nodes[3], DEMO_SELLER_CPF)
    wait_until(lambda: best_seller(c.nodes[1], manager).get("result"), what="follower 1 in sync before the fault")
    if fault == "delayed":
        c.links[(3, 1)].delay_s = SLOW_LINK_S
    else:
        c.links[(3, 1)].set_cut(True)
        c.links[(1, 3)].set_cut(True)

    def refused():  # delayed: for lagging, as a follower of 3 (not while it doubts 3 is there); cut: for whatever reason
        answer = best_seller(c.nodes[1], manager)
        if "error" not in answer or (fault == "delayed" and answer["error"]["data"].get("stale") != "lag"):
            return None
        return answer["error"]
    error = wait_until(refused, what="follower 1 to refuse reports")
    assert error["code"] == 1008, error
    if fault == "delayed":
        assert error["data"]["coordinator"]["id"] == 3, error
        lag = error["data"]["as_of"]["lag_ms"]
        assert lag is None or lag > SLOW_LINK_MAX_LAG_MS, error
    store_id = c.nodes[3].result("stores.list")["stores"][0]["id"]
    sell(c.nodes[3], seller, store_id, amount="9999.99")  # node 1 cannot have it in time (cut), or not soon (delayed)
    expected = without_as_of(best_seller(c.nodes[3], manager)["result"])
    answer = client_report(c, [1, 3], "--replica")
    assert answer["as_of"]["node_id"] == 3, answer["as_of"]  # the client went to the coordinator
    assert without_as_of(answer) == expected


def test_reports_from_followers_only_when_told(clusters):
    """The default client asks the coordinator every time; --replica or REPORTS_FROM_FOLLOWERS=on asks a follower in sync."""
    c = clusters().start()
    c.wait_coordinator(3)
    c.wait_converged()
    manager = token(c.nodes[3], DEMO_MANAGER_CPF)
    for n in (1, 2):
        wait_until(lambda n=n: best_seller(c.nodes[n], manager).get("result"), what=f"follower {n} in sync")
    assert {client_report(c, [1, 2, 3])["as_of"]["node_id"] for _ in range(3)} == {3}
    assert client_report(c, [1, 2, 3], "--replica")["as_of"]["node_id"] in (1, 2)
    assert client_report(c, [1, 2, 3], env={"REPORTS_FROM_FOLLOWERS": "on"})["as_of"]["node_id"] in (1, 2)
    assert client_report(c, [1, 2, 3], env={"REPORTS_FROM_FOLLOWERS": "off"})["as_of"]["node_id"] == 3


def test_a_report_thread_runs_at_the_lowest_priority_and_no_other_thread_does():
    """lower_this_thread changes the calling thread only (Linux; elsewhere it says it did nothing)."""
    import os
    import sys
    import threading

    from runtime.threads import LOWEST_PRIORITY, lower_this_thread
    seen = {}

    def worker():
        seen["lowered"] = lower_this_thread()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) if sys.platform.startswith("linux") else None
    before = os.getpriority(os.PRIO_PROCESS, 0)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the report thread did not end within 10 s"
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the process (its main thread) is untouched
    if sys.platform.startswith("linux"):
        assert seen == {"lowered": True, "nice": LOWEST_PRIORITY}
    else:
        assert seen["lowered"] is False


def test_a_single_node_answers_its_writes_with_their_position_and_its_reports_with_as_of(node):
    """In-process: a write's answer has the position that holds it; a report's, as_of; min_position is checked."""
    from inprocess import call, error, login, record, stores_by_name
    manager, seller = login(node, DEMO_MANAGER_CPF), login(node, DEMO_SELLER_CPF)
    sale = record(node, seller, next(iter(stores_by_name(node).values())), "10.00")
    assert sale["position"] == call(node, "cluster.status")["position"] > 360
    report = call(node, "reports.best_store", token=manager, min_position=sale["position"] + 5)  # the coordinator answers any
    assert report["as_of"] == {"node_id": 1, "position": sale["position"], "coordinator_position": sale["position"], "lag_ms": 0}
    assert "as_of" not in call(node, "stores.list") and "position" not in call(node, "stores.list")
    for bad in (-1, 1.5, True, "7"):
        refused = error(node, "reports.best_store", token=manager, min_position=bad)
        assert refused.code == -32602 and refused.data["field"] == "min_position", bad
    assert error(node, "stores.list", min_position=1).data["field"] == "min_position"  # only reports take it


class FakeConnection:
    """What Api asks of a Connection, recorded: (how, method, params) per call."""

    def __init__(self, answers: dict):
        self.answers, self.calls = answers, []

    def call(self, method, params=None, failover_timeout_s=None):
        self.calls.append(("coordinator", method, dict(params or {})))
        return self.answers[method]

    def call_follower(self, method, params=None):
        self.calls.append(("follower", method, dict(params or {})))
        return self.answers[method]


def test_the_client_sends_its_highest_written_position_as_min_position_only_when_reading_from_followers():
    from client.api import Api
    connection = FakeConnection({"sales.record": {"sale": {}, "duplicate": False, "replicas": 2, "position": 42},
                                 "sales.void": {"void": {}, "duplicate": False, "replicas": 2, "position": 40},
                                 "reports.best_seller": {"ranking": []}, "reports.voids": {"voids": []}})
    api = Api(connection)
    api.token = "t"
    api.record_sale("s1", "store", 100)
    api.void_sale("s1", "engano")
    api.report("best_seller", limit=1)
    assert connection.calls[-1] == ("coordinator", "reports.best_seller", {"token": "t", "limit": 1})  # default: no follower
    api.replica = True
    api.report("best_seller", limit=1)
    api.voids()
    assert connection.calls[-2:] == [("follower", "reports.best_seller", {"token": "t", "limit": 1, "min_position": 42}),
                                     ("follower", "reports.voids", {"token": "t", "limit": 100, "min_position": 42})]
