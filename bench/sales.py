"""Benchmark: concurrent sellers recording sales on one real node; prints throughput and latency.

    python bench/sales.py [--sellers 50] [--sales-each 100] [--tls]

Each seller is a thread with its own connection, as a till would be. Every
call waits for the group commit (synchronous=FULL) before it returns. With
--tls it runs twice, in clear and then over TLS (a throw-away CA made with
openssl), and prints both.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import ServerProcess, fresh_sale_id  # noqa: E402  (the test harness: a real server process on a free port)
from tls_support import TlsServer  # noqa: E402

from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402
from client.demo_tls import make_certificates  # noqa: E402
from models.documents import cpf_check_digits  # noqa: E402
from wire import tls  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sellers", type=int, default=50)
    parser.add_argument("--sales-each", type=int, default=100)
    parser.add_argument("--tls", action="store_true", help="run in clear, then over TLS, and print both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("plaintext", None)] + ([("TLS", make_certificates(Path(tmp) / "tls", ["127.0.0.1"]))] if args.tls else [])
        for label, files in runs:
            elapsed, latencies = run(args, Path(tmp) / label, files)
            total = len(latencies)
            print(f"{label + ': ' if args.tls else ''}sellers={args.sellers} sales={total} elapsed={elapsed:.2f}s "
                  f"throughput={total / elapsed:.0f} sales/s")
            print(f"latency ms: p50={percentile(latencies, 0.5) * 1000:.1f} p95={percentile(latencies, 0.95) * 1000:.1f} "
                  f"p99={percentile(latencies, 0.99) * 1000:.1f} max={max(latencies) * 1000:.1f} "
                  f"mean={statistics.mean(latencies) * 1000:.1f}")
    return 0


def run(args, folder: Path, files) -> tuple[float, list[float]]:
    """One run on a fresh node (over TLS with `files`, else in clear): the elapsed time and each sale's latency."""
    env = {"LOG_LEVEL": "WARNING", "REGISTER_MAX_PER_SOURCE": str(args.sellers)}  # every bench seller signs up from here
    server = TlsServer(folder, files, env=env).start() if files else ServerProcess(folder, demo=True, env=env).start()
    context = tls.client_context(files.ca) if files else None
    try:
        stores = Api(Connection({1: ("127.0.0.1", server.port)}, tls_context=context)).stores()
        apis = []
        for n in range(args.sellers):
            api = Api(Connection({1: ("127.0.0.1", server.port)}, tls_context=context))
            nine = f"{800000000 + n:09d}"
            api.register(nine + cpf_check_digits(nine), f"Bench {n}", 1990, "4731")
            api.login(nine + cpf_check_digits(nine), "4731")
            apis.append(api)
        latencies: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(args.sellers + 1)

        def sell(api: Api, n: int):
            mine = []
            barrier.wait()
            for i in range(args.sales_each):
                started = time.perf_counter()
                api.record_sale(fresh_sale_id(), stores[(n + i) % len(stores)]["id"], 100 + i)
                mine.append(time.perf_counter() - started)
            with lock:
                latencies.extend(mine)
        threads = [threading.Thread(target=sell, args=(api, n)) for n, api in enumerate(apis)]
        for t in threads:
            t.start()
        barrier.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    return elapsed, latencies


if __name__ == "__main__":
    sys.exit(main())
