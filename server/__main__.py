"""python -m server --id N [--demo] (also `onsell-server`): run node N of CLUSTER until SIGINT or SIGTERM.

A signal only asks for the stop; the main thread then calls Node.stop(), which stops in order
(see server/app.py) and the process exits 0."""

import argparse
import logging
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from dotenv import load_dotenv

from server.app import build_node
from server.config import ConfigError, load_config

EXIT_CONFIG_ERROR = 2
EXIT_CANNOT_START = 1
SIGNAL_POLL_S = 0.5  # the main thread wakes this often to notice a stop request


def main(argv: list[str] | None = None, clock=None) -> int:
    """clock: the node's clock (default the system's; tests/skewed_node.py passes one that is off)."""
    parser = argparse.ArgumentParser(prog="onsell-server", description="Run one onsell node.")
    parser.add_argument("--id", type=int, required=True, help="this node's id in CLUSTER")
    parser.add_argument("--demo", action="store_true", help="load the demo chain into an empty database")
    args = parser.parse_args(argv)
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
    try:
        node = build_node(config, demo=args.demo, clock=clock)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        log.error("cannot start node %d: %s", config.node_id, exc)
        return EXIT_CANNOT_START
    log.info("onsell node %d starting (data in %s)", config.node_id, config.database_path)
    node.start()
    while not stop_requested.wait(SIGNAL_POLL_S):
        pass
    log.info("stopping: no new connections; waiting writes get up to %.1f s", config.stop_timeout_s)
    node.stop()
    log.info("node %d stopped", config.node_id)
    return 0


def run() -> None:
    """Console script entry point: onsell-server."""
    sys.exit(main())


if __name__ == "__main__":
    run()
