"""The product as a user installs it: a wheel built from this repository, installed (not editable) into a
fresh virtual environment, run through its console scripts from a directory outside the repository with
no PYTHONPATH. A three-node cluster comes up (`onsell-server --id N --demo`), node 3 coordinates, the
`onsell` client records a sale and a manager's report shows it, and every node stops cleanly on SIGTERM.

So a package left out of the wheel, a module the installed code cannot import, a file read relative to
the repository, or a console script that points nowhere fails here, not on a till."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from support import RawClient, free_ports, wait_until

from runtime.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
SELLER = {"ONSELL_CPF": "12345678909", "ONSELL_PIN": "1234"}
MANAGER = {"ONSELL_CPF": "56789012303", "ONSELL_PIN": "1234"}
SECRET = "install-test-secret-0123456789"
NODES = (1, 2, 3)
BUILD_TIMEOUT_S = 180      # the wheel, the venv, the install (pip may fetch setuptools and python-dotenv)
COORDINATOR_TIMEOUT_S = 30
CLIENT_TIMEOUT_S = 30
STOP_TIMEOUT_S = 8         # SIGTERM to exit: the node's own STOP_TIMEOUT_MS (1.5 s) plus its 0.5 s signal poll, and room
# keys that would leak the developer's configuration (or this repository) into the installed programs
LEAKY = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV"} | {s.key for s in SETTINGS}


def run(args: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding the wheel of this repository (built once for the module)."""
    base = tmp_path_factory.mktemp("install")
    assert ROOT not in base.resolve().parents, "the test must run outside the repository"
    wheels = base / "wheels"
    # setuptools builds in the source tree (build/, onsell.egg-info/): an extra distutils config sends both to
    # the temporary directory, so the repository is left as it was and no earlier build/ leaks into this wheel
    extra_config = base / "setup-extra.cfg"
    extra_config.write_text(f"[build]\nbuild_base = {base / 'build'}\n[egg_info]\negg_base = {base}\n")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, ROOT], BUILD_TIMEOUT_S,
        env=clean_env(DIST_EXTRA_CONFIG=str(extra_config)))
    (wheel,) = wheels.glob("onsell-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
    product = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    metadata = {name for name in top if name.startswith("onsell-") and name.endswith(".dist-info")}
    assert len(metadata) == 1 and top - metadata == product, \
        f"the wheel should hold the product's packages ({sorted(product)}) and its metadata, nothing else: {sorted(top)}"
    venv = base / "venv"
    run([sys.executable, "-m", "venv", venv], BUILD_TIMEOUT_S, env=clean_env(), cwd=base)
    bin_dir = venv / "bin"
    # not editable; python-dotenv, the only dependency, comes from the package index (or pip's cache)
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", wheel], BUILD_TIMEOUT_S, env=clean_env(), cwd=base)
    return bin_dir


def test_the_installed_wheel_holds_every_package_and_imports_nothing_from_the_repository(installed, tmp_path):
    """The wheel holds exactly the product's packages, and the installed ones import from the venv, not the repository."""
    code = ("import importlib, json\n"
            "names = ['client', 'server', 'models', 'db', 'election', 'replication', 'runtime', 'wire', 'dotenv']\n"
            "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))")
    done = run([installed / "python", "-c", code], 60, env=clean_env(), cwd=tmp_path)
    site = installed.parent.resolve()
    for name, path in json.loads(done.stdout).items():
        assert site in Path(path).resolve().parents, f"{name} imported from {path}, not from the installed wheel"
    for script in ("onsell", "onsell-server"):
        assert (installed / script).exists(), f"the wheel installs no {script} console script"
    usage = run([installed / "onsell", "--help"], 60, env=clean_env(), cwd=tmp_path).stdout
    assert usage.startswith("uso: onsell "), usage[:80]  # its help names the command that was run


class Node:
    def __init__(self, node_id: int, bin_dir: Path, cwd: Path, log_dir: Path, env: dict):
        self.node_id = node_id
        self.log_path = log_dir / f"node-{node_id}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([str(bin_dir / "onsell-server"), "--id", str(node_id), "--demo"], cwd=cwd, env=env,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def logs(nodes: dict[int, Node]) -> str:
    return "\n".join(f"--- node {n} (exit {node.process.poll()}) ---\n{node.log()[-4000:]}" for n, node in nodes.items())


def raw_call(port: int, method: str) -> dict | None:
    """A method's result over a raw socket, as any JSON-RPC client would ask; None when the node does not answer it."""
    try:
        client = RawClient(port, timeout=2)
    except OSError:
        return None
    try:
        return client.call(method).get("result")
    except (OSError, ValueError):
        return None
    finally:
        client.close()


def wait_for_coordinator(nodes: dict[int, Node], ports: dict[int, int], coordinator: int) -> None:
    """Until every node names `coordinator`, it says it coordinates, and it serves the demo chain's stores."""
    def settled() -> bool:
        dead = [n for n, node in nodes.items() if node.process.poll() is not None]
        assert not dead, f"node {dead[0]} exited before the cluster came up:\n{logs(nodes)}"
        statuses = {n: raw_call(port, "cluster.status") for n, port in ports.items()}
        return (all(s and s.get("coordinator_id") == coordinator for s in statuses.values())
                and statuses[coordinator].get("role") == "coordinator"
                and bool((raw_call(ports[coordinator], "stores.list") or {}).get("stores")))
    try:
        wait_until(settled, COORDINATOR_TIMEOUT_S, interval=0.1, what=f"node {coordinator} to coordinate")
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n{logs(nodes)}") from None


def stop(nodes: dict[int, Node]) -> dict[int, int | None]:
    """SIGTERM to every live node, then each one's exit status (None: still running after STOP_TIMEOUT_S, then killed)."""
    for node in nodes.values():
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    codes = {}
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for n, node in nodes.items():
        try:
            codes[n] = node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            codes[n] = None
            node.process.kill()
            node.process.wait(timeout=10)
    return codes


def test_an_installed_cluster_records_a_sale_and_reports_it(installed, tmp_path):
    """Installed, outside the repository: three onsell-server nodes elect node 3, onsell records a sale, a report counts
    it, and SIGTERM stops each node with status 0."""
    work = tmp_path / "work"  # the current directory of every program: outside the repository, no .env
    work.mkdir()
    ports = dict(zip(NODES, free_ports(len(NODES))))
    cluster = ",".join(f"{n}=127.0.0.1:{p}" for n, p in ports.items())
    env = clean_env(CLUSTER=cluster, CLUSTER_SECRET=SECRET, DATA_DIR=str(tmp_path / "data"))
    client_env = {**env, "ONSELL_QUEUE": str(tmp_path / "queue.db")}

    def onsell(*args: str, who: dict | None = None) -> subprocess.CompletedProcess:
        try:
            return run([installed / "onsell", *args], CLIENT_TIMEOUT_S, env={**client_env, **(who or {})}, cwd=work)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{logs(nodes)}") from None

    def store_total(store_id: str) -> tuple[int, Decimal]:
        result = json.loads(onsell("report", "store-total", "--store", store_id, "--format", "json", who=MANAGER).stdout)
        assert result["store"]["id"] == store_id
        return result["count"], Decimal(result["total"])

    nodes: dict[int, Node] = {}
    try:
        for n in NODES:
            nodes[n] = Node(n, installed, work, tmp_path, env)
        wait_for_coordinator(nodes, ports, coordinator=3)
        stores = json.loads(onsell("stores", "--format", "json").stdout)["stores"]
        assert stores, f"the demo chain was not loaded:\n{logs(nodes)}"
        store = stores[0]
        count_before, total_before = store_total(store["id"])
        sale = onsell("sale", "--store", store["id"], "--amount", "10,50", who=SELLER)
        assert f"Venda registrada: R$ 10,50 em {store['name']}" in sale.stdout
        count_after, total_after = store_total(store["id"])
        assert (count_after - count_before, total_after - total_before) == (1, Decimal("10.50"))
    finally:
        codes = stop(nodes)
    assert codes == {n: 0 for n in NODES}, f"every node must exit 0 within {STOP_TIMEOUT_S}s of SIGTERM: {codes}\n{logs(nodes)}"
    assert list(work.iterdir()) == [], "the programs wrote into their working directory, not DATA_DIR / ONSELL_QUEUE"
