"""Test support: free loopback ports, real server processes, raw line sockets, polling."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-cluster-secret-0123456789"
DEMO_SELLER_CPF = "12345678909"
DEMO_SELLER2_CPF = "23456789092"
DEMO_MANAGER_CPF = "56789012303"
DEMO_PIN = "1234"


def free_port() -> int:
    """A port the OS just handed out on loopback (closed again for the server to take)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def __init__(self, data_dir: Path, node_id: int = 1, port: int | None = None, demo: bool = True, env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.node_id = node_id
        self.port = port or free_port()
        self.demo = demo
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / f"node-{node_id}.log"

    @property
    def cluster(self) -> str:
        return f"{self.node_id}=127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("CLUSTER", "CLUSTER_SECRET", "DATA_DIR")}
        env.update({"CLUSTER": self.cluster, "CLUSTER_SECRET": TEST_SECRET, "DATA_DIR": str(self.data_dir),
                    "LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)})
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 20.0) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "server", "--id", str(self.node_id)] + (["--demo"] if self.demo else [])
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, cwd=self.data_dir, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._ready, timeout, what=f"server on port {self.port} (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}: {self.log()[-2000:]}")
        try:
            client = RawClient(self.port, timeout=2.0)
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

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def raw(self) -> RawClient:
        return RawClient(self.port)


def run_client(args: list[str], port: int, stdin: str = "", env: dict | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run `python -m client ARGS` against the server on port, feeding stdin; returns the finished process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ONSELL_")}
    full_env.update({"CLUSTER": f"1=127.0.0.1:{port}", "PYTHONPATH": str(ROOT)})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "client", *args], input=stdin, capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT / "tests")
