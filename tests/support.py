"""Test support: free loopback ports, real server processes, raw line sockets, polling, and the
event codes of the nodes' logs. Every wait here has a deadline and fails with a message."""

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from models.records import new_sale_id
from runtime.clock import SystemClock

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-cluster-secret-0123456789"
DEMO_SELLER_CPF = "12345678909"
DEMO_SELLER2_CPF = "23456789092"
DEMO_MANAGER_CPF = "56789012303"
DEMO_PIN = "1234"
SYSTEM_CLOCK = SystemClock()


# A logged event ends with "[code k=v …]" (runtime/events.py): the code and fields are stable, the text is not.
_EVENT = re.compile(r"\[([a-z][a-z0-9_]*)((?: [a-z][a-z0-9_]*=[^\s\]]*)*)\]\s*$")


def _field_value(text: str):
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def events(log_text: str) -> list[tuple[str, dict]]:
    """The events of a log, in order: (code, {field: value}) from each line's "[code k=v …]" suffix;
    whole-number values are ints. Lines without an event code are skipped."""
    found = []
    for line in log_text.splitlines():
        match = _EVENT.search(line)
        if match:
            fields = dict(pair.split("=", 1) for pair in match.group(2).split())
            found.append((match.group(1), {k: _field_value(v) for k, v in fields.items()}))
    return found


def has_event(log_text: str, code: str, **fields) -> bool:
    """True when the log has an event `code` whose fields include `fields`."""
    return event_index(log_text, code, **fields) is not None


def event_index(log_text: str, code: str, **fields) -> int | None:
    """The position in events(log_text) of the first event `code` whose fields include `fields`; None if none."""
    for i, (found, values) in enumerate(events(log_text)):
        if found == code and all(values.get(k) == v for k, v in fields.items()):
            return i
    return None


def fresh_sale_id() -> str:
    """A new client-made sale id, as the client makes them (time-ordered, from the system clock)."""
    return new_sale_id(SYSTEM_CLOCK.wall_ns())


