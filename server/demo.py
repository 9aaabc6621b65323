"""python -m server.demo: what `make demo` runs.

Starts the node(s) of CLUSTER (default: one node on 127.0.0.1:7001) with the
demo data, each logging to DATA_DIR/node-N.log, waits until they answer, runs
the interactive client in the foreground, and stops the nodes when it exits.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from dotenv import load_dotenv

from models.cluster import DEFAULT_CLUSTER, format_address, parse_cluster
from server.jsonrpc import encode_request

STARTUP_TIMEOUT_S = 20.0


def answers_ping(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1.0) as sock:
            sock.settimeout(2.0)
            sock.sendall(encode_request("ping", {}, 1))
            return b'"result"' in sock.recv(4096)
    except OSError:
        return False


def main() -> int:
    load_dotenv(Path.cwd() / ".env", override=False)
    cluster = parse_cluster(os.environ.get("CLUSTER", DEFAULT_CLUSTER))
    data_dir = Path(os.environ.get("DATA_DIR", "data"))
    data_dir.mkdir(parents=True, exist_ok=True)
    busy = [n for n, address in cluster.items() if answers_ping(address)]
    if busy:
        print(f"Já há um servidor onsell em {format_address(cluster[busy[0]])}: pare-o antes de rodar a demo.", file=sys.stderr)
        return 1
    nodes = {}
    for node_id in sorted(cluster):
        log_path = data_dir / f"node-{node_id}.log"
        log_file = open(log_path, "a")
        process = subprocess.Popen([sys.executable, "-m", "server", "--id", str(node_id), "--demo"],
                                   stdout=log_file, stderr=subprocess.STDOUT)
        nodes[node_id] = (process, log_path)
        print(f"nó {node_id}: pid {process.pid}, em {format_address(cluster[node_id])}, log em {log_path}")
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not all(answers_ping(cluster[n]) for n in nodes):
            dead = [n for n, (p, _) in nodes.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                n = (dead or list(nodes))[0]
                print(f"O nó {n} não subiu; veja {nodes[n][1]}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print("Usuários da demo (PIN 1234): vendedor 123.456.789-09, gerente 567.890.123-03\n")
        return subprocess.call([sys.executable, "-m", "client"])
    except KeyboardInterrupt:
        return 130
    finally:
        for process, _ in nodes.values():
            process.terminate()
        for process, _ in nodes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
