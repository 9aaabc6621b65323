"""Benchmark: a sales history CSV imported into one real node with `onsell import sales`, against bare SQLite inserting
the same rows in the same run (the reference of the scale issue).

    python bench/import_sales.py [--rows 200000] [--nodes 1|3] [--sellers 5000 --stores 500] [--no-split] [--shuffled]

The file spreads the rows over the demo chain's sellers and stores (grown first by --sellers and --stores: the scale
issue's chain has 5,000 and 500) and the last 730 days, oldest day first (--shuffled: in random order). What is timed is the whole
`onsell import sales` command (its own process: reading and checking the file, signing in, batches of 5,000 rows, each
committed with synchronous=FULL, replicated when --nodes 3, and answered). The reference inserts the same rows into one
table (id BLOB PRIMARY KEY, seller INT, store INT, cents INT, day INT) WITHOUT ROWID with executemany in batches of
10,000, synchronous=FULL, WAL.

Then where the time goes: the same file through each stage of the path on its own, one stage after another, in this
process, into a fresh node of its own (no sockets, no replication): the client reading and checking the CSV, the JSON of
requests and answers (the client's encoding and the server's line reading and decoding), the server's checks of the rows
(sales.import without its write), and the database write (Database.write, which every write goes through). In the
real run the client and the server are two processes and overlap; the stages here add up to what one core would spend.
"""

import argparse
import dataclasses
import datetime as dt
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import DEMO_MANAGER_CPF, DEMO_PIN, TEST_SECRET, Cluster, ServerProcess  # noqa: E402

from client import sales_import  # noqa: E402
from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402
from models.documents import cnpj_check_digits, cpf_check_digits  # noqa: E402
from server.app import build_node  # noqa: E402
from server.config import load_config  # noqa: E402
from wire.jsonrpc import LineDecoder, decode_response, encode_request  # noqa: E402

REFERENCE_BATCH = 10_000
CATALOGUE_BATCH = 1_000  # rows per users.import / stores.import call (their limit)


def more_chain(sellers: int, stores: int) -> list[tuple[str, list[dict]]]:
    """users.import and stores.import calls (kind, rows) that add `sellers` sellers and `stores` stores to the demo chain."""
    people = [{"cpf": f"{n:09d}" + cpf_check_digits(f"{n:09d}"), "name": f"Vendedor {n}", "birth_year": 1990, "role": "seller"}
              for n in range(200_000_001, 200_000_001 + sellers)]
    shops = [{"network": f"Rede {n % 10}", "name": f"Loja {n}", "cnpj": f"{n:012d}" + cnpj_check_digits(f"{n:012d}")}
             for n in range(300_000_000_001, 300_000_000_001 + stores)]
    return [(kind, rows[i:i + CATALOGUE_BATCH]) for kind, rows in (("users", people), ("stores", shops))
            for i in range(0, len(rows), CATALOGUE_BATCH)]


def chain(port: int, sellers: int, stores: int) -> tuple[list[str], list[str]]:
    """The CPFs and CNPJs of the demo chain, first grown by `sellers` and `stores`."""
    api = Api(Connection({1: ("127.0.0.1", port)}, failover_timeout_s=30))
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    for kind, rows in more_chain(sellers, stores):
        api.import_rows(kind, rows)
    cpfs = [s["cpf"] for s in api.sellers()]
    cnpjs = [s["cnpj"] for s in api.stores()]
    api.connection.close()
    return cpfs, cnpjs


def write_file(path: Path, rows: int, sellers: list[str], stores: list[str], shuffled: bool) -> list[tuple]:
    """The rows written (id bytes, seller, store, cents, day), oldest day first as a history export comes (shuffled:
    in random order)."""
    rng = random.Random(9)
    today = dt.date.today()
    made = []
    for _ in range(rows):
        sale_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        day = today - dt.timedelta(days=1 + rng.randrange(730))  # never today: no time zone makes it "in the future"
        made.append((sale_id.bytes, rng.randrange(len(sellers)), rng.randrange(len(stores)), rng.randrange(100, 500_000),
                     day.toordinal()))
    if not shuffled:
        made.sort(key=lambda row: row[4])
    with path.open("w", encoding="utf-8") as f:
        f.write("id;cpf;cnpj;valor;data\n")
        for sale_id, seller, store, cents, day in made:
            f.write(f"{uuid.UUID(bytes=sale_id)};{sellers[seller]};{stores[store]};{cents // 100},{cents % 100:02d};"
                    f"{dt.date.fromordinal(day):%d/%m/%Y}\n")
    return made


def reference(rows: list[tuple], path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE sales (id BLOB PRIMARY KEY, seller INT, store INT, cents INT, day INT) WITHOUT ROWID")
    started = time.perf_counter()
    for i in range(0, len(rows), REFERENCE_BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", rows[i:i + REFERENCE_BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_import(port: int, path: Path, queue: Path, server_pids: list[int]) -> tuple[float, str, float, float]:
    """Seconds from start to the command's end, its summary line, and the CPU seconds of the client and of the servers."""
    env = {**os.environ, "CLUSTER": f"1=127.0.0.1:{port}", "ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN,
           "ONSELL_QUEUE": str(queue), "PYTHONPATH": str(ROOT)}
    servers_before = sum(cpu_seconds(pid) for pid in server_pids)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "client", "import", "sales", str(path)], env=env, capture_output=True,
                          text=True, timeout=3600)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    servers = sum(cpu_seconds(pid) for pid in server_pids) - servers_before
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stdout[-300:]} {done.stderr[-500:]}")
    client = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return elapsed, done.stdout.strip(), client, servers


STAGES = ("client: read and check the CSV", "wire: JSON lines, both sides", "server: row checks", "database write (Database.write)")
WIRE_CHUNK_BYTES = 65536  # what the server's socket reads at a time (server.tcp.RECV_BYTES)


