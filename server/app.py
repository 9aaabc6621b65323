"""Wiring: from a Config to a running node (database, repositories, controllers, dispatcher, TCP)."""

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
from models.dates import today_in
from models.cluster import format_address
from server.clock import SystemClock, iso_utc
from server.config import Config
from server.controllers.auth import AuthController
from server.controllers.catalogue import CatalogueController
from server.controllers.cluster import ClusterController
from server.controllers.reports import ReportsController
from server.controllers.sales import SalesController
from server.dispatch import Dispatcher
from server.login_throttle import LOGIN_WINDOW_S, LoginThrottle
from server.node import SINGLE_NODE_EPOCH, SingleNodeView
from server.pins import hash_pin
from server.tcp import RpcServer
from server.tokens import TokenSigner

log = logging.getLogger("onsell.server")


@dataclass
class Node:
    config: Config
    database: Database
    server: RpcServer

    def serve_forever(self) -> None:
        host, port = self.server.server_address[:2]
        log.info("node %d listening on %s", self.config.node_id, format_address((host, port)))
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, then let queued writes finish and close the database."""
        threading.Thread(target=self.server.shutdown, daemon=True).start()
        self.server.server_close()
        self.database.close()


def build_node(config: Config, demo: bool = False, clock=None) -> Node:
    clock = clock or SystemClock()
    database = Database(config.database_path, config.node_id)
    changes = ChangeLog(config.node_id, lambda: SINGLE_NODE_EPOCH)
    database.read(changes.load)
    database.after_commit.append(changes.on_commit)
    users = UserRepository(database, changes)
    catalogue = CatalogueRepository(database)
    sales = SalesRepository(database, changes)
    reports = ReportsRepository(database)
    if demo:
        loaded = load_demo(database, changes, today_in(config.timezone, clock.now()), hash_pin, iso_utc(clock.now()))
        log.info("demo data %s", "loaded" if loaded else "skipped: the database already has data")
    tokens = TokenSigner(config.secret)
    throttle = LoginThrottle(config.login_max_failures, LOGIN_WINDOW_S, config.login_lock_s)
    controllers = [
        AuthController(users, tokens, throttle, clock),
        SalesController(sales, reports, catalogue, users, clock, config.timezone),
        ReportsController(reports, users, catalogue),
        CatalogueController(catalogue, users),
        ClusterController(SingleNodeView(config.node_id, config.address)),
    ]
    dispatcher = Dispatcher.build([c.methods() for c in controllers], tokens, clock.wall_s)
    server = RpcServer(config.address, dispatcher, config.max_connections, config.max_line_bytes, config.idle_timeout_s)
    return Node(config, database, server)
