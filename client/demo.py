"""python -m client.demo: what `make demo` runs.

Starts a three-node cluster on loopback (CLUSTER, when it names several
nodes, else DEMO_CLUSTER) with a freshly generated secret and the demo data,
over TLS with a throw-away CA and node certificate made in DATA_DIR/tls
(client/demo_tls.py; unless TLS_CERT, TLS_KEY and TLS_CA are set already, or
there is no `openssl` command: then in clear, on loopback only),
each node logging to DATA_DIR/node-N.log and serving /metrics on 127.0.0.1:910N;
waits until a coordinator serves; prints each node's pid and how to kill and
restart the primary; runs the interactive client as the terminal's foreground
process group (Ctrl+C reaches only the client; the nodes have sessions of their
own); stops the nodes when the client exits, also those restarted with
DATA_DIR/start-node.sh.
"""

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

from dotenv import load_dotenv

from client.config import ClientConfigError, tls_context
from client.connection import Connection, ServerUnreachable
from client.demo_tls import CannotMakeCertificates, make_certificates
from models.cluster import format_address, parse_cluster
from models.errors import ValidationError
from runtime import settings
from runtime.clock import SystemClock
from wire.jsonrpc import encode_request

DEMO_CLUSTER = "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"
STARTUP_TIMEOUT_S = 30.0
DEMO_METRICS_BASE_PORT = 9100  # node N: 127.0.0.1:910N


TLS_KEYS = ("TLS_CERT", "TLS_KEY", "TLS_CA")


def port_taken(address: tuple[str, int]) -> bool:
    """True when something (an onsell node or anything else) already listens there."""
    try:
        with socket.create_connection(address, timeout=1.0):
            return True
    except OSError:
        return False


def answers_ping(address: tuple[str, int]) -> bool:
    """True when something listens there and answers a ping, or speaks only TLS (a node of an earlier demo, say)."""
    try:
        with socket.create_connection(address, timeout=1.0) as sock:
            sock.settimeout(2.0)
            sock.sendall(encode_request("ping", {}, 1))
            answer = sock.recv(4096)
            return b'"result"' in answer or b'"tls_required"' in answer
    except OSError:
        return False


def with_tls(env: dict, data_dir: Path, cluster: dict) -> dict:
    """env with TLS_CERT, TLS_KEY and TLS_CA: those given, else a new throw-away CA and node certificate in
    data_dir/tls; unchanged (plaintext, loopback only) when they cannot be made."""
    if all(settings.optional(env, key) for key in TLS_KEYS):
        return env
    try:
        files = make_certificates(data_dir / "tls", sorted({host for host, _ in cluster.values()}))
    except CannotMakeCertificates as exc:
        print(f"Aviso: sem TLS nesta demo ({exc}); os nós falam em texto claro, só em loopback.", file=sys.stderr)
        return env
    return {**env, "TLS_CERT": str(files.cert), "TLS_KEY": str(files.key), "TLS_CA": str(files.ca)}


