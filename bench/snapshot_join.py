"""Benchmark: a new node joining a busy cluster from a snapshot (docs/cluster.md, "A new node from a snapshot").

    python bench/snapshot_join.py [--sales 300000] [--clients 4] [--chunk BYTES] [--reference | --no-reference]

Builds one database file with N sales directly (bench/reports.py's build), copies it to nodes 2, 3 and 4 of a
4-node cluster and starts them; clients keep recording sales; then node 1 starts with no database file. Prints the
time until node 1 holds the snapshot and until it is in sync (the coordinator counts it less than a batch behind),
and the sales' p50/p99 latency before and during the join. The reference, in the same run, is the way before
snapshots: node 1 started again on an empty database file, catching up from the change log (`--reference`: at
24,000 changes/s it takes minutes at 10 M; the built file's times are then made ISO first, as the log requires).
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from reports import build  # noqa: E402
from support import ServerProcess, free_ports, fresh_sale_id  # noqa: E402

from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402
from db.changes import Stamp  # noqa: E402
from db.database import Database  # noqa: E402
from db.users import UserRepository  # noqa: E402
from models.documents import cpf_check_digits  # noqa: E402
from models.pins import hash_pin  # noqa: E402
from models.records import User, new_id  # noqa: E402

SELLER_CPF = "700000000" + cpf_check_digits("700000000")
PIN = "1234"
IN_SYNC_BEHIND = 1000  # a follower less than a replication batch behind counts as in sync (replication/state.py)
AT = "2026-11-27T12:00:00.000000Z"
BEFORE_S = 8.0  # sales measured before the join
JOIN_TIMEOUT_S = 900.0


def add_seller(path: Path) -> None:
    """A seller the clients can sign in as (the built sellers have no usable PIN)."""
    db = Database(path, node_id=1)
    stamp = Stamp(db.incarnation, epoch=1)
    db.write(lambda c: UserRepository.insert(c, User(new_id(), SELLER_CPF, "Vendedor Bench", 1990, "seller"), hash_pin(PIN), "bench",
                                             stamp))
    db.close()


class Sellers:
    """Clients recording sales in a loop; each latency kept with the time it ended."""

    def __init__(self, servers: dict, count: int):
        self.samples: list[tuple[float, float]] = []  # (ended at, seconds)
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(servers,), daemon=True) for _ in range(count)]

    def start(self) -> "Sellers":
        for thread in self._threads:
            thread.start()
        return self

    def _loop(self, servers: dict) -> None:
        api = Api(Connection(servers, failover_timeout_s=30))
        api.login(SELLER_CPF, PIN)
        store = api.stores()[0]["id"]
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                api.record_sale(fresh_sale_id(), store, 1999)
            except Exception as exc:  # counted and shown: the bench goes on
                self.errors.append(exc)
                continue
            ended = time.perf_counter()
            with self._lock:
                self.samples.append((ended, ended - started))

    def between(self, start: float, end: float) -> list[float]:
        with self._lock:
            return [s for t, s in self.samples if start <= t <= end]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def percentiles(samples: list[float]) -> str:
    if len(samples) < 2:
        return f"{len(samples)} sales"
    cuts = statistics.quantiles(samples, n=100)
    return f"{len(samples):6d} sales  p50 {cuts[49] * 1000:6.1f} ms  p99 {cuts[98] * 1000:6.1f} ms"


def coordinator_view(node: ServerProcess) -> dict | None:
    try:
        return node.status()
    except (OSError, ValueError, KeyError):
        return None


def join(joiner: ServerProcess, coordinator: ServerProcess, sellers: Sellers, label: str) -> None:
    started = time.perf_counter()
    joiner.start(wait=False)
    joined_at = None
    while True:
        if time.perf_counter() - started > JOIN_TIMEOUT_S:
            raise SystemExit(f"{label}: node 1 not in sync after {JOIN_TIMEOUT_S:.0f} s")
        if joined_at is None and joiner.database_path.exists():
            joined_at = time.perf_counter()
        status = coordinator_view(coordinator)
        member = next((n for n in (status or {}).get("nodes", []) if n["id"] == 1), None)
        if member and member["alive"] and member["behind"] is not None and member["behind"] < IN_SYNC_BEHIND:
            break
        time.sleep(0.05)
    in_sync = time.perf_counter()
    time.sleep(1.0)
    mine = coordinator_view(joiner) or {}
    print(f"{label}:")
    print(f"  database file in place after {joined_at - started:6.1f} s; in sync after {in_sync - started:6.1f} s")
    if mine.get("joined_by_snapshot"):
        copied = [f for code, f in coordinator.events() if code == "snapshot_ready"][-1:]
        received = [f for code, f in joiner.events() if code == "snapshot_joined"][-1:]
        print(f"  joined by snapshot: {mine['joined_by_snapshot']['bytes'] / 1e6:,.1f} MB from node {mine['joined_by_snapshot']['from']}"
              + (f"; the coordinator's copy took {copied[0]['ms'] / 1000:.1f} s" if copied else "")
              + (f", copy and transfer {received[0]['ms'] / 1000:.1f} s" if received else ""))
    print(f"  sales during the join: {percentiles(sellers.between(started, in_sync))}")


def print(*args, **kwargs):  # noqa: A001  every line at once, also into a pipe
    __builtins__.print(*args, **kwargs, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=300_000)
    parser.add_argument("--sellers", type=int, default=5000)
    parser.add_argument("--stores", type=int, default=500)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=None, help="SNAPSHOT_CHUNK_BYTES (default: the setting's)")
    parser.add_argument("--reference", action="store_true", help="also time the catch-up from the log on an empty file")
    args = parser.parse_args()
    reference = args.reference
    with tempfile.TemporaryDirectory(prefix="onsell-snapshot-") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        built = base / "built.db"
        build(built, args.sales, args.sellers, args.stores, args.days)
        add_seller(built)
        print(f"built {args.sales:,} sales in {time.perf_counter() - started:.0f} s: {built.stat().st_size / 1e6:,.0f} MB")
        ports = dict(zip(range(1, 5), free_ports(4)))
        cluster = ",".join(f"{n}=127.0.0.1:{p}" for n, p in ports.items())
        env = {"LOG_LEVEL": "INFO", **({"SNAPSHOT_CHUNK_BYTES": str(args.chunk)} if args.chunk else {})}
        nodes = {n: ServerProcess(base / f"node{n}", n, ports[n], False, env, cluster) for n in ports}
        for n in (2, 3, 4):
            nodes[n].data_dir.mkdir(mode=0o700)
            shutil.copyfile(built, nodes[n].database_path)
        built.unlink()
        sellers = None
        try:
            for n in (2, 3, 4):
                nodes[n].start(timeout=120)
            for n in (2, 3, 4):  # each node reads its whole file once at start (quick_check): not part of "before"
                settled = time.perf_counter() + 600
                while not any(code.startswith("integrity_") for code, _ in nodes[n].events()) and time.perf_counter() < settled:
                    time.sleep(0.2)
            servers = {n: ("127.0.0.1", p) for n, p in ports.items()}
            sellers = Sellers(servers, args.clients).start()
            time.sleep(1.0)
            before = time.perf_counter()
            time.sleep(BEFORE_S)
            print(f"{args.clients} clients recording sales on a 3-node cluster ({args.sales:,} sales in it)")
            print(f"  sales before the join:  {percentiles(sellers.between(before, time.perf_counter()))}")
            join(nodes[1], nodes[4], sellers, "node 1 with no database file (snapshot)")
            if reference:
                nodes[1].stop()
                for path in nodes[1].data_dir.glob("node-1.db*"):
                    path.unlink()
                Database(nodes[1].database_path, node_id=1).close()  # a file with nothing in it: catches up from the log
                join(nodes[1], nodes[4], sellers, "reference: node 1 on an empty database file (catch-up from the log)")
        finally:
            if sellers is not None:
                sellers.stop()
                if sellers.errors:
                    print(f"  {len(sellers.errors)} sales failed, e.g. {sellers.errors[0]!r}")
            for node in nodes.values():
                node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
