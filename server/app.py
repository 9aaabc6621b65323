"""Wiring: from a Config to a running node (database, change log, cluster role, controllers, TCP)."""

import logging
import threading
from dataclasses import dataclass

from db.catalogue import CatalogueRepository
from db.changes import ChangeLog
from db.database import Database
from db.demo import load_demo
from db.reports import ReportsRepository
from db.sales import SalesRepository
from db.users import UserRepository
from models.cluster import format_address
from models.dates import today_in
from server.clock import SystemClock, iso_utc
from server.cluster import ClusterNode, SingleNode
from server.config import Config
from server.controllers.auth import AuthController
from server.controllers.catalogue import CatalogueController
from server.controllers.cluster import ClusterController
from server.controllers.reports import ReportsController
from server.controllers.sales import SalesController
from server.dispatch import Dispatcher
from server.login_throttle import LOGIN_WINDOW_S, LoginThrottle
from server.pins import hash_pin
from server.tcp import RpcServer
from server.tokens import TokenSigner

log = logging.getLogger("onsell.server")


@dataclass
class Node:
    config: Config
    database: Database
    server: RpcServer
    cluster: SingleNode | ClusterNode

    def serve_forever(self) -> None:
        host, port = self.server.server_address[:2]
        log.info("node %d listening on %s", self.config.node_id, format_address((host, port)))
        self.cluster.start()
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, stop the cluster role, then let queued writes finish and close the database."""
        threading.Thread(target=self.server.shutdown, daemon=True).start()
        self.server.server_close()
        self.cluster.stop()
        self.database.close()


def build_node(config: Config, demo: bool = False, clock=None) -> Node:
    clock = clock or SystemClock()
    database = Database(config.database_path, config.node_id)
    cluster: SingleNode | ClusterNode | None = None
    changes = ChangeLog(config.node_id, lambda: cluster.local_epoch())
    database.read(changes.load)
    database.after_commit.append(changes.on_commit)

    def load_demo_data() -> None:
        loaded = load_demo(database, changes, today_in(config.timezone, clock.now()), hash_pin, iso_utc(clock.now()))
        log.info("demo data %s", "loaded" if loaded else "skipped: the database already has data")

    if len(config.cluster) == 1:
        cluster = SingleNode(config.node_id, config.address, changes)
        if demo:
            load_demo_data()
    else:
        # In a cluster the demo data is loaded by whichever node first serves as coordinator with no data at all.
        on_serving = (lambda: load_demo_data() if changes.position() == 0 else None) if demo else None
        cluster = ClusterNode(config, database, changes, lambda: iso_utc(clock.now()), on_serving)
    users = UserRepository(database, changes)
    catalogue = CatalogueRepository(database)
    sales = SalesRepository(database, changes)
    reports = ReportsRepository(database)
    tokens = TokenSigner(config.secret)
    throttle = LoginThrottle(config.login_max_failures, LOGIN_WINDOW_S, config.login_lock_s)
    controllers = [
        AuthController(users, tokens, throttle, clock, cluster),
        SalesController(sales, reports, catalogue, users, clock, config.timezone, cluster),
        ReportsController(reports, users, catalogue),
        CatalogueController(catalogue, users),
        ClusterController(cluster),
    ]
    dispatcher = Dispatcher.build([c.methods() for c in controllers] + [cluster.peer_methods()], tokens, clock.wall_s,
                                  gate=cluster.require_coordinator, peer_auth=getattr(cluster, "auth", None))
    server = RpcServer(config.address, dispatcher, config.max_connections, config.max_line_bytes, config.idle_timeout_s)
    return Node(config, database, server, cluster)
