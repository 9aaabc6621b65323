"""Benchmark: the scale issue's table (issue 9), every figure of it, for onsell and for DuckDB on the same rows in one run.

    python bench/scale.py [--sales 1000000] [--repeats 20] [--json FILE]
    make bench                  # 1,000,000 sales
    SALES=10000000 make bench   # the full chain: 5,000 sellers, 500 stores, 730 days

The chain is built through the import path, as a chain would: the bench writes lojas.csv and usuarios.csv and loads
them with `onsell import stores` / `onsell import users`, then writes vendas.csv (columns id;cpf;cnpj;valor;data, `id`
empty, decimal comma, dd/mm/aaaa; oldest day first, as a till system exports its history) and loads it with `onsell
import sales`, each command a process of its own against real nodes. Below 10 M sales the sellers and stores shrink in
proportion (the 730 days stay, so each seller's day holds as many sales as at full size, the aggregates shrink with
the sales, and a year not aligned to months fits in).

In order: bare SQLite inserts the same rows (the reference of the import goal); one node imports the chain (the import
rate, bytes on disk, start-up, reports over the wire, RSS); DuckDB loads the same CSV files and answers the same reports
in-process; three nodes import the chain (the three-node rate), then one of them is stopped, its files deleted and
started again empty: the time until its cluster.status position reaches the coordinator's is the join.
"""

import argparse
import datetime as dt
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import DEMO_MANAGER_CPF, DEMO_PIN, Cluster, RawClient, ServerProcess, run_client, wait_until  # noqa: E402

from client.api import Api  # noqa: E402
from client.connection import Connection  # noqa: E402
from models.documents import cnpj_check_digits, cpf_check_digits  # noqa: E402
from models.money import format_cents  # noqa: E402
from models.records import imported_sale_id  # noqa: E402

FULL_SALES = 10_000_000
FULL_SELLERS = 5_000
FULL_STORES = 500
DAYS = 730               # sales fall on the 730 days before today (never today: no time zone makes one "in the future")
MIN_SELLERS = 20         # the floor of the proportional chain (the smoke test's few thousand sales)
MIN_STORES = 5
STORES_PER_NETWORK = 50  # 10 networks at full size
REFERENCE_BATCH = 10_000  # bare SQLite's executemany batch, as the issue states it
SEED = 9
LOG_LEVEL = {"LOG_LEVEL": "WARNING"}
SUMMARY = re.compile(r"Vendas: ([\d.]+) importadas, ([\d.]+) já existiam, ([\d.]+) recusadas")  # client/history.py's summary
START_TIMEOUT_S = 120.0   # a node on a file of millions of sales opens it before it answers
STARTS = 3                # start-up is the median of this many restarts
START_POLL_S = 0.005
SETTLE_DISK_S = 15.0      # the longest wait for a node's files to come to rest after an import
SLOWEST_IMPORT = 100      # rows/s below which the bench gives an import up (three nodes did 800/s on a machine at load 25)
SLOWEST_JOIN = 1_000      # changes/s below which the empty node's catch-up is given up (and printed as not met)
JOIN_POLL_S = 0.2
STATUS_TIMEOUT_S = 30.0   # cluster.status while a node catches up on a busy machine

# The goals of the table.
BYTES_PER_SALE_GOAL = 120
RSS_GOAL_MB = 100
STARTUP_GOAL_S = 0.5
ONE_NODE_RATIO_GOAL = 0.6
THREE_NODES_RATIO_GOAL = 0.35
JOIN_GOAL_S = 60.0


# -- the chain and its files ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Chain:
    sales: int
    cpfs: list[str]       # sellers, by index
    cnpjs: list[str]      # stores, by index
    networks: list[str]   # each store's network name, by store index
    today: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.today - dt.timedelta(days=back) for back in range(1, DAYS + 1)]


