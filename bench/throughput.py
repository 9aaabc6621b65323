"""Benchmark: live write throughput of onsell against the socket ceiling, side by side in one run.

    python bench/throughput.py [--seconds 10] [--sellers 16] [--processes 16] [--only ceiling,one,three]

Three servers, one after the other, driven by the same client code:
  ceiling  a bare socketserver.ThreadingTCPServer speaking JSON-RPC 2.0 lines: it decodes each request and
           answers a sales.record-shaped result at once, storing nothing (what Python's sockets allow here);
  one      one onsell node (synchronous=FULL, every sale durable before its answer);
  three    three onsell nodes with REPLICATION_ACKS=1 (every sale also held by a follower before its answer).
Each is driven by --sellers concurrent sellers, each signed in with its own token and connection, calling
sales.record in a loop for --seconds after a warm-up; the sellers are spread over --processes client
processes so that the client's GIL is not what is measured. It prints acknowledged calls per second, latency,
and the ratios onsell/ceiling (the ceiling is run before each onsell server and the ratio uses the mean).
"""

import argparse
import json
import multiprocessing
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import Cluster, ServerProcess, free_port, wait_until  # noqa: E402  (real processes on free ports)

from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402
from models.documents import cpf_check_digits  # noqa: E402

WARMUP_S = 1.0
START_MARGIN_S = 1.0  # for the client processes to start and connect before the warm-up begins
PIN = "4731"
GOALS = {"one": 0.5, "three": 0.35}


# -- the ceiling -------------------------------------------------------------------------------------------
class CeilingHandler(socketserver.StreamRequestHandler):
    """Answers each JSON-RPC line at once with a sales.record-shaped result; stores nothing."""

    def handle(self) -> None:
        for line in self.rfile:
            request = json.loads(line)
            params = request.get("params", {})
            sale = {"sale_id": params.get("sale_id"), "seller_id": "ceiling", "store_id": params.get("store_id"),
                    "amount": params.get("amount"), "sold_on": "2026-01-01", "recorded_at": "2026-01-01T00:00:00Z"}
            answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": {"sale": sale, "duplicate": False, "replicas": 1}}
            self.wfile.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")


class CeilingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serve_ceiling(port: int) -> None:
    with CeilingServer(("127.0.0.1", port), CeilingHandler) as server:
        server.serve_forever()


