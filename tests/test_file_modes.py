"""Files a node keeps are its owner's alone (trust issue, item 11): DATA_DIR 0700; the database, its -wal and -shm,
and a single node's cluster-secret 0600, whatever the umask; older, wider ones are warned about, not refused."""

import os
import subprocess
import sys

from support import ROOT, ServerProcess, free_port

UMASK_000 = ["sh", "-c", 'umask 000 && exec "$0" "$@"']  # the most permissive umask a node could be started with


def mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_a_node_started_with_umask_000_makes_its_folder_and_files_for_its_owner_only(tmp_path):
    data = tmp_path / "fresh" / "data"
    node = ServerProcess(tmp_path / "run", env={"DATA_DIR": str(data), "CLUSTER_SECRET": ""})
    node.launcher = UMASK_000 + [sys.executable, "-m", "server"]
    try:
        node.start()
        files = {p.name: mode(p) for p in data.iterdir()}
        assert mode(data) == 0o700
        assert files == {"node-1.db": 0o600, "node-1.db-wal": 0o600, "node-1.db-shm": 0o600, "cluster-secret": 0o600}, files
        assert not node.has_event("readable_by_others")
    finally:
        node.stop()


def test_wider_rights_made_earlier_are_warned_about_and_the_node_still_serves(tmp_path):
    data = tmp_path / "data"
    first = ServerProcess(tmp_path / "run", env={"DATA_DIR": str(data), "CLUSTER_SECRET": ""})
    first.start()
    first.stop()
    for path, wide in ((data, 0o755), (data / "node-1.db", 0o644), (data / "cluster-secret", 0o644)):
        os.chmod(path, wide)
    again = ServerProcess(tmp_path / "run-again", env={"DATA_DIR": str(data), "CLUSTER_SECRET": ""}, port=first.port)
    try:
        again.start()  # ready means it answered ping: warned, not refused
        for name, wide in (("data", "755"), ("node-1.db", "644"), ("cluster-secret", "644")):
            assert again.has_event("readable_by_others", name=name, mode=int(wide)), name
    finally:
        again.stop()


def test_make_demo_makes_its_data_folder_for_its_owner_only(tmp_path, demo_server):
    """client.demo creates DATA_DIR before starting the nodes (here it stops there: a node already answers)."""
    data = tmp_path / "demo-data"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(data),
           "CLUSTER": f"1=127.0.0.1:{demo_server.port},2=127.0.0.1:{free_port()}"}
    done = subprocess.run(UMASK_000 + [sys.executable, "-m", "client.demo"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stderr  # "Já há um servidor onsell em ...": it would not start a second demo
    assert mode(data) == 0o700