def make_chain(sales: int, today: dt.date) -> Chain:
    sellers = max(MIN_SELLERS, round(FULL_SELLERS * sales / FULL_SALES))
    stores = max(MIN_STORES, round(FULL_STORES * sales / FULL_SALES))
    cpfs = [nine + cpf_check_digits(nine) for nine in (f"{700_000_000 + i:09d}" for i in range(sellers))]
    cnpjs = [twelve + cnpj_check_digits(twelve) for twelve in (f"{40_000_000 + i:08d}0001" for i in range(stores))]
    networks = [f"Rede Escala {i // STORES_PER_NETWORK + 1}" for i in range(stores)]
    return Chain(sales, cpfs, cnpjs, networks, today)


def seller_name(index: int) -> str:
    return f"Vendedor Escala {index + 1:04d}"


def write_catalogue(chain: Chain, folder: Path) -> tuple[Path, Path]:
    stores, users = folder / "lojas.csv", folder / "usuarios.csv"
    stores.write_text("rede;loja;cnpj\n" + "".join(f"{network};Loja Escala {i + 1:04d};{cnpj}\n"
                                                    for i, (network, cnpj) in enumerate(zip(chain.networks, chain.cnpjs))))
    users.write_text("cpf;nome;ano_nascimento;perfil;pin\n" + "".join(f"{cpf};{seller_name(i)};{1960 + i % 40};vendedor;\n"
                                                                       for i, cpf in enumerate(chain.cpfs)))
    return stores, users


