"""python -m server --id N [--demo] (also `onsell-server`): run node N of CLUSTER until SIGINT or SIGTERM.

A signal only asks for the stop; the main thread then calls Node.stop(), which stops in order
(see server/app.py) and the process exits 0. A node of a cluster whose file turns out damaged (server/integrity.py)
is stopped, its file moved aside, and the process starts again (exec) on an empty file that catches up from its peers.
A node of a cluster that starts with no database file first copies the coordinator's (replication/snapshot_join.py)."""

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from dotenv import load_dotenv

from replication.snapshot_join import join_from_snapshot
from runtime.clock import SystemClock
from server.app import build_node
from server.config import ConfigError, load_config
from server.integrity import quick_check, set_aside
from server.memory import keep_large_blocks_mapped
from wire import tls

EXIT_CONFIG_ERROR = 2
EXIT_CANNOT_START = 1
SIGNAL_POLL_S = 0.5  # the main thread wakes this often to notice a stop request


def main(argv: list[str] | None = None, clock=None) -> int:
    """clock: the node's clock (default the system's; tests/skewed_node.py passes one that is off)."""
    parser = argparse.ArgumentParser(prog="onsell-server", description="Run one onsell node.")
    parser.add_argument("--id", type=int, required=True, help="this node's id in CLUSTER")
    parser.add_argument("--demo", action="store_true", help="load the demo chain into an empty database")
    args = parser.parse_args(argv)
    keep_large_blocks_mapped()  # before any thread allocates (server/memory.py)
    load_dotenv(Path.cwd() / ".env", override=False)
    try:
        config = load_config(args.id)
    except ConfigError as exc:
        print(f"onsell: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    logging.basicConfig(level=config.log_level, format=f"%(asctime)s node-{config.node_id} %(levelname)s %(message)s")
    log = logging.getLogger("onsell.server")
    stop_requested = threading.Event()

    def request_stop(signum, frame):
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    rebuildable = len(config.cluster) > 1  # a single node has no peer to rebuild from
    if rebuildable and not config.database_path.exists():
        _join_from_snapshot(config, clock, stop_requested, log)
        if stop_requested.is_set():
            return 0
    node = _build(config, args.demo, clock, rebuildable, log, stop_requested)
    if node is None:
        return EXIT_CANNOT_START
    log.info("onsell node %d starting (data in %s)", config.node_id, config.database_path)
    node.start()
    damaged = node.integrity.corrupt
    while not stop_requested.wait(SIGNAL_POLL_S) and not (rebuildable and damaged.is_set()):
        pass
    if not stop_requested.is_set():
        log.error("stepping down: this node's file is damaged; rebuilding it from the peers")
        node.stop()
        _set_aside(config, clock, log)
        # Start again as a new process (the same command line, the same pid): nothing of this run (its connections,
        # its peers' grants, its threads) outlives it, and the new run opens an empty file and catches up.
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    log.info("stopping: no new connections; waiting writes get up to %.1f s", config.stop_timeout_s)
    node.stop()
    log.info("node %d stopped", config.node_id)
    return 0


def _join_from_snapshot(config, clock, stop_requested: threading.Event, log) -> None:
    """No database file: copy the coordinator's before anything listens (replication/snapshot_join.py); if there is
    none to copy, the node starts on an empty file as before."""
    log.info("node %d has no database file (%s): looking for a coordinator's snapshot", config.node_id, config.database_path)
    peer_tls = tls.client_context(config.tls.ca, identity=config.tls) if config.tls else None
    try:
        join_from_snapshot(config, clock or SystemClock(), stop_requested, peer_tls)
    except OSError as exc:  # the folder cannot be written: the node's own start says so next
        log.error("could not make the database from a snapshot: %s", exc)
    except Exception:  # never a crash here: the node starts on an empty file and catches up from the log
        log.exception("could not make the database from a snapshot; starting on an empty file")


def _build(config, demo: bool, clock, rebuildable: bool, log, stop_requested: threading.Event):
    """The node, or None when it cannot start (logged); a file too damaged to open is set aside once, when peers can
    rebuild it (from the coordinator's snapshot)."""
    try:
        return build_node(config, demo=demo, clock=clock)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        if not (rebuildable and isinstance(exc, sqlite3.DatabaseError) and _damaged(config)):
            log.error("cannot start node %d: %s", config.node_id, exc)
            return None
        log.error("cannot start node %d on a damaged file (%s) [integrity_failed]", config.node_id, exc)
    _set_aside(config, clock, log)
    _join_from_snapshot(config, clock, stop_requested, log)
    if stop_requested.is_set():
        return None
    try:
        return build_node(config, demo=demo, clock=clock)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        log.error("cannot start node %d: %s", config.node_id, exc)
        return None


def _damaged(config) -> bool:
    try:
        return bool(quick_check(config.database_path))
    except sqlite3.OperationalError:  # could not even check: not known to be damaged
        return False


def _set_aside(config, clock, log) -> None:
    moved = set_aside(config.database_path, (clock or SystemClock()).now().strftime("%Y%m%dT%H%M%S%fZ"))
    log.warning("moved the damaged file to %s; rebuilding it from the peers [integrity_rebuilding moved_to=%s]", moved, moved.name)


def run() -> None:
    """Console script entry point: onsell-server."""
    sys.exit(main())


if __name__ == "__main__":
    run()