def free_ports(count: int) -> list[int]:
    """Ports the OS hands out on loopback (bound to port 0 together, so distinct), closed again for the servers."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port() -> int:
    """A port the OS just handed out on loopback (closed again for the server to take)."""
    return free_ports(1)[0]


@contextlib.contextmanager
def closing_listener():
    """A port that accepts each connection and closes it at once: a node that is there but cannot answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept_and_close():
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue
    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def wait_until(condition, timeout: float = 15.0, interval: float = 0.02, what: str = "condition"):
    """Poll condition() until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class RawClient:
    """A plain socket that writes and reads JSON lines, as any JSON-RPC client would."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, value) -> None:
        self.send_bytes(json.dumps(value).encode() + b"\n")

    def read_line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def read(self):
        return json.loads(self.read_line())

    def call(self, method: str, params: dict | None = None, request_id=1):
        request = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        self.send(request)
        return self.read()

    def is_closed_by_server(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection within timeout (pending lines are skipped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


class ServerProcess:
    """One real `python -m server` process on a free loopback port with its own data dir."""

    def __init__(self, data_dir: Path, node_id: int = 1, port: int | None = None, demo: bool = True, env: dict | None = None,
                 cluster: str | None = None):
        self.data_dir = Path(data_dir)
        self.node_id = node_id
        self.port = port or free_port()
        self.demo = demo
        self.extra_env = env or {}
        self._cluster = cluster
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / f"node-{node_id}.log"
        self.launcher = [sys.executable, "-m", "server"]  # what runs the node (tests/skewed_node.py: with its clock off)

    @property
    def cluster(self) -> str:
        return self._cluster or f"{self.node_id}=127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("CLUSTER", "CLUSTER_SECRET", "DATA_DIR")}
        env.update({"CLUSTER": self.cluster, "CLUSTER_SECRET": TEST_SECRET, "DATA_DIR": str(self.data_dir),
                    "LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)})
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 20.0, wait: bool = True) -> "ServerProcess":
        """wait=False: return once the process runs, without waiting for it to answer."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [*self.launcher, "--id", str(self.node_id)] + (["--demo"] if self.demo else [])
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, cwd=self.data_dir, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            wait_until(self._ready, timeout, what=f"server on port {self.port} (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}: {self.log()[-2000:]}")
        try:
            client = self.raw(timeout=2.0)
        except OSError:
            return False
        try:
            return "result" in client.call("ping")
        except (OSError, ValueError):
            return False
        finally:
            client.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self) -> list[tuple[str, dict]]:
        """The event codes of this node's log so far (every start of it)."""
        return events(self.log())

    def has_event(self, code: str, **fields) -> bool:
        return has_event(self.log(), code, **fields)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    @property
    def database_path(self) -> Path:
        return self.data_dir / f"node-{self.node_id}.db"

    def sales_digest(self) -> dict:
        """What this node's own file holds (read-only, beside the running server): sale ids, their count and the aggregates."""
        conn = sqlite3.connect(f"file:{self.database_path}?mode=ro", uri=True, timeout=10)
        try:
            ids = [str(uuid.UUID(bytes=r[0])) for r in conn.execute("SELECT sale_id FROM sales")]
            totals = conn.execute("SELECT COALESCE(SUM(sale_count), 0), COALESCE(SUM(total_cents), 0) FROM totals_store_day").fetchone()
            sellers = conn.execute("SELECT COALESCE(SUM(sale_count), 0) FROM totals_seller_month").fetchone()[0]
            return {"ids": set(ids), "rows": len(ids), "aggregate_count": totals[0], "aggregate_cents": totals[1], "seller_count": sellers}
        finally:
            conn.close()

    def status(self) -> dict:
        client = self.raw()
        try:
            return client.call("cluster.status")["result"]
        finally:
            client.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def raw(self, timeout: float = 10.0) -> RawClient:
        return RawClient(self.port, timeout)

    def call(self, method: str, **params) -> dict:
        """The whole response object of one call to this node, on a connection of its own."""
        client = self.raw()
        try:
            return client.call(method, params)
        finally:
            client.close()

    def result(self, method: str, **params) -> dict:
        """The result of one call to this node; AssertionError showing the answer when it is an error."""
        answer = self.call(method, **params)
        assert "result" in answer, answer
        return answer["result"]


# Where run_client puts the client's queue when the caller names none: a folder under pytest's own temporary
# directory, set for the session by conftest.py (pytest removes it with its old runs; nothing goes to /tmp).
CLIENT_QUEUE_ROOT: Path | None = None


def run_client(args: list[str], port: int, stdin: str = "", env: dict | None = None, timeout: float = 60.0,
               queue_path: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m client ARGS` against the server on port, feeding stdin; returns the finished process.
    The seller's queue is queue_path (e.g. under the test's tmp_path), else a fresh file under CLIENT_QUEUE_ROOT;
    outside pytest, a temporary folder removed when the client has ended."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ONSELL_")}
    full_env.update({"CLUSTER": f"1=127.0.0.1:{port}", "PYTHONPATH": str(ROOT)})
    full_env.update(env or {})

    def run(queue: Path) -> subprocess.CompletedProcess:
        full_env.setdefault("ONSELL_QUEUE", str(queue))
        return subprocess.run([sys.executable, "-m", "client", *args], input=stdin, capture_output=True, text=True,
                              env=full_env, timeout=timeout, cwd=ROOT / "tests")
    if queue_path is not None:
        return run(Path(queue_path))
    if CLIENT_QUEUE_ROOT is not None:
        return run(Path(tempfile.mkdtemp(prefix="queue-", dir=CLIENT_QUEUE_ROOT)) / "queue.db")
    with tempfile.TemporaryDirectory(prefix="onsell-queue-") as folder:
        return run(Path(folder) / "queue.db")


class Cluster:
    """N real nodes on free loopback ports sharing one CLUSTER list and secret."""

    def __init__(self, base: Path, size: int = 3, demo: bool = True, env: dict | None = None):
        ports = dict(zip(range(1, size + 1), free_ports(size)))
        self.cluster = ",".join(f"{n}=127.0.0.1:{p}" for n, p in ports.items())
        self.nodes = {n: ServerProcess(Path(base) / f"node{n}", n, ports[n], demo, env, self.cluster) for n in ports}

    def start(self, *ids: int) -> "Cluster":
        for n in ids or self.nodes:
            self.nodes[n].start()
        return self

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process and node.process.poll() is None:
                node.resume()
            node.stop()

    def servers(self) -> dict[int, tuple[str, int]]:
        return {n: ("127.0.0.1", node.port) for n, node in self.nodes.items()}

    def live(self) -> list[ServerProcess]:
        return [node for node in self.nodes.values() if node.process and node.process.poll() is None]

    def _status_or_none(self, node: ServerProcess):
        try:
            return node.status()
        except (OSError, ConnectionError, ValueError, KeyError):
            return None

    def wait_coordinator(self, node_id: int, among: list[int] | None = None, timeout: float = 20.0) -> int:
        """Wait until node_id serves as coordinator and every node in `among` follows it; its epoch."""
        nodes = [self.nodes[n] for n in (among or [node.node_id for node in self.live()])]

        def settled():
            statuses = [self._status_or_none(node) for node in nodes]
            if any(s is None for s in statuses) or any(s["coordinator_id"] != node_id for s in statuses):
                return None
            leader = statuses[[n.node_id for n in nodes].index(node_id)] if node_id in [n.node_id for n in nodes] else None
            if leader is None or leader["role"] != "coordinator":
                return None
            client = self.nodes[node_id].raw()
            try:
                serving = "result" in client.call("networks.list")
            finally:
                client.close()
            return leader["epoch"] if serving else None
        return wait_until(settled, timeout, interval=0.05, what=f"node {node_id} to coordinate {[n.node_id for n in nodes]}")

    def wait_converged(self, timeout: float = 20.0, nodes: list[int] | None = None) -> dict:
        """Wait until the given (default: live) nodes hold identical sales and aggregates; that digest."""
        chosen = [self.nodes[n] for n in nodes] if nodes else self.live()

        def same():
            digests = [node.sales_digest() for node in chosen]
            return digests[0] if all(d == digests[0] for d in digests) else None
        return wait_until(same, timeout, interval=0.1, what="nodes to hold the same sales")


class ClusterSeller:
    """A seller recording sales through the onsell client's own failover; any error it meets is kept in `errors`."""

    def __init__(self, cluster: Cluster, cpf: str = "12345678909", pin: str = "1234", failover_timeout_s: float = 20.0,
                 call_timeout_s: float | None = None):
        """call_timeout_s: how long one answer is awaited before trying another node (None: the client's default)."""
        from client.api import Api
        from client.connection import CALL_TIMEOUT_S, Connection
        self.api = Api(Connection(cluster.servers(), failover_timeout_s=failover_timeout_s,
                                  call_timeout_s=call_timeout_s or CALL_TIMEOUT_S))
        self.api.login(cpf, pin)
        self.store_id = self.api.stores()[0]["id"]
        self.acknowledged: dict[str, int] = {}  # sale_id -> replicas
        self.errors: list[Exception] = []
        self.stop_flag = threading.Event()
        self.thread: threading.Thread | None = None

    def sell_one(self, cents: int = 100) -> str:
        sale_id = fresh_sale_id()
        self.acknowledged[sale_id] = self.api.record_sale(sale_id, self.store_id, cents)["replicas"]
        return sale_id

    def start(self) -> "ClusterSeller":
        def loop():
            while not self.stop_flag.is_set():
                try:
                    self.sell_one()
                except Exception as exc:  # kept for the test to assert on
                    self.errors.append(exc)
                    return
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.stop_flag.set()
        if self.thread:
            self.thread.join(timeout=timeout)
            assert not self.thread.is_alive(), f"the cluster seller was still selling {timeout}s after being told to stop"


class InteractiveClient:
    """`python -m client` driven through pipes as a person would: type lines, wait for text on the screen."""

    def __init__(self, cluster: str, queue_path: Path, env: dict | None = None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ONSELL_")}
        full_env.update({"CLUSTER": cluster, "PYTHONPATH": str(ROOT), "ONSELL_QUEUE": str(queue_path), **(env or {})})
        self.process = subprocess.Popen([sys.executable, "-m", "client"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=full_env, cwd=ROOT / "tests", bufsize=1)
        self.output = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            chunk = self.process.stdout.read(1)
            if not chunk:
                return
            with self._lock:
                self.output += chunk

    def type(self, *lines: str) -> None:
        self.process.stdin.write("".join(line + "\n" for line in lines))
        self.process.stdin.flush()

    def wait_for(self, text: str, count: int = 1, timeout: float = 30.0) -> str:
        """Wait until `text` has appeared `count` times on the screen; the screen so far."""
        return wait_until(lambda: self.output.count(text) >= count and self.output, timeout, what=f"{text!r} x{count} on screen")

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def finish(self, timeout: float = 30.0) -> int:
        """Close its input (as Ctrl+D) and wait for it to end; its exit status."""
        self.process.stdin.close()
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert not self._reader.is_alive(), "the client ended but its output was not read to the end within 5 s"
        return code


def queued_sale_ids(queue_path: Path) -> list[str]:
    if not Path(queue_path).exists():
        return []
    conn = sqlite3.connect(f"file:{queue_path}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in conn.execute("SELECT sale_id FROM queued_sales WHERE refused IS NULL ORDER BY position")]
    finally:
        conn.close()


class FixedRole:
    """The cluster role of a ledger in tests without a cluster: always writes in `epoch`, one copy."""

    def __init__(self, epoch: int = 1):
        self.epoch = epoch

    def write_epoch(self) -> int:
        return self.epoch

    def await_replicated(self, epoch: int, origins: list) -> int:
        return 1


def drop_sale(conn: sqlite3.Connection, sale_id: str) -> None:
    """Delete one sale, its log entries and its part of the totals straight from a file (a lost page, a bad restore):
    the vector still says the file holds it, as after such a fault."""
    from db import aggregates
    from db.codec import day_number
    from db.local_keys import find_keys
    from db.sales import find_sale

    sale = find_sale(conn, sale_id)
    keys = find_keys(conn, [sale.seller_id, sale.store_id])
    aggregates.add_sales(conn, [(keys[sale.seller_id], keys[sale.store_id], sale.amount_cents, day_number(sale.sold_on))], -1)
    aggregates.add_digests(conn, [(day_number(sale.sold_on), sale.amount_cents, uuid.UUID(sale_id).bytes)], -1)
    conn.execute("DELETE FROM sales WHERE sale_id = ?", (uuid.UUID(sale_id).bytes,))
    conn.execute("DELETE FROM changes WHERE kind = 'sale' AND entity_id = ?", (sale_id,))
