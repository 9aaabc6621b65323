"""python -m server --id N [--demo]: run node N of CLUSTER until SIGINT or SIGTERM."""

import argparse
import logging
import signal
import sqlite3
import sys
from pathlib import Path

from dotenv import load_dotenv

from server.app import build_node
from server.config import ConfigError, load_config

EXIT_CONFIG_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="Run one onsell node.")
    parser.add_argument("--id", type=int, required=True, help="this node's id in CLUSTER")
    parser.add_argument("--demo", action="store_true", help="load the demo chain into an empty database")
    args = parser.parse_args(argv)
    load_dotenv(Path.cwd() / ".env", override=False)
    try:
        config = load_config(args.id)
    except ConfigError as exc:
        print(f"onsell: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    logging.basicConfig(
        level=config.log_level,
        format=f"%(asctime)s node-{config.node_id} %(levelname)s %(message)s",
    )
    log = logging.getLogger("onsell.server")
    try:
        node = build_node(config, demo=args.demo)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        log.error("cannot start node %d: %s", config.node_id, exc)
        return 1

    def stop(signum, frame):
        log.info("stopping on signal %d", signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    log.info("onsell node %d starting (data in %s)", config.node_id, config.database_path)
    try:
        node.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        node.server.server_close()
        node.database.close()
        log.info("node %d stopped", config.node_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