def sale_rows(chain: Chain) -> Iterator[tuple[int, int, int, int]]:
    """(seller index, store index, cents, days back - 1) of every sale, the same on every call (a fixed seed), oldest
    day first, as a history exported from a till system comes: the days share the sales evenly, and within a day the
    sellers, stores and amounts are random."""
    rng = random.Random(SEED)
    sellers, stores = len(chain.cpfs), len(chain.cnpjs)
    for n in range(DAYS):
        back = DAYS - 1 - n
        for _ in range(chain.sales * (n + 1) // DAYS - chain.sales * n // DAYS):
            yield rng.randrange(sellers), rng.randrange(stores), rng.randrange(100, 500_000), back


def write_sales(chain: Chain, path: Path) -> None:
    days = [f"{day:%d/%m/%Y}" for day in chain.days]
    with path.open("w", encoding="utf-8") as f:
        f.write("id;cpf;cnpj;valor;data\n")
        lines = []
        for seller, store, cents, back in sale_rows(chain):
            lines.append(f";{chain.cpfs[seller]};{chain.cnpjs[store]};{cents // 100},{cents % 100:02d};{days[back]}\n")
            if len(lines) == REFERENCE_BATCH:
                f.writelines(lines)
                lines = []
        f.writelines(lines)


# -- bare SQLite, the import's reference -----------------------------------------------------------------------------

def bare_sqlite_rate(chain: Chain, path: Path) -> float:
    """Rows/s of bare SQLite inserting the same rows (the ids onsell derives for them): executemany in batches of
    10,000, synchronous=FULL, WAL. Only the inserts and commits are timed; the rows are made between batches."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE sales (id BLOB PRIMARY KEY, seller INT, store INT, cents INT, day INT) WITHOUT ROWID")
    days = chain.days
    spent, batch = 0.0, []

    def insert() -> float:
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", batch)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    for line, (seller, store, cents, back) in enumerate(sale_rows(chain), start=2):  # the header is line 1
        day = days[back]
        sale_id = imported_sale_id(chain.cpfs[seller], chain.cnpjs[store], cents, day.isoformat(), line)
        batch.append((uuid.UUID(sale_id).bytes, seller, store, cents, day.toordinal()))
        if len(batch) == REFERENCE_BATCH:
            spent += insert()
            batch = []
    if batch:
        spent += insert()
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return chain.sales / spent


# -- onsell through its client ---------------------------------------------------------------------------------------

def client_import(cluster: str, kind: str, path: Path, queue: Path, timeout_s: float) -> tuple[float, str]:
    """`onsell import KIND FILE` as a manager, its own process; (seconds, its summary line)."""
    env = {"CLUSTER": cluster, "ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN, "ONSELL_QUEUE": str(queue)}
    started = time.perf_counter()
    done = run_client(["import", kind, str(path)], port=0, env=env, timeout=timeout_s)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"onsell import {kind} failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-1000:]}")
    return took, done.stdout.strip()


def import_chain(cluster: str, chain: Chain, files: "Files", queue: Path) -> tuple[float, int]:
    """The catalogue, then the sales; the sales import's rows per second (file to acknowledged) and how many of its rows
    came back as already there (a batch sent again after the client's call timeout, its first sending committed)."""
    for kind, path in (("stores", files.stores), ("users", files.users)):
        client_import(cluster, kind, path, queue, timeout_s=600)
    took, summary = client_import(cluster, "sales", files.sales, queue, timeout_s=max(600.0, chain.sales / SLOWEST_IMPORT))
    counts = SUMMARY.search(summary)
    imported, again, refused = (int(counts.group(i).replace(".", "")) for i in (1, 2, 3)) if counts else (0, 0, -1)
    if (imported + again, refused) != (chain.sales, 0):
        raise SystemExit(f"the sales import did not bring every row in: {summary!r} ({chain.sales:,} rows in the file)")
    return chain.sales / took, again


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def timed_start(node: ServerProcess) -> float:
    """Start the node's process again; seconds from launching it to its first answer to `ping`. A refused connection
    (not listening yet) is tried again at once; an accepted one waits for the answer, which comes when the node serves."""
    with open(node.log_path, "ab") as log:
        started = time.perf_counter()
        node.process = subprocess.Popen([*node.launcher, "--id", str(node.node_id)], cwd=node.data_dir, env=node.env(), stdout=log,
                                        stderr=subprocess.STDOUT)
    while time.perf_counter() - started < START_TIMEOUT_S:
        if node.process.poll() is not None:
            raise SystemExit(f"the node exited with {node.process.returncode} while starting: {node.log()[-2000:]}")
        try:
            client = RawClient(node.port, timeout=START_TIMEOUT_S)
        except ConnectionRefusedError:
            time.sleep(START_POLL_S)
            continue
        try:
            if "result" in client.call("ping"):
                return time.perf_counter() - started
        except (OSError, ValueError):
            time.sleep(START_POLL_S)
        finally:
            client.close()
    raise SystemExit(f"the node did not answer within {START_TIMEOUT_S:.0f} s of its start")


def status(node: ServerProcess) -> dict:
    client = RawClient(node.port, timeout=STATUS_TIMEOUT_S)
    try:
        return client.call("cluster.status")["result"]
    finally:
        client.close()


def settled_disk_bytes(database: Path) -> int:
    """The file's size at rest: an idle node checkpoints its WAL and cuts it back (db/database.py), so wait for the
    size to stay put for a second, at most SETTLE_DISK_S."""
    deadline, size = time.monotonic() + SETTLE_DISK_S, disk_bytes(database)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = disk_bytes(database)
        if now == size:
            break
        size = now
    return size


def disk_bytes(database: Path) -> int:
    return sum(Path(f"{database}{suffix}").stat().st_size for suffix in ("", "-wal") if Path(f"{database}{suffix}").exists())


def median_ms(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@dataclass(frozen=True)
class Report:
    """One report of the table: its onsell call and how DuckDB answers it (duckdb_figures)."""
    key: str
    label: str
    goal: str
    method: str
    params: dict
    start: dt.date | None = None
    end: dt.date | None = None


def reports(chain: Chain) -> list[Report]:
    month_ago = chain.today - dt.timedelta(days=29)
    year_start = (chain.today - dt.timedelta(days=500)).replace(day=17)  # a year from a 17th to the 16th: not months
    year_end = year_start + dt.timedelta(days=364)
    return [
        Report("seller_total", "seller total, all time", "stay ahead", "seller_total", {"seller": 0}),
        Report("store_total", "store total, all time", "stay ahead", "store_total", {"store": 0}),
        Report("network_total", "network total, all time", "stay ahead", "network_total", {"network": 0}),
        Report("best_store_all", "best store, all time (top 10)", "stay ahead", "best_store", {}),
        Report("best_seller_all", "best seller, all time (top 10)", "≤ DuckDB", "best_seller", {}),
        Report("best_seller_30d", "best seller, last 30 days", "≤ DuckDB", "best_seller", {}, month_ago, chain.today),
        Report("best_seller_year", f"best seller, {year_start:%d/%m/%Y}–{year_end:%d/%m/%Y}", "≤ DuckDB", "best_seller", {},
               year_start, year_end),
    ]


def onsell_reports(port: int, chain: Chain, repeats: int) -> dict[str, tuple[float, tuple]]:
    """Each report's median over the wire (one kept-open connection) and its first answer as (count, total)."""
    api = Api(Connection({1: ("127.0.0.1", port)}))
    api.login(DEMO_MANAGER_CPF, DEMO_PIN)
    seller = next(s["id"] for s in api.sellers() if s["cpf"] == chain.cpfs[0])
    store = next(s for s in api.stores() if s["cnpj"] == chain.cnpjs[0])
    ids = {"seller": ("seller_id", seller), "store": ("store_id", store["id"]), "network": ("network_id", store["network"]["id"])}
    found = {}
    try:
        for report in reports(chain):
            params = dict(ids[name] for name in report.params) if report.params else {"limit": 10}

            def call(report=report, params=params):
                return api.report(report.method, report.start, report.end, **params)
            answer = call()
            top = answer["ranking"][0] if "ranking" in answer else answer
            found[report.key] = (median_ms(call, repeats), (top["count"], top["total"]))
    finally:
        api.connection.close()
    return found


# -- DuckDB on the same rows -----------------------------------------------------------------------------------------

def duckdb_figures(chain: Chain, files: "Files", path: Path, repeats: int) -> dict | None:
    """DuckDB loading the same CSV files into a file of its own and answering the same reports in-process; None
    when duckdb is not installed (pip install -e '.[bench]')."""
    try:
        import duckdb
    except ImportError:
        return None
    conn = duckdb.connect(str(path))
    text = "{'id': 'VARCHAR', 'cpf': 'VARCHAR', 'cnpj': 'VARCHAR', 'valor': 'VARCHAR', 'data': 'VARCHAR'}"
    started = time.perf_counter()
    conn.execute(f"CREATE TABLE sales AS SELECT CAST(cpf AS BIGINT) AS seller, CAST(cnpj AS BIGINT) AS store, "
                 f"CAST(replace(valor, ',', '') AS BIGINT) AS cents, CAST(strptime(data, '%d/%m/%Y') AS DATE) AS day "
                 f"FROM read_csv('{files.sales}', delim=';', header=true, columns={text})")
    conn.execute("CHECKPOINT")
    load_s = time.perf_counter() - started
    conn.execute(f"CREATE TABLE stores AS SELECT CAST(cnpj AS BIGINT) AS store, loja AS name, rede AS network "
                 f"FROM read_csv('{files.stores}', delim=';', header=true, all_varchar=true)")
    conn.execute(f"CREATE TABLE people AS SELECT CAST(cpf AS BIGINT) AS seller, nome AS name "
                 f"FROM read_csv('{files.users}', delim=';', header=true, all_varchar=true)")
    conn.execute("CHECKPOINT")
    size = disk_bytes(path)
    keys = {"seller": int(chain.cpfs[0]), "store": int(chain.cnpjs[0]), "network": chain.networks[0]}
    found = {}
    for report in reports(chain):
        where, args = [], []
        if report.start:
            where.append("day BETWEEN ? AND ?")
            args += [report.start, report.end]
        if report.method == "seller_total":
            sql, args = "SELECT COUNT(*), SUM(cents) FROM sales WHERE seller = ?", [keys["seller"]]
        elif report.method == "store_total":
            sql, args = "SELECT COUNT(*), SUM(cents) FROM sales WHERE store = ?", [keys["store"]]
        elif report.method == "network_total":
            sql = "SELECT COUNT(*), SUM(cents) FROM sales JOIN stores USING (store) WHERE network = ?"
            args = [keys["network"]]
        else:
            key, names = ("seller", "people") if report.method == "best_seller" else ("store", "stores")
            sql = (f"WITH top AS (SELECT {key}, COUNT(*) AS n, SUM(cents) AS total FROM sales "
                   f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY {key} ORDER BY total DESC LIMIT 10) "
                   f"SELECT top.n, top.total, {names}.name FROM top JOIN {names} USING ({key}) ORDER BY top.total DESC")

        def query(sql=sql, args=args):
            return conn.execute(sql, args).fetchall()
        count, total = query()[0][:2]
        found[report.key] = (median_ms(query, repeats), (count, format_cents(int(total))))
    conn.close()
    return {"bytes_per_sale": size / chain.sales, "load_s": load_s, "reports": found}


# -- the run ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Files:
    stores: Path
    users: Path
    sales: Path


@dataclass
class Run:
    started: float = field(default_factory=time.perf_counter)
    phases: dict = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f} s] {text}", file=sys.stderr, flush=True)

    def phase(self, name: str, since: float) -> None:
        self.phases[name] = round(time.perf_counter() - since, 1)


