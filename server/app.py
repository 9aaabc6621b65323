"""Wiring: from a Config to a running node. Everything is built here, once, in order: the database and
its change log, the node's cluster role, the ledger (the one write path), repositories, controllers,
the dispatcher and the TCP server. Node.stop() takes it down in the reverse order."""

import logging
import threading
from dataclasses import dataclass

from db.catalogue import CatalogueRepository
from db.changes import ChangeLog
from db.database import Database, warn_if_others_can_read
from db.demo import demo_write
from db.reports import ReportsRepository
from db.sales import SalesRepository
from db.users import UserRepository
from models.cluster import format_address
from models.dates import today_in
from models.pins import hash_pin
from runtime.clock import SystemClock, iso_utc
from runtime.events import event
from server.accounts import Accounts
from server.caches import Directory
from server.cluster import ClusterNode, SingleNode
from server.config import SECRET_FILE, Config
from server.controllers.auth import AuthController
from server.controllers.catalogue import CatalogueController
from server.controllers.cluster import ClusterController
from server.controllers.people import PeopleController
from server.controllers.reports import ReportsController
from server.controllers.sales import SalesController
from server.controllers.sales_import import SalesImportController
from server.dispatch import Dispatcher
from server.integrity import IntegrityMonitor
from server.ledger import Ledger
from server.login_throttle import LOGIN_WINDOW_S, LoginThrottle
from server.metrics import MetricsServer, NodeMetrics
from server.tcp import RpcServer
from server.throttle_sync import ThrottleSync
from server.tokens import TokenSigner
from wire import tls
from wire.jsonrpc import RpcError

log = logging.getLogger("onsell.server")
ACCEPT_POLL_S = 0.2  # how often the accept loop looks for a stop request
STOP_GRACE_S = 0.3  # after STOP_TIMEOUT_MS, what threads and requests in flight get to end before the database closes


@dataclass
class Node:
    config: Config
    clock: object
    database: Database
    cluster: SingleNode | ClusterNode
    ledger: Ledger
    dispatcher: Dispatcher
    server: RpcServer | None = None  # None: built without sockets (in-process tests)
    metrics_server: MetricsServer | None = None  # None: METRICS_ADDRESS is off
    throttle_sync: ThrottleSync | None = None  # in a cluster: the sign-in throttle shipped to the other nodes
    integrity: IntegrityMonitor | None = None  # None: nobody checks the file (in-process tests)

    def start(self) -> "Node":
        """Start the cluster role and, with a server, serve on a thread of its own; returns at once."""
        self.cluster.start()
        if self.throttle_sync is not None:
            self.throttle_sync.start()
        if self.integrity is not None:
            self.integrity.start()  # in the background: the check does not delay the start
        if self.server is not None:
            host, port = self.server.server_address[:2]
            log.info("node %d listening on %s (%s)", self.config.node_id, format_address((host, port)),
                     "TLS only" if self.config.tls else "plaintext")
            if self.config.tls is None and not tls.is_loopback(host):
                log.warning("%s", event("plaintext_listener", f"serving in clear on {host}, which is not a loopback address "
                                        "(ALLOW_PLAINTEXT=on): PINs, tokens and peer messages cross the network unencrypted").line())
            threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": ACCEPT_POLL_S}, name="tcp-accept",
                             daemon=True).start()
        if self.metrics_server is not None:
            self.metrics_server.start()
            log.info("node %d serves /metrics and /healthz on http://%s", self.config.node_id,
                     format_address(self.metrics_server.address))
        return self

    def stop(self) -> None:
        """Stop accepting; let waiting writes finish until STOP_TIMEOUT_MS (refusing the rest with `unavailable`);
        stop the election and replication; answer requests in flight; close the database."""
        writes_deadline = self.clock.monotonic_s() + self.config.stop_timeout_s
        threads_deadline = writes_deadline + STOP_GRACE_S
        if self.server is not None:
            self.server.shutdown()  # the accept loop ends
            self.server.server_close()  # the listening socket closes: new connections are refused
        if self.integrity is not None:
            self.integrity.stop()
        self.cluster.stop(writes_deadline, threads_deadline)
        if self.throttle_sync is not None:
            self.throttle_sync.stop(threads_deadline)
        if self.server is not None:
            self.server.wait_idle(max(0.0, threads_deadline - self.clock.monotonic_s()))
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.database.close()


