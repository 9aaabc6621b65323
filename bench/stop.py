"""Benchmark: how long a node takes to stop on SIGTERM while sellers write to it; prints per-run figures.

    python bench/stop.py [--runs 3] [--sellers 8]

Part 1: each run starts a demo node, lets the sellers (the onsell client, one
connection each) record sales as fast as they can until 200 are acknowledged,
sends SIGTERM and times the process's exit; then starts the node again and
checks every acknowledged sale is there.
Part 2: a three-node cluster with one follower paused (SIGSTOP: its sockets
accept but never answer) and a seller writing through the client's failover;
SIGTERM to the coordinator, timed the same way.
"""

import argparse
import sys
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import Cluster, ClusterSeller, ServerProcess, wait_until  # noqa: E402  (the test harness: a real server process on a free port)
from test_stop import Sellers, sigterm  # noqa: E402  (the same load as the test)

from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402


def acknowledged_at_least(sellers: Sellers, count: int) -> bool:
    return len(sellers.acknowledged) >= count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sellers", type=int, default=8)
    args = parser.parse_args()
    print("run  exit  SIGTERM->exit  acknowledged  kept after restart  refusals")
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            node = ServerProcess(Path(tmp)).start()
            try:
                store_id = Api(Connection({1: ("127.0.0.1", node.port)})).stores()[0]["id"]
                sellers = Sellers(node.port, store_id, args.sellers)
                wait_until(partial(acknowledged_at_least, sellers, 200), what="200 acknowledged sales")
                code, took = sigterm(node)
                sellers.join()
                node.start()
                kept = len(set(sellers.acknowledged) & node.sales_digest()["ids"])
                print(f"{run:3d}  {code:4d}  {took * 1000:10.0f} ms  {len(sellers.acknowledged):12d}  {kept:18d}  "
                      f"{sorted(set(sellers.refusals)) or '-'}")
            finally:
                node.stop()
    print("\ncoordinator of three, one follower paused:")
    print("run  exit  SIGTERM->exit")
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            cluster = Cluster(Path(tmp)).start()
            try:
                cluster.wait_coordinator(3)
                seller = ClusterSeller(cluster).start()
                wait_until(partial(sold_at_least, seller, 100), what="100 sales")
                cluster.nodes[1].pause()
                code, took = sigterm(cluster.nodes[3])
                print(f"{run:3d}  {code:4d}  {took * 1000:10.0f} ms")
                seller.stop()
            finally:
                cluster.stop()
    return 0


def sold_at_least(seller: ClusterSeller, count: int) -> bool:
    return len(seller.acknowledged) >= count


if __name__ == "__main__":
    sys.exit(main())
