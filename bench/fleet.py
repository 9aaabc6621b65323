"""Benchmark: a chain's tills across a failover: N tills on a three-node cluster, the coordinator killed, then back.

    python bench/fleet.py [--tills 1000] [--period-s 3] [--listen-backlog 5] [--tls]

Each till is a thread with its own kept-open connection (the onsell client's Connection, with its own failover)
recording a sale every --period-s seconds (the first at a random moment). All tills share one sign-in token
(signing in 1,000 sellers would only time scrypt). Once every till has a sale acknowledged, the coordinator is
killed with SIGKILL; once every till has had a sale acknowledged by the new coordinator, the old one is started
again and takes its role back. For both moves it prints, over the tills, the latency of each till's first sale
attempted after the move (median, 99th percentile, worst), how long until every till had one acknowledged by the
coordinator it moved to, sales given up (ServerUnreachable after CLIENT_FAILOVER_TIMEOUT_MS), the longest call,
and each node's RSS and threads. With --tls it runs twice, in clear and then over TLS (a throw-away CA made with
openssl), and prints both.
"""

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import Cluster, fresh_sale_id, wait_until  # noqa: E402  (the test harness: real processes, free ports)
from tls_support import TlsCluster  # noqa: E402

from client.api import Api  # noqa: E402
from client.connection import Connection, RemoteError, ServerUnreachable  # noqa: E402
from client.demo_tls import make_certificates  # noqa: E402
from wire import tls  # noqa: E402

SELLER_CPF, PIN = "12345678909", "1234"


class Till(threading.Thread):
    def __init__(self, servers: dict, token: str, user: dict, store_id: str, period_s: float, failover_s: float, context=None):
        super().__init__(daemon=True)
        self.api = Api(Connection(servers, failover_timeout_s=failover_s, tls_context=context))
        self.api.token, self.api.user = token, user
        self.store_id, self.period_s = store_id, period_s
        self.sales: list[tuple[float, float, int | None]] = []  # (attempted, acknowledged, by node)
        self.given_up = 0
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        self.stopping.wait(random.uniform(0, self.period_s))
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.api.record_sale(fresh_sale_id(), self.store_id, 100)
                self.sales.append((started, time.monotonic(), self.api.connection.coordinator_id))
            except ServerUnreachable:
                self.given_up += 1
            except RemoteError as exc:
                self.errors.append(exc.reason)
            self.stopping.wait(max(0.0, self.period_s - (time.monotonic() - started)))


def node_usage(cluster: Cluster) -> str:
    parts = []
    for node_id, node in sorted(cluster.nodes.items()):
        if node.process is None or node.process.poll() is not None:
            continue
        status = Path(f"/proc/{node.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parts.append(f"node {node_id}: RSS {int(fields['VmRSS'].split()[0]) // 1024} MB, {fields['Threads'].strip()} threads")
    return "; ".join(parts)


def move(tills: list[Till], since: float, to_node: int, timeout_s: float) -> str:
    """Wait until every till had a sale attempted after `since` acknowledged by `to_node`; the figures of that move."""
    def first_after(till: Till):
        return next(((a, k) for a, k, n in till.sales if a >= since and n == to_node), None)
    wait_until(lambda: all(first_after(t) for t in tills), timeout_s, interval=0.1,
               what=f"every till to have a sale acknowledged by node {to_node}")
    latencies = []
    for till in tills:
        attempts = [(a, k, n) for a, k, n in till.sales if a >= since]
        latencies.append(attempts[0][1] - attempts[0][0])
    everyone = max(first_after(t)[1] for t in tills) - since
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return (f"first sale after the move: median {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"worst {latencies[-1] * 1000:.0f} ms; every till served by node {to_node} {everyone:.2f} s after the move")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tills", type=int, default=1000)
    parser.add_argument("--period-s", type=float, default=3.0)
    parser.add_argument("--failover-s", type=float, default=30.0, help="each till's failover timeout (the client's is 5 s)")
    parser.add_argument("--listen-backlog", type=int, default=None,
                        help="the nodes' LISTEN_BACKLOG (default: the setting's); 5 was socketserver's default, the reference")
    parser.add_argument("--tls", action="store_true", help="run in clear, then over TLS, and print both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("plaintext", None)] + ([("TLS", make_certificates(Path(tmp) / "tls", ["127.0.0.1"]))] if args.tls else [])
        for label, files in runs:
            if args.tls:
                print(f"-- {label}")
            run(args, Path(tmp) / label, files)
    return 0


def run(args, folder: Path, files) -> None:
    """One run on a fresh cluster (over TLS with `files`, else in clear), printing its figures."""
    env = {"LOG_LEVEL": "WARNING", "MAX_CONNECTIONS_PER_IP": "0",  # every till connects from this one machine
           **({"LISTEN_BACKLOG": str(args.listen_backlog)} if args.listen_backlog else {})}
    context = tls.client_context(files.ca) if files else None
    cluster = (TlsCluster(folder, lambda n: files, env=env) if files else Cluster(folder, env=env)).start()
    tills: list[Till] = []
    try:
        cluster.wait_coordinator(3)
        api = Api(Connection(cluster.servers(), tls_context=context))
        user = api.login(SELLER_CPF, PIN)
        store_id = api.stores()[0]["id"]
        tills = [Till(cluster.servers(), api.token, user, store_id, args.period_s, args.failover_s, context)
                 for _ in range(args.tills)]
        started = time.monotonic()
        for till in tills:
            till.start()
        wait_until(lambda: all(t.sales for t in tills), 60 + args.period_s, interval=0.2, what="every till to sell once")
        print(f"{args.tills} tills selling every {args.period_s:.1f} s (all connected in {time.monotonic() - started:.1f} s); "
              f"{node_usage(cluster)}")
        killed_at = time.monotonic()
        cluster.nodes[3].kill9()
        print(f"coordinator killed: {move(tills, killed_at, 2, 120)}; {node_usage(cluster)}")
        cluster.nodes[3].start()
        back_at = time.monotonic()
        print(f"primary back: {move(tills, back_at, 3, 120)}; {node_usage(cluster)}")
        epochs = {n: node.status()["epoch"] for n, node in cluster.nodes.items()}
        print(f"epochs now {epochs}: 3 means no election but the two expected (epoch 2 after the kill, 3 on return)")
    finally:
        for till in tills:
            till.stopping.set()
        for till in tills:
            till.join(timeout=30)
        cluster.stop()
    calls = [k - a for t in tills for a, k, _ in t.sales]
    print(f"sales acknowledged {len(calls)}, given up {sum(t.given_up for t in tills)}, refused "
          f"{sum(len(t.errors) for t in tills)}; longest call {max(calls) * 1000:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