def main() -> int:
    load_dotenv(Path.cwd() / ".env", override=False)
    environment = settings.environment()
    cluster_text = settings.text(environment, "CLUSTER")
    try:
        if len(parse_cluster(cluster_text)) < 2:
            cluster_text = DEMO_CLUSTER
    except ValidationError as exc:
        print(f"CLUSTER inválido: {exc.reason}", file=sys.stderr)
        return 2
    cluster = parse_cluster(cluster_text)
    env = {**environment, "CLUSTER": cluster_text,
           "CLUSTER_SECRET": environment.get("CLUSTER_SECRET") or secrets.token_urlsafe(24)}
    data_dir = Path(settings.text(env, "DATA_DIR"))
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the nodes' databases hold PIN hashes
    env = with_tls(env, data_dir, cluster)
    try:
        client_tls = tls_context(env)
    except ClientConfigError as exc:
        print(f"onsell: {exc}", file=sys.stderr)
        return 2
    taken = [n for n, address in sorted(cluster.items()) if port_taken(address)]
    if taken:
        for node_id in taken:
            address = cluster[node_id]
            pids = listening_pids(address[1])
            whose = "um servidor onsell" if answers_ping(address) else "outro programa"
            how = f" (pid {', '.join(map(str, pids))}): pare-o com  kill {' '.join(map(str, pids))}" if pids else ""
            print(f"Já há {whose} em {format_address(address)}{how}", file=sys.stderr)
        print(f"{'Pare-os' if len(taken) > 1 else 'Pare-o'} e rode a demo de novo, ou escolha outras portas em CLUSTER num arquivo .env "
              "(veja .env.example).", file=sys.stderr)
        return 1
    for node_id in cluster:  # pid files of an earlier demo name processes that may be anything by now
        (data_dir / f"node-{node_id}.pid").unlink(missing_ok=True)
    nodes = {}
    # A closed terminal (SIGHUP) or a kill (SIGTERM) ends the demo as leaving the client does: the nodes are stopped.
    for stop_signal in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(stop_signal, _leave)
    for node_id in sorted(cluster):
        log_path = data_dir / f"node-{node_id}.log"
        with open(log_path, "a") as log_file:
            # a session of their own: Ctrl+C in the client's terminal reaches the client, never the nodes
            process = subprocess.Popen([sys.executable, "-m", "server", "--id", str(node_id), "--demo"],
                                       env={**env, **metrics_env(env, node_id)}, stdout=log_file, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        nodes[node_id] = (process, log_path)
        print(f"nó {node_id}: pid {process.pid}, em {format_address(cluster[node_id])}, log em {log_path}")
    try:
        if client_tls is not None:
            print(f"TLS: autoridade (CA) em {env['TLS_CA']}; o cliente a usa pela variável TLS_CA")
        if not wait_for_coordinator(cluster, nodes, tls=client_tls):
            return 1
        explain(cluster, nodes, write_start_script(env, data_dir), env)
        return run_in_foreground([sys.executable, "-m", "client"], env)
    except KeyboardInterrupt:
        return 130
    finally:
        for process, _ in nodes.values():
            if process.poll() is None:
                process.terminate()
        for process, _ in nodes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        stop_restarted_nodes(data_dir, cluster)


def _leave(signum, frame) -> None:
    raise SystemExit(128 + signum)


def metrics_env(env: dict, node_id: int) -> dict:
    """Where node N of the demo serves /metrics and /healthz: METRICS_ADDRESS when set, else 127.0.0.1:910N."""
    if settings.optional(env, "METRICS_ADDRESS"):
        return {}
    return {"METRICS_ADDRESS": f"127.0.0.1:{DEMO_METRICS_BASE_PORT + node_id}"}


def run_in_foreground(args: list[str], env: dict) -> int:
    """Run the client as the terminal's foreground process group, alone: Ctrl+C (and Ctrl+Z) reach it and not make,
    this launcher or the nodes, so only leaving the client ends the demo. Without a terminal, a plain child."""
    if not sys.stdin.isatty():
        return subprocess.call(args, env=env)
    terminal = sys.stdin.fileno()

    def take_the_terminal() -> None:  # in the child, before exec: its own group, in front
        os.setpgid(0, 0)
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(terminal, os.getpgrp())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)

    process = subprocess.Popen(args, env=env, preexec_fn=take_the_terminal)  # preexec_fn: this launcher runs no other thread
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # giving the terminal back from the background
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:  # not ours to act on: the client has the terminal
                continue
    finally:
        try:
            os.tcsetpgrp(terminal, os.getpgrp())
        except OSError:
            pass
        signal.signal(signal.SIGTTOU, previous)


def listening_pids(port: int) -> list[int]:
    """Pids of this user's processes listening on TCP `port` (from /proc: the socket's inode, then who holds it); []
    where /proc cannot tell."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    pids = set()
    for process in Path("/proc").iterdir():
        if not process.name.isdigit() or not inodes:
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                pids.add(int(process.name))
        except OSError:
            continue  # gone, or not ours
    return sorted(pids)


def stop_restarted_nodes(data_dir: Path, cluster: dict) -> None:
    """SIGTERM to the nodes that data/start-node.sh started during this demo (their pids are in data/node-N.pid)."""
    for node_id in cluster:
        pid_file = data_dir / f"node-{node_id}.pid"
        try:
            pid = int(pid_file.read_text().strip())
            pid_file.unlink()
            if is_node_process(pid, node_id):  # still that node, not a reused pid
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            continue  # no such file, or the node is already gone


def is_node_process(pid: int, node_id: int) -> bool:
    """True when process `pid` runs `python -m server --id node_id` (read from /proc; False where it cannot be read)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    serves = b"server" in argv or any(a.endswith(b"onsell-server") for a in argv)
    return serves and any(a == b"--id" and b == str(node_id).encode() for a, b in zip(argv, argv[1:]))


