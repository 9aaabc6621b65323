"""Benchmark: do heavy reports slow the tills? Sales latency on a 3-node cluster, alone and beside managers' reports.

    python bench/follower_reports.py [--history 100000] [--sellers 1000] [--tills 4] [--managers 8] [--seconds 10]

A real 3-node cluster on loopback (REPLICATION_ACKS=1) gets a catalogue of --sellers sellers and --history sales over
two years through users.import and sales.import. Then, for --seconds each, --tills tills record sales one after the
other while:
  1. nobody runs reports (the reference);
  2. --managers managers run best_seller in a loop (all time, and a range not aligned to months) at the coordinator;
  3. the same managers run them with reports from followers on (client REPORTS_FROM_FOLLOWERS / --replica).
Managers run in processes of their own at the lowest CPU priority (their clients would run on their own machines).
Prints each phase's sales p50/p99 latency and count, the reports answered (and by which nodes), and the ratios of each
loaded p99 to the unloaded one; the goal is p99(followers) / p99(unloaded) <= 2.
"""

import argparse
import datetime as dt
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, Cluster, fresh_sale_id  # noqa: E402

from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402
from models.documents import cpf_check_digits  # noqa: E402

USERS_BATCH = 1000  # users.import's most rows per call
SALES_BATCH = 5000  # as the client's `import sales` sends
GOAL_RATIO = 2.0
COORDINATOR = 3  # the highest id: the primary


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def connect(servers: dict, replica: bool = False) -> Api:
    api = Api(Connection(servers, failover_timeout_s=20.0))
    api.replica = replica
    return api


def build(servers: dict, sellers: int, history: int) -> None:
    """The catalogue and the sales history, through the import methods (replicated like any write)."""
    manager = connect(servers)
    manager.login(DEMO_MANAGER_CPF, DEMO_PIN)
    cpfs = []
    for start in range(0, sellers, USERS_BATCH):
        rows = []
        for i in range(start, min(sellers, start + USERS_BATCH)):
            nine = f"{700000000 + i:09d}"
            cpfs.append(nine + cpf_check_digits(nine))
            rows.append({"cpf": cpfs[-1], "name": f"Vendedor {i:05d}", "birth_year": 1990, "role": "seller"})
        manager.import_rows("users", rows)
    stores = [s["cnpj"] for s in manager.stores()]
    rng, today = random.Random(1), dt.date.today()
    for start in range(0, history, SALES_BATCH):
        rows = [{"sale_id": fresh_sale_id(), "seller": rng.choice(cpfs), "store": rng.choice(stores),
                 "amount": f"{rng.randint(100, 500_000) / 100:.2f}",
                 "sold_on": (today - dt.timedelta(days=rng.randint(0, 729))).isoformat()}
                for _ in range(min(SALES_BATCH, history - start))]
        answer = manager.import_sales(rows)
        if answer["refused"]:
            raise SystemExit(f"the bench's own rows were refused: {answer['refused'][:3]}")


def manager_loop(servers: dict, replica: bool, stop, answered, by_node) -> None:
    """One manager (a process of its own): best_seller over all time and over a range not aligned to months, in turn.
    At the lowest CPU priority: a manager's client runs on the manager's own machine, not on the nodes' (here they share one)."""
    os.nice(19)
    api = connect(servers, replica)
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    today = dt.date.today()
    ranges = [(None, None), (today - dt.timedelta(days=200), today - dt.timedelta(days=17))]
    i = 0
    while not stop.is_set():
        start, end = ranges[i % len(ranges)]
        result = api.report("best_seller", start, end, limit=5)
        node = result.get("as_of", {}).get("node_id", 0)
        with answered.get_lock():
            answered.value += 1
        with by_node.get_lock():
            by_node[node] += 1
        i += 1


def sales_phase(servers: dict, tills: int, seconds: float) -> list[float]:
    """Each till records sales one after the other for `seconds`; every sale's latency."""
    apis = []
    for _ in range(tills):
        api = connect(servers)
        api.login(DEMO_SELLER_CPF, DEMO_PIN)
        apis.append(api)
    store_id = apis[0].stores()[0]["id"]
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(tills)
    deadline: list[float] = []

    def till(api: Api) -> None:
        mine = []
        if barrier.wait() == 0:
            deadline.append(time.monotonic() + seconds)
        barrier.wait()
        while time.monotonic() < deadline[0]:
            started = time.perf_counter()
            api.record_sale(fresh_sale_id(), store_id, 1000)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
    threads = [threading.Thread(target=till, args=(api,)) for api in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for api in apis:
        api.connection.close()
    return latencies


def phase(servers: dict, args, managers: int, replica: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    stop, answered, by_node = ctx.Event(), ctx.Value("i", 0), ctx.Array("i", 4)
    workers = [ctx.Process(target=manager_loop, args=(servers, replica, stop, answered, by_node), daemon=True)
               for _ in range(managers)]
    for worker in workers:
        worker.start()
    if managers:  # let every manager sign in and get going before the tills start
        deadline = time.monotonic() + 60
        while answered.value < 2 * managers and time.monotonic() < deadline:
            time.sleep(0.05)
    before = answered.value
    started = time.monotonic()
    latencies = sales_phase(servers, args.tills, args.seconds)
    elapsed = time.monotonic() - started
    reports = answered.value - before
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    return {"latencies": latencies, "reports_per_s": reports / elapsed, "by_node": {n: by_node[n] for n in range(1, 4) if by_node[n]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=100_000, help="sales imported before the phases")
    parser.add_argument("--sellers", type=int, default=1000)
    parser.add_argument("--tills", type=int, default=4)
    parser.add_argument("--managers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp), env={"LOG_LEVEL": "WARNING", "REGISTER_MAX_PER_SOURCE": "1000"})
        try:
            cluster.start()
            cluster.wait_coordinator(COORDINATOR)
            servers = cluster.servers()
            began = time.monotonic()
            build(servers, args.sellers, args.history)
            cluster.wait_converged(timeout=300)
            print(f"cluster of 3 on loopback, REPLICATION_ACKS=1; {args.history} sales of {args.sellers} sellers imported and "
                  f"replicated in {time.monotonic() - began:.1f}s; {args.tills} tills, {args.managers} managers, "
                  f"{args.seconds:.0f}s a phase")
            results = {}
            for label, managers, replica in (("no reports", 0, False), ("reports at the coordinator", args.managers, False),
                                             ("reports from followers", args.managers, True)):
                result = results[label] = phase(servers, args, managers, replica)
                lat = result["latencies"]
                nodes = ", ".join(f"node {n}: {count}" for n, count in sorted(result["by_node"].items())) or "-"
                print(f"{label:28s} sales={len(lat):5d} p50={percentile(lat, 0.5) * 1000:6.1f} ms "
                      f"p99={percentile(lat, 0.99) * 1000:6.1f} ms  reports/s={result['reports_per_s']:6.1f} (answered by {nodes})")
            base = percentile(results["no reports"]["latencies"], 0.99)
            at_coordinator = percentile(results["reports at the coordinator"]["latencies"], 0.99) / base
            from_followers = percentile(results["reports from followers"]["latencies"], 0.99) / base
            print(f"p99 ratio, reports at the coordinator / none: {at_coordinator:.2f}")
            print(f"p99 ratio, reports from followers / none: {from_followers:.2f} (goal <= {GOAL_RATIO:.0f}: "
                  f"{'met' if from_followers <= GOAL_RATIO else 'NOT met'})")
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
