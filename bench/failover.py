"""Benchmark: failover of a three-node cluster with default timings; prints per-run figures.

    python bench/failover.py [--runs 5] [--catch-up-sales 100000] [--tls]

With --tls everything runs twice: in clear, then with every node and the client over TLS (a throw-away CA).

Part 1: a seller (the onsell client, with its own failover) keeps recording
sales while the coordinator is killed with SIGKILL; for each run: the time
from the kill to the first sale acknowledged by the new coordinator, and the
longest single sales.record call across the kill; at the end, how many calls
failed. The killed node is restarted and takes its role
back before the next run. At the end every acknowledged sale is looked up on
every node: lost and duplicated counts.
Part 2: node 3 is stopped, the cluster records --catch-up-sales sales, node 3
is started again: the time until it has caught up, and until it serves again
as coordinator.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import Cluster, fresh_sale_id, wait_until  # noqa: E402  (the test harness: real processes, free ports)
from tls_support import TlsCluster  # noqa: E402

from client.api import Api  # noqa: E402
from client.connection import Connection, RemoteError, ServerUnreachable  # noqa: E402
from client.demo_tls import make_certificates  # noqa: E402
from wire import tls  # noqa: E402

QUIET = {"LOG_LEVEL": "WARNING"}


class ClientSeller:
    """The product's client (its own failover, no retries added here) recording sales in a loop."""

    def __init__(self, cluster: Cluster, tls_context=None):
        self.api = Api(Connection(cluster.servers(), tls_context=tls_context))
        self.api.login("12345678909", "1234")
        self.store_id = self.api.stores()[0]["id"]
        self.acks: list[tuple[float, int, float]] = []  # (when, coordinator, how long the call took)
        self.acknowledged: set[str] = set()
        self.failed_calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "ClientSeller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            sale_id, started = fresh_sale_id(), time.monotonic()
            try:
                self.api.record_sale(sale_id, self.store_id, 100)
            except (RemoteError, ServerUnreachable):
                self.failed_calls += 1
                continue
            self.acknowledged.add(sale_id)
            self.acks.append((time.monotonic(), self.api.connection.coordinator_id, time.monotonic() - started))


def coordinator_of(cluster: Cluster) -> int:
    for node in cluster.live():
        try:
            return node.status()["coordinator_id"]
        except OSError:
            continue
    return 0


def first_ack_after(seller: "ClientSeller", killed_at: float, victim: int):
    """The first acknowledgement after the kill by another coordinator than the victim, or None."""
    return next((a for a in seller.acks if a[0] > killed_at and a[1] != victim), None)


def acked_since(seller: "ClientSeller", since: float) -> bool:
    return bool(seller.acks) and seller.acks[-1][0] > since


def failover_runs(cluster: Cluster, runs: int, tls_context=None) -> None:
    seller = ClientSeller(cluster, tls_context).start()
    wait_until(lambda: len(seller.acks) > 20, what="the seller to start")
    print("run  killed  new  kill->first ack  longest call  acks so far")
    gaps = []
    for run in range(1, runs + 1):
        victim = coordinator_of(cluster)
        killed_at = time.monotonic()
        cluster.nodes[victim].kill9()
        first = wait_until(partial(first_ack_after, seller, killed_at, victim), timeout=30, interval=0.005,
                           what="a sale acknowledged by the new coordinator")
        wait_until(partial(acked_since, seller, first[0] + 0.5), what="sales after the failover")
        longest = max(d for t, _, d in seller.acks if t > killed_at and t < first[0] + 0.5)
        gaps.append(first[0] - killed_at)
        print(f"{run:3d}  {victim:6d}  {first[1]:3d}  {gaps[-1] * 1000:13.0f} ms  {longest * 1000:9.0f} ms  {len(seller.acks):10d}")
        cluster.nodes[victim].start()
        cluster.wait_coordinator(max(cluster.nodes))
    seller.stop()
    digest = cluster.wait_converged(timeout=60)
    lost = len(set(seller.acknowledged) - digest["ids"])
    duplicated = digest["rows"] - len(digest["ids"]) + (digest["aggregate_count"] - digest["rows"])
    print(f"kill -> first ack by the new coordinator: median {statistics.median(gaps) * 1000:.0f} ms, "
          f"max {max(gaps) * 1000:.0f} ms over {runs} runs")
    longest = max(d for _, _, d in seller.acks)
    print(f"sales acknowledged {len(seller.acknowledged)}, lost {lost}, duplicated {duplicated}; "
          f"client view: longest sales.record {longest * 1000:.0f} ms, failed calls {seller.failed_calls}")


def catch_up_run(cluster: Cluster, sales: int, writers: int = 32, tls_context=None) -> None:
    cluster.nodes[3].kill9()
    cluster.wait_coordinator(2, among=[1, 2])
    servers = {n: a for n, a in cluster.servers().items() if n == 2}
    started = time.monotonic()
    counter = iter(range(sales))
    lock = threading.Lock()

    def write():
        api = Api(Connection(servers, tls_context=tls_context))
        api.login("23456789092", "1234")
        store = api.stores()[1]["id"]
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            api.record_sale(fresh_sale_id(), store, 250)
    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"recorded {sales:,} sales while node 3 was down in {time.monotonic() - started:.1f} s")
    restarted = time.monotonic()
    cluster.nodes[3].start()
    target = cluster.nodes[2].status()["position"]

    def holds_everything():
        try:
            return cluster.nodes[3].status()["position"] >= target and time.monotonic()
        except OSError:
            return False
    caught_up = wait_until(holds_everything, timeout=120, interval=0.01, what="node 3 to catch up")
    cluster.wait_coordinator(3, timeout=120)
    serving = time.monotonic()
    print(f"returning primary: caught up {caught_up - restarted:.2f} s after its start, "
          f"serving as coordinator after {serving - restarted:.2f} s (start-up and listening window included)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--catch-up-sales", type=int, default=100_000)
    parser.add_argument("--tls", action="store_true", help="run in clear, then over TLS, and print both")
    args = parser.parse_args()
    for over_tls in (False, True) if args.tls else (False,):
        with tempfile.TemporaryDirectory() as tmp:
            if over_tls:
                files = make_certificates(Path(tmp) / "tls", ["127.0.0.1"])
                cluster, context = TlsCluster(Path(tmp), lambda n, shared=files: shared, env=QUIET), tls.client_context(files.ca)
                print("== over TLS")
            else:
                cluster, context = Cluster(Path(tmp), env=QUIET), None
                if args.tls:
                    print("== in clear")
            cluster.start()
            try:
                cluster.wait_coordinator(3)
                if args.runs:
                    failover_runs(cluster, args.runs, context)
                if args.catch_up_sales:
                    catch_up_run(cluster, args.catch_up_sales, tls_context=context)
            finally:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