def wait_for_coordinator(cluster: dict, nodes: dict, clock=None, tls=None) -> bool:
    clock = clock or SystemClock()
    deadline = clock.monotonic_s() + STARTUP_TIMEOUT_S
    connection = Connection(cluster, failover_timeout_s=1.0, clock=clock, tls_context=tls)
    try:
        while True:
            dead = [n for n, (p, _) in nodes.items() if p.poll() is not None]
            if dead:
                print(f"O nó {dead[0]} não subiu; veja {nodes[dead[0]][1]}", file=sys.stderr)
                return False
            try:
                connection.call("networks.list")
                return True
            except ServerUnreachable:
                if clock.monotonic_s() > deadline:
                    print("Nenhum coordenador respondeu; veja os logs em", ", ".join(str(p) for _, p in nodes.values()), file=sys.stderr)
                    return False
    finally:
        connection.close()


def write_start_script(env: dict, data_dir: Path) -> Path:
    """data/start-node.sh N: starts node N of this demo cluster again, logging to the same file as before
    (data/node-N.log), in the background; it holds the demo's secret, so 0700."""
    path = data_dir / "start-node.sh"
    tls_env = "".join(f"{key}={shlex.quote(env[key])} " for key in TLS_KEYS if env.get(key))
    given = settings.optional(env, "METRICS_ADDRESS")
    metrics = f"METRICS_ADDRESS={shlex.quote(given) if given else f'127.0.0.1:$(({DEMO_METRICS_BASE_PORT} + node))'}"
    path.write_text("#!/bin/sh\n# Starts node N of the cluster that `make demo` runs: sh " + str(path) + " N\n"
                    "node=\"${1:?node id}\"\n"
                    f"CLUSTER={shlex.quote(env['CLUSTER'])} CLUSTER_SECRET={shlex.quote(env['CLUSTER_SECRET'])} {tls_env}"
                    f"DATA_DIR={shlex.quote(str(data_dir))} {metrics} {shlex.quote(sys.executable)} -m server --id \"$node\" "
                    f">> {shlex.quote(str(data_dir))}/node-\"$node\".log 2>&1 &\n"
                    f"echo $! > {shlex.quote(str(data_dir))}/node-\"$node\".pid  # the demo stops it when it ends\n"
                    "echo \"nó $node: pid $!, log em " + str(data_dir) + "/node-$node.log\"\n")
    path.chmod(0o700)
    return path


def metrics_url(env: dict, node_id: int) -> str:
    given = settings.optional(env, "METRICS_ADDRESS")
    if given:
        address = parse_cluster(given if "=" in given else f"{node_id}={given}").get(node_id)
        return f"http://{format_address(address)}" if address else "(METRICS_ADDRESS não tem este nó)"
    return f"http://127.0.0.1:{DEMO_METRICS_BASE_PORT + node_id}"


def explain(cluster: dict, nodes: dict, start_script: Path, env: dict) -> None:
    primary = max(cluster)
    print(f"""
Usuários da demo (PIN 1234): vendedor 123.456.789-09, gerente 567.890.123-03
Para ver a eleição, em outro terminal:
  tail -f {' '.join(str(p) for _, p in nodes.values())}
  kill -9 {nodes[primary][0].pid}        # derruba o servidor principal (nó {primary})
e para trazê-lo de volta:
  sh {start_script} {primary}
Métricas e saúde do nó {primary}: curl -s {metrics_url(env, primary)}/metrics  (e /healthz)
""")


if __name__ == "__main__":
    sys.exit(main())