def one_node(base: Path, chain: Chain, files: Files, repeats: int, run: Run) -> dict:
    node = ServerProcess(base / "one", demo=True, env=LOG_LEVEL).start()
    try:
        since = time.perf_counter()
        rate, again = import_chain(node.cluster, chain, files, base / "queue-one.db")
        run.phase("import into one node", since)
        run.say(f"one node: {rate:,.0f} rows/s ({again:,} rows sent twice)")
        size = settled_disk_bytes(node.database_path)
        wal = Path(f"{node.database_path}-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        run.say(f"on disk: {size / chain.sales:.1f} bytes a sale, of which the WAL {wal_bytes / chain.sales:.1f}")
        rss_after_import = rss_mb(node.process.pid)
        starts = []
        for _ in range(STARTS):
            node.stop()
            starts.append(timed_start(node))
        run.say(f"start-up {', '.join(f'{s:.2f}' for s in starts)} s; reports")
        since = time.perf_counter()
        answers = onsell_reports(node.port, chain, repeats)
        run.phase("reports", since)
        return {"rate": rate, "again": again, "bytes_per_sale": size / chain.sales, "startup_s": statistics.median(starts),
                "starts_s": starts, "rss_mb": rss_mb(node.process.pid), "rss_after_import_mb": rss_after_import, "reports": answers}
    finally:
        node.stop()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{node.database_path}{suffix}").unlink(missing_ok=True)


def three_nodes(base: Path, chain: Chain, files: Files, run: Run) -> dict:
    cluster = Cluster(base / "three", 3, demo=True, env=LOG_LEVEL).start()
    try:
        cluster.wait_coordinator(3)
        since = time.perf_counter()
        rate, again = import_chain(cluster.cluster, chain, files, base / "queue-three.db")
        run.phase("import into three nodes", since)
        run.say(f"three nodes: {rate:,.0f} rows/s ({again:,} rows sent twice); node 1 deleted and started empty")
        joining, coordinator = cluster.nodes[1], cluster.nodes[3]
        joining.stop()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{joining.database_path}{suffix}").unlink(missing_ok=True)
        joining.demo = False
        deadline = max(300.0, chain.sales / SLOWEST_JOIN)
        since = time.perf_counter()
        joining.start(timeout=START_TIMEOUT_S)

        def in_sync() -> int | None:
            try:
                target = status(coordinator)["position"]
                return target if status(joining)["position"] >= target else None
            except (OSError, ValueError, KeyError):  # a node busy catching up may answer late: not in sync yet
                return None
        try:
            position = wait_until(in_sync, deadline, interval=JOIN_POLL_S, what="the empty node to reach the coordinator's position")
            join_s = time.perf_counter() - since
        except AssertionError:
            position, join_s = None, None
        run.phase("join", since)
        return {"rate": rate, "again": again, "join_s": join_s, "join_deadline_s": deadline, "join_changes": position}
    finally:
        cluster.stop()


def figures(chain: Chain, one: dict, three: dict | None, bare: float, duck: dict | None) -> list[dict]:
    """Every row of the issue's table: {key, figure, onsell, duckdb, goal, met} with numbers and their printed form."""
    rows = [
        {"key": "bytes_per_sale", "figure": "bytes on disk per sale (db + wal)", "onsell": one["bytes_per_sale"],
         "duckdb": duck and duck["bytes_per_sale"], "unit": "B", "goal": f"≤ {BYTES_PER_SALE_GOAL}",
         "met": one["bytes_per_sale"] <= BYTES_PER_SALE_GOAL},
        {"key": "rss_mb", "figure": "node RSS after the reports", "onsell": one["rss_mb"], "duckdb": None, "unit": "MB",
         "goal": f"≤ {RSS_GOAL_MB} MB", "met": one["rss_mb"] <= RSS_GOAL_MB},
        {"key": "startup_s", "figure": "start-up to first answer", "onsell": one["startup_s"], "duckdb": None, "unit": "s",
         "goal": f"≤ {STARTUP_GOAL_S} s", "met": one["startup_s"] <= STARTUP_GOAL_S},
    ]
    for report in reports(chain):
        mine = one["reports"][report.key]
        theirs = duck["reports"][report.key] if duck else None
        rows.append({"key": report.key, "figure": report.label, "onsell": mine[0], "duckdb": theirs and theirs[0], "unit": "ms",
                     "goal": report.goal, "met": None if theirs is None else mine[0] <= theirs[0],
                     "agree": None if theirs is None else mine[1] == theirs[1]})
    one_ratio = one["rate"] / bare
    rows.append(
        {"key": "import_one_node", "figure": "import, CSV to acknowledged, one node", "onsell": one["rate"], "ratio": one_ratio,
         "again": one["again"], "reference": bare, "duckdb": duck and chain.sales / duck["load_s"], "unit": "rows/s",
         "goal": f"≥ {ONE_NODE_RATIO_GOAL} of bare SQLite", "met": one_ratio >= ONE_NODE_RATIO_GOAL})
    if three is None:  # --one-node: the three-node import and the join were not run
        return rows + [{"key": key, "figure": figure, "onsell": None, "duckdb": None, "unit": unit, "goal": "not run", "met": None}
                       for key, figure, unit in (("import_three_nodes", "import, CSV to acknowledged, three nodes", "rows/s"),
                                                 ("join_s", "a new, empty node in sync", "s"))]
    three_ratio = three["rate"] / bare
    rows += [
        {"key": "import_three_nodes", "figure": "import, CSV to acknowledged, three nodes", "onsell": three["rate"],
         "ratio": three_ratio, "again": three["again"], "reference": bare, "duckdb": None, "unit": "rows/s",
         "goal": f"≥ {THREE_NODES_RATIO_GOAL} of bare SQLite", "met": three_ratio >= THREE_NODES_RATIO_GOAL},
        {"key": "join_s", "figure": "a new, empty node in sync", "onsell": three["join_s"], "duckdb": None, "unit": "s",
         "goal": f"≤ {JOIN_GOAL_S:.0f} s", "met": three["join_s"] is not None and three["join_s"] <= JOIN_GOAL_S,
         "changes": three["join_changes"], "deadline_s": three["join_deadline_s"]},
    ]
    return rows


def shown(row: dict, side: str) -> str:
    value = row[side]
    if value is None:
        if side == "onsell" and row["key"] == "join_s" and "deadline_s" in row:
            return f"> {row['deadline_s']:.0f} s"
        return "–"
    if row["unit"] == "rows/s":
        text = f"{value:,.0f} rows/s"
        return text + (f" ({row['ratio']:.2f})" if side == "onsell" else "")
    if row["unit"] == "ms":
        return f"{value:.1f} ms"
    if row["unit"] == "s":
        return f"{value:.2f} s"
    return f"{value:.0f} {row['unit']}" if row["unit"] == "MB" else f"{value:.1f}"


def print_table(chain: Chain, rows: list[dict], bare: float, run_s: float, phases: dict, loads: list[float]) -> None:
    print(f"onsell at {chain.sales:,} sales ({len(chain.cpfs):,} sellers, {len(chain.cnpjs):,} stores, {DAYS} days), "
          f"built through `onsell import`; DuckDB {'in the same run' if any(r['duckdb'] for r in rows) else 'not installed'}")
    print(f"{'figure':44s} {'onsell':>24s} {'DuckDB':>18s}  {'goal':26s} met")
    for row in rows:
        ok = {True: "yes", False: "no", None: "–"}[row["met"]]
        print(f"{row['figure']:44s} {shown(row, 'onsell'):>24s} {shown(row, 'duckdb'):>18s}  {row['goal']:26s} {ok}")
    print(f"bare SQLite, same rows (executemany of {REFERENCE_BATCH:,}, synchronous=FULL, WAL): {bare:,.0f} rows/s; "
          "the ratio to it in brackets; DuckDB's import figure is its CSV load")
    for row in rows:
        if row.get("again"):
            print(f"{row['figure']}: {row['again']:,} rows came back as already there (batches sent again after the client's "
                  "call timeout; their first sending had committed)")
    differ = [row["figure"] for row in rows if row.get("agree") is False]
    if differ:
        print(f"DIFFERENT ANSWERS from onsell and DuckDB: {', '.join(differ)}")
    print(f"run took {run_s:.0f} s: " + ", ".join(f"{name} {took:.0f} s" for name, took in phases.items()))
    print("load average (1 min) at the start and at the end: " + " and ".join(f"{load:.1f}" for load in loads))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=int(os.environ.get("SALES", 1_000_000)))
    parser.add_argument("--repeats", type=int, default=20, help="calls per report (the median is printed)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--one-node", action="store_true", help="skip the three-node import and the join (a quicker run)")
    args = parser.parse_args()
    run = Run()
    loads = [os.getloadavg()[0]]  # the machine is shared: a busy one slows every figure but bare SQLite's the least
    chain = make_chain(args.sales, dt.date.today())
    with tempfile.TemporaryDirectory(prefix="onsell-scale-") as tmp:
        base = Path(tmp)
        since = time.perf_counter()
        files = Files(*write_catalogue(chain, base), base / "vendas.csv")
        write_sales(chain, files.sales)
        run.phase("writing the CSV files", since)
        run.say(f"{chain.sales:,} sales in {files.sales.stat().st_size / 1e6:.0f} MB of CSV; bare SQLite")
        since = time.perf_counter()
        bare = bare_sqlite_rate(chain, base / "bare.db")
        run.phase("bare SQLite", since)
        run.say(f"bare SQLite {bare:,.0f} rows/s; importing into one node")
        one = one_node(base, chain, files, args.repeats, run)
        run.say("DuckDB")
        since = time.perf_counter()
        duck = duckdb_figures(chain, files, base / "duck.db", args.repeats)
        run.phase("DuckDB", since)
        three = None
        if not args.one_node:
            run.say("importing into three nodes")
            three = three_nodes(base, chain, files, run)
    rows = figures(chain, one, three, bare, duck)
    run_s = time.perf_counter() - run.started
    loads.append(os.getloadavg()[0])
    print_table(chain, rows, bare, run_s, run.phases, loads)
    if args.json:
        summary = {"sales": chain.sales, "sellers": len(chain.cpfs), "stores": len(chain.cnpjs), "days": DAYS,
                   "bare_sqlite_rows_per_s": bare, "starts_s": one["starts_s"], "rss_after_import_mb": one["rss_after_import_mb"],
                   "duckdb": duck is not None, "run_s": run_s, "phases": run.phases, "load_average": loads, "figures": rows}
        args.json.write_text(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
