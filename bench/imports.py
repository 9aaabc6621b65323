"""Benchmark: importing the chain's spreadsheets (docs/samples) into one real node with the onsell client,
against bare SQLite inserting the same rows in the same run.

    python bench/imports.py [--runs 3]

What is timed is the whole `onsell import` command (a process of its own: reading and checking the file,
signing in, the batches of 1,000 rows, each committed with synchronous=FULL and answered). The reference
inserts the same parsed rows into a bare table with one transaction per 1,000 rows, synchronous=FULL.
"""

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import DEMO_MANAGER_CPF, DEMO_PIN, ServerProcess  # noqa: E402  (a real server process on a free port)

from client import imports  # noqa: E402

SAMPLES = ROOT / "docs" / "samples"
FILES = {"users": SAMPLES / "usuarios.csv", "stores": SAMPLES / "lojas.csv"}


def run_import(server: ServerProcess, kind: str, queue: Path) -> tuple[float, str]:
    env = {**os.environ, "CLUSTER": f"1=127.0.0.1:{server.port}", "ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN,
           "ONSELL_QUEUE": str(queue), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "client", "import", kind, str(FILES[kind])], env=env, capture_output=True,
                          text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import {kind} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed, done.stdout.strip()


def bare_sqlite(kind: str, path: Path) -> float:
    """The same rows into one bare table, 1,000 per committed transaction, synchronous=FULL."""
    rows = [good.row for good in imports.parse_file(kind, FILES[kind].read_bytes(), time.localtime().tm_year).good]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (key TEXT PRIMARY KEY, body TEXT)")
    started = time.perf_counter()
    for i in range(0, len(rows), imports.MAX_BATCH_ROWS):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(str(r.get("cpf") or r.get("cnpj")), repr(r))
                                                         for r in rows[i:i + imports.MAX_BATCH_ROWS]])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for kind in ("stores", "users"):
        firsts, seconds, bares = [], [], []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                server = ServerProcess(Path(tmp) / "node", demo=True, env={"LOG_LEVEL": "WARNING"}).start()
                try:
                    first, summary = run_import(server, kind, Path(tmp) / "queue.db")
                    second, again = run_import(server, kind, Path(tmp) / "queue.db")
                finally:
                    server.stop()
                bares.append(bare_sqlite(kind, Path(tmp) / "bare.db"))
            firsts.append(first)
            seconds.append(second)
            if run == 0:
                print(f"{kind}: first run says '{summary}', second '{again}'")
        print(f"{kind} ({FILES[kind].name}): import {statistics.median(firsts):.2f} s (runs {', '.join(f'{t:.2f}' for t in firsts)}), "
              f"again {statistics.median(seconds):.2f} s; bare SQLite, same rows: {statistics.median(bares) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