def build_node(config: Config, demo: bool = False, clock=None, listen: bool = True) -> Node:
    clock = clock or SystemClock()
    database = Database(config.database_path, config.node_id, config.read_connections, config.page_cache_mb)
    warn_if_others_can_read(config.database_path.parent / SECRET_FILE)  # a single node's own secret, when it made one
    changes = ChangeLog()
    database.read(changes.load)
    database.after_commit.append(changes.on_commit)

    def now_iso() -> str:
        return iso_utc(clock.now())

    server_tls = tls.server_context(config.tls) if config.tls else None
    if len(config.cluster) == 1:
        cluster = SingleNode(config.node_id, config.address, changes)
    else:
        peer_tls = tls.client_context(config.tls.ca, identity=config.tls) if config.tls else None
        cluster = ClusterNode(config, database, changes, clock, now_iso, peer_tls)
    ledger = Ledger(config.node_id, database, cluster, changes.position)
    cluster.use_ledger(ledger)
    if demo:
        cluster.on_serving(lambda: _load_demo(ledger, changes, config, clock, cluster.quorum))
    users = UserRepository(database)
    catalogue = CatalogueRepository(database)
    sales = SalesRepository(database)
    reports = ReportsRepository(database)
    directory = Directory(database, users, catalogue)  # the accounts and stores each call reads, cached
    tokens = TokenSigner(config.secret)
    throttle = LoginThrottle(config.login_max_failures, LOGIN_WINDOW_S, config.login_lock_s, config.login_max_failures_per_source,
                             delay_max_s=config.login_delay_max_s, max_registrations=config.register_max_per_source)
    throttle_sync = None
    if isinstance(cluster, ClusterNode):
        throttle_sync = ThrottleSync(throttle, cluster.service_links, cluster.is_coordinator, clock, config.max_line_bytes)
        cluster.on_serving(throttle_sync.pull_from_peers)
    controllers = [
        AuthController(ledger, users, tokens, throttle, clock, cluster.quorum.require, config.self_registration, config.void_window_s),
        SalesController(ledger, sales, reports, directory, users, clock, config.timezone, config.max_sale_cents, config.void_window_s),
        ReportsController(reports, users, catalogue, sales, config.timezone, clock),
        SalesImportController(ledger, catalogue, users, clock, config.timezone, config.max_sale_cents),
        CatalogueController(ledger, catalogue, users, clock),
        PeopleController(ledger, users, clock, cluster.quorum.require),
        ClusterController(cluster),
    ]
    peer_methods = [cluster.peer_methods()] + ([throttle_sync.peer_methods()] if throttle_sync else [])
    dispatcher = Dispatcher.build([c.methods() for c in controllers] + peer_methods, tokens, clock.wall_s,
                                  gate=cluster.require_coordinator, peer_auth=cluster.peer_receiver, accounts=Accounts(directory).caller,
                                  read_gate=cluster.read_gate, writes=ledger)
    server = metrics_server = None
    if listen:
        server = RpcServer(config.address, dispatcher, config.max_connections, config.max_line_bytes, config.idle_timeout_s,
                           config.listen_backlog, config.line_timeout_s, config.max_connections_per_ip, clock, server_tls)
        if config.metrics_address is not None:
            metrics = NodeMetrics(clock.monotonic_s)
            dispatcher.observer = metrics
            database.after_batch.append(metrics.observe_commit)
            metrics.watch(cluster.status, server.open_connections)
            metrics_server = MetricsServer(config.metrics_address, metrics, cluster.status)
    integrity = IntegrityMonitor(config.database_path, clock)
    database.on_error.append(integrity.request)
    return Node(config, clock, database, cluster, ledger, dispatcher, server, metrics_server, throttle_sync, integrity)


def _load_demo(ledger: Ledger, changes: ChangeLog, config: Config, clock, quorum) -> None:
    """The demo chain, into a database (and cluster) with no data at all: the first coordinator that reaches a majority
    of the nodes loads it once (its accounts are created like any other: two sides of a partition must not both)."""
    def load() -> None:
        try:
            loaded = changes.position() == 0 and ledger.commit_unawaited(
                demo_write(today_in(config.timezone, clock.now()), hash_pin, iso_utc(clock.now())))
        except RpcError as exc:  # no longer the coordinator, or stopping: the next coordinator loads it
            log.info("%s", event("demo_skipped", f"demo data not loaded here: {exc.message}").line())
            return
        if loaded:
            log.info("%s", event("demo_loaded", "demo data loaded").line())
    if changes.position() == 0:
        quorum.when_majority(load, "demo_data")
    else:
        log.info("%s", event("demo_skipped", "demo data skipped: the database already has data").line())
