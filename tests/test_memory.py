"""What a node holds in memory: SQLite's page cache within PAGE_CACHE_MB shared among its connections, READ_CONNECTIONS
readers, no memory-mapped file, and the 16 MiB blocks of PIN checks given back once done (server/memory.py)."""

import threading
from pathlib import Path

import pytest
from support import DEMO_PIN, DEMO_SELLER_CPF, ServerProcess

from db.database import Database
from server.config import ConfigError, load_config

SIGN_INS_AT_ONCE = 8
ROUNDS = 3


def test_the_page_cache_budget_is_shared_among_the_writer_and_the_readers(tmp_path):
    db = Database(tmp_path / "m.db", read_connections=3, page_cache_mb=8)
    try:
        readers = []
        for _ in range(3):
            readers.append(db._readers.get_nowait())
        assert db._readers.empty()
        for conn in [db._writer_conn, *readers]:
            assert conn.execute("PRAGMA cache_size").fetchone()[0] == -(8 * 1024 // 4)
            assert conn.execute("PRAGMA mmap_size").fetchone()[0] == 0
        for conn in readers:
            db._readers.put(conn)
    finally:
        db.close()


def test_the_settings_reach_the_config_and_a_value_that_cannot_work_names_its_key(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "CLUSTER": "1=127.0.0.1:1", "CLUSTER_SECRET": "s" * 20}
    config = load_config(1, env={**env, "READ_CONNECTIONS": "2", "PAGE_CACHE_MB": "16"})
    assert (config.read_connections, config.page_cache_mb) == (2, 16)
    with pytest.raises(ConfigError, match="READ_CONNECTIONS"):
        load_config(1, env={**env, "READ_CONNECTIONS": "0"})


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_node_gives_back_the_memory_of_many_pin_checks_at_once(tmp_path):
    """Each PIN check takes 16 MiB (scrypt); before server/memory.py glibc kept them after the first few, for good."""
    server = ServerProcess(tmp_path, demo=True, env={"LOG_LEVEL": "WARNING"}).start()
    try:
        assert "result" in server.call("auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN)
        before = rss_mb(server.process.pid)
        answers = []

        def sign_in():
            answers.append(server.call("auth.login", cpf=DEMO_SELLER_CPF, pin=DEMO_PIN))
        for _ in range(ROUNDS):
            threads = [threading.Thread(target=sign_in) for _ in range(SIGN_INS_AT_ONCE)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert not any(t.is_alive() for t in threads), "sign-ins still waiting after 60 s"
        assert len(answers) == ROUNDS * SIGN_INS_AT_ONCE and all("result" in a for a in answers)
        grown = rss_mb(server.process.pid) - before
        assert grown < 40, f"the node holds {grown:.0f} MB more after {ROUNDS * SIGN_INS_AT_ONCE} sign-ins"
    finally:
        server.stop()