class Stopwatch:
    """Seconds spent inside the calls it wraps, made on the thread that made it (not the node's own threads' writes,
    such as the storage probe's)."""

    def __init__(self):
        self.seconds = 0.0
        self.thread = threading.get_ident()

    def around(self, call):
        def timed(*args, **kwargs):
            if threading.get_ident() != self.thread:
                return call(*args, **kwargs)
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
        return timed


def split(path: Path, data_dir: Path, sellers: int, stores: int) -> dict[str, float]:
    """Seconds per stage (STAGES) for the file, each stage on its own, into a fresh in-process node."""
    config = load_config(1, env={"DATA_DIR": str(data_dir), "CLUSTER": "1=127.0.0.1:1", "CLUSTER_SECRET": TEST_SECRET})
    data_dir.mkdir(mode=0o700)
    node = build_node(config, demo=True, listen=False).start()
    try:
        dispatcher = node.dispatcher
        handler, commit = Stopwatch(), Stopwatch()
        node.ledger.db.write = commit.around(node.ledger.db.write)  # sales.import writes through a WriteGroup, not ledger.commit
        method = dispatcher.methods["sales.import"]
        dispatcher.methods["sales.import"] = dataclasses.replace(method, handler=handler.around(method.handler))
        token = dispatcher.call("auth.login", {"cpf": DEMO_MANAGER_CPF, "pin": DEMO_PIN})["token"]
        for kind, rows in more_chain(sellers, stores):
            dispatcher.call(f"{kind}.import", {"token": token, "rows": rows})
        handler.seconds = commit.seconds = 0.0  # the catalogue's writes above are not the sales'
        started = time.perf_counter()
        with path.open(encoding="utf-8-sig", newline="") as text:
            _, items = sales_import.read_sales(text, dt.date.today())
            batches = [[item.row for item in good] for good, _ in sales_import.batches_of(items, sales_import.BATCH_ROWS)]
        parsed = time.perf_counter()
        lines = [encode_request("sales.import", {"token": token, "rows": rows}, 1) for rows in batches]
        encoded = time.perf_counter()
        answers = []
        for line in lines:
            decoder = LineDecoder(config.max_line_bytes)
            pieces = [piece for i in range(0, len(line), WIRE_CHUNK_BYTES) for piece in decoder.feed(line[i:i + WIRE_CHUNK_BYTES])]
            answers.append(dispatcher.handle_line(pieces[0]))
        answered = time.perf_counter()
        refused = sum(len(decode_response(answer).result["refused"]) for answer in answers)
        done = time.perf_counter()
        if refused:
            raise SystemExit(f"the split's node refused {refused} rows")
    finally:
        node.stop()
    server = answered - encoded
    return dict(zip(STAGES, (parsed - started, encoded - parsed + server - handler.seconds + done - answered,
                             handler.seconds - commit.seconds, commit.seconds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--nodes", type=int, choices=(1, 3), default=1)
    parser.add_argument("--sellers", type=int, default=0, help="sellers added to the demo chain first (the scale issue's: 5000)")
    parser.add_argument("--stores", type=int, default=0, help="stores added to the demo chain first (the scale issue's: 500)")
    parser.add_argument("--no-split", action="store_true", help="skip the time split (each stage on its own)")
    parser.add_argument("--shuffled", action="store_true", help="the rows in random order (default: oldest day first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onsell-bench-") as tmp:
        base = Path(tmp)
        if args.nodes == 1:
            nodes = [ServerProcess(base / "node").start()]
            stop = nodes[0].stop
            port = nodes[0].port
        else:
            cluster = Cluster(base, 3).start()
            cluster.wait_coordinator(3)
            stop, port, nodes = cluster.stop, cluster.nodes[3].port, list(cluster.nodes.values())
        try:
            sellers, stores = chain(port, args.sellers, args.stores)
            path = base / "vendas.csv"
            rows = write_file(path, args.rows, sellers, stores, args.shuffled)
            size = path.stat().st_size
            bare = reference(rows, base / "reference.db")
            took, summary, client_cpu, servers_cpu = run_import(port, path, base / "queue.db", [n.process.pid for n in nodes])
        finally:
            stop()
        stages = None if args.no_split else split(path, base / "split", args.sellers, args.stores)
    print(f"{args.rows:,} sales ({size / 1e6:.1f} MB CSV) of {len(sellers):,} sellers in {len(stores):,} stores into {args.nodes} "
          f"node(s): {summary}")
    print(f"  onsell import sales: {took:6.2f} s  {args.rows / took:10,.0f} rows/s (file to acknowledged)")
    print(f"  bare SQLite:         {bare:6.2f} s  {args.rows / bare:10,.0f} rows/s (same rows, batches of {REFERENCE_BATCH:,})")
    print(f"  ratio: {bare / took:.3f} of bare SQLite")
    print(f"  CPU during the import: client {client_cpu:.2f} s ({client_cpu / args.rows * 1e6:.1f} us/row), "
          f"{'server' if args.nodes == 1 else 'the 3 servers'} {servers_cpu:.2f} s ({servers_cpu / args.rows * 1e6:.1f} us/row)")
    if stages:
        total = sum(stages.values())
        print("  where the time goes (each stage on its own, one after another, in one process, one node):")
        for name, seconds in stages.items():
            print(f"    {name:32s} {seconds:6.2f} s  {seconds / args.rows * 1e6:6.1f} us/row  {seconds / total:4.0%}")
        print(f"    {'all stages':32s} {total:6.2f} s  {total / args.rows * 1e6:6.1f} us/row  (bare SQLite: "
              f"{bare / args.rows * 1e6:.1f} us/row)")


if __name__ == "__main__":
    main()