class CeilingProcess:
    """The ceiling server in a process of its own (its GIL is not the client's)."""

    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, __file__, "--serve-ceiling", str(self.port)])
        wait_until(self._ready, 20, what="the ceiling server")

    def _ready(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# -- the sellers -------------------------------------------------------------------------------------------
def sell(port: int, token: str, store_id: str, start_at: float, end_at: float, out: dict) -> None:
    """One seller: sales.record in a loop on its own connection until end_at; counts answers inside the window."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer, acked, failed, latencies, first_error = b"", 0, 0, [], None
    prefix = f'{{"jsonrpc":"2.0","method":"sales.record","params":{{"token":"{token}","store_id":"{store_id}","amount":"1.00",'
    n = 0
    while True:
        n += 1
        line = f'{prefix}"sale_id":"{uuid.uuid4()}"}},"id":{n}}}\n'.encode()
        started = time.monotonic()
        if started >= end_at:
            break
        sock.sendall(line)
        while b"\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buffer += chunk
        reply, buffer = buffer.split(b"\n", 1)
        done = time.monotonic()
        if not start_at <= done < end_at:
            continue
        if b'"result"' in reply:
            acked += 1
            latencies.append(done - started)
        else:
            failed += 1
            first_error = first_error or reply[:300].decode(errors="replace")
    sock.close()
    out.update(acked=acked, failed=failed, latencies=latencies, first_error=first_error)


def client_process(port: int, sellers: list[tuple[str, str]], start_at: float, end_at: float, results) -> None:
    """One client process: a thread per seller; puts its sum on `results`."""
    outs = [{} for _ in sellers]
    threads = [threading.Thread(target=sell, args=(port, token, store, start_at, end_at, out))
               for (token, store), out in zip(sellers, outs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put({"acked": sum(o.get("acked", 0) for o in outs), "failed": sum(o.get("failed", 0) for o in outs),
                 "latencies": [x for o in outs for x in o.get("latencies", [])],
                 "first_error": next((o["first_error"] for o in outs if o.get("first_error")), None)})


def drive(port: int, sellers: list[tuple[str, str]], processes: int, seconds: float) -> dict:
    """Run every seller against port for `seconds` (after the warm-up): acknowledged calls/s and latency."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.monotonic() + START_MARGIN_S + WARMUP_S  # CLOCK_MONOTONIC: one clock for every process of the machine
    end_at = start_at + seconds
    groups = [sellers[i::processes] for i in range(processes) if sellers[i::processes]]
    procs = [context.Process(target=client_process, args=(port, group, start_at, end_at, results)) for group in groups]
    for p in procs:
        p.start()
    parts = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    latencies = sorted(x for part in parts for x in part["latencies"])
    acked = sum(p["acked"] for p in parts)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    return {"rate": acked / seconds, "acked": acked, "failed": sum(p["failed"] for p in parts), "p50": pct(0.5), "p99": pct(0.99),
            "first_error": next((p["first_error"] for p in parts if p["first_error"]), None)}


def sign_in_sellers(port: int, count: int) -> list[tuple[str, str]]:
    """Register and sign in `count` sellers on the node at port: (token, store id) each, stores taken in turn."""
    admin = Api(Connection({1: ("127.0.0.1", port)}))
    stores = wait_until(lambda: admin.stores(), 30, what="the demo stores")
    sellers = []
    for n in range(count):
        nine = f"{810000000 + n:09d}"
        api = Api(Connection({1: ("127.0.0.1", port)}))
        api.register(nine + cpf_check_digits(nine), f"Throughput {n}", 1990, PIN)
        api.login(nine + cpf_check_digits(nine), PIN)
        sellers.append((api.token, stores[n % len(stores)]["id"]))
    return sellers


# -- the runs ----------------------------------------------------------------------------------------------
def node_env(sellers: int) -> dict:
    return {"LOG_LEVEL": "WARNING", "REGISTER_MAX_PER_SOURCE": str(sellers), "REPLICATION_ACKS": "1"}


def run_ceiling(args) -> dict:
    server = CeilingProcess()
    try:
        return drive(server.port, [("ceiling-token", str(uuid.uuid4()))] * args.sellers, args.processes, args.seconds)
    finally:
        server.stop()


def run_one(args, folder: Path) -> dict:
    node = ServerProcess(folder / "one", demo=True, env=node_env(args.sellers)).start()
    try:
        sellers = sign_in_sellers(node.port, args.sellers)
        print(f"  one node: pid {node.process.pid}", flush=True)
        return drive(node.port, sellers, args.processes, args.seconds)
    finally:
        node.stop()


def run_three(args, folder: Path) -> dict:
    cluster = Cluster(folder / "three", 3, demo=True, env=node_env(args.sellers)).start()
    try:
        cluster.wait_coordinator(3)  # the bully election: the highest id coordinates
        coordinator = cluster.nodes[3]
        sellers = sign_in_sellers(coordinator.port, args.sellers)
        print(f"  three nodes: coordinator pid {coordinator.process.pid}", flush=True)
        return drive(coordinator.port, sellers, args.processes, args.seconds)
    finally:
        cluster.stop()


def show(label: str, figures: dict) -> None:
    print(f"{label:8s} {figures['rate']:9.0f} calls/s  acked {figures['acked']:7d}  failed {figures['failed']:5d}  "
          f"p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms", flush=True)
    if figures["first_error"]:
        print(f"         first error: {figures['first_error']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per server (after a warm-up)")
    parser.add_argument("--sellers", type=int, default=16)
    parser.add_argument("--processes", type=int, default=16, help="client processes the sellers are spread over")
    parser.add_argument("--only", default="ceiling,one,three", help="which onsell servers to run (the ceiling always runs)")
    parser.add_argument("--serve-ceiling", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling)
        return 0
    chosen = [t for t in ("one", "three") if t in args.only.split(",")]
    print(f"{args.sellers} sellers in {args.processes} client processes, {args.seconds:.0f} s each, on {os.cpu_count()} cores",
          flush=True)
    ceilings, figures = [], {}
    with tempfile.TemporaryDirectory(prefix="onsell-throughput-") as tmp:
        for target in chosen or ["ceiling"]:
            ceilings.append(run_ceiling(args))
            show("ceiling", ceilings[-1])
            if target == "one":
                figures[target] = run_one(args, Path(tmp))
            elif target == "three":
                figures[target] = run_three(args, Path(tmp))
            if target in figures:
                show(target, figures[target])
    ceiling = sum(c["rate"] for c in ceilings) / len(ceilings)
    print(f"ceiling (mean of {len(ceilings)}): {ceiling:.0f} calls/s")
    for target, result in figures.items():
        print(f"{target} / ceiling = {result['rate'] / ceiling:.3f}  (goal >= {GOALS[target]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
