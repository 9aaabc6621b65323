"""Metrics and health over HTTP when METRICS_ADDRESS is set: /metrics in Prometheus' text format, /healthz.

Counters and histograms are updated where things happen (each answered call, through the dispatcher's observer;
each group commit, through the database); role, epoch, replication lag and connections are read from the node
when scraped, so they cost nothing between scrapes. Each node has its own registry: no global state.
The format is prometheus_client's own (the well-kept reference implementation), not written by hand.
"""

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from wire.errors import BAD_CREDENTIALS, INACTIVE, RATE_LIMITED, UNKNOWN_USER

log = logging.getLogger("onsell.metrics")

ACK_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
COMMIT_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SIGN_IN_FAILURES = {BAD_CREDENTIALS: "bad_credentials", UNKNOWN_USER: "unknown_user", RATE_LIMITED: "rate_limited",
                    INACTIVE: "inactive"}  # auth.login's refusals, counted by reason
SALE_METHOD, SIGN_IN_METHOD = "sales.record", "auth.login"
SERVING_ROLES = ("coordinator", "follower")


class NodeMetrics:
    """What one node counts; `observe_call` and `observe_commit` are called from the request and writer threads."""

    def __init__(self, monotonic_s: Callable[[], float]):
        self.monotonic_s = monotonic_s
        self.registry = CollectorRegistry()
        self.sales_recorded = Counter("onsell_sales_recorded", "Sales stored for the first time by this node as coordinator",
                                      registry=self.registry)
        self.sales_acknowledged = Counter("onsell_sales_acknowledged", "sales.record calls answered with success (retries too)",
                                          registry=self.registry)
        self.ack_latency = Histogram("onsell_sale_acknowledgement_seconds", "Time from a sales.record request to its answer",
                                     buckets=ACK_LATENCY_BUCKETS_S, registry=self.registry)
        self.requests = Counter("onsell_requests", "Client and peer calls answered, by method and outcome (ok or error code)",
                                ["method", "outcome"], registry=self.registry)
        self.sign_in_failures = Counter("onsell_sign_in_failures", "auth.login calls refused, by reason", ["reason"],
                                        registry=self.registry)
        self.commit_batch = Histogram("onsell_group_commit_writes", "Writes committed together in one transaction",
                                      buckets=COMMIT_BATCH_BUCKETS, registry=self.registry)

    def begin(self) -> float:
        return self.monotonic_s()

    def observe_call(self, method: str, started: float, result, error_code: int | None) -> None:
        """Count one answered call; `method` is a registered name (unknown ones are not passed: bounded labels)."""
        self.requests.labels(method, "ok" if error_code is None else str(error_code)).inc()
        if method == SALE_METHOD and error_code is None:
            self.sales_acknowledged.inc()
            self.ack_latency.observe(self.monotonic_s() - started)
            if isinstance(result, dict) and not result.get("duplicate", False):
                self.sales_recorded.inc()
        elif method == SIGN_IN_METHOD and error_code in SIGN_IN_FAILURES:
            self.sign_in_failures.labels(SIGN_IN_FAILURES[error_code]).inc()

    def observe_commit(self, writes: int) -> None:
        self.commit_batch.observe(writes)

    def watch(self, status: Callable[[], dict], connections: Callable[[], int]) -> None:
        """Read role, epoch, lag and connections from the node at each scrape."""
        self.registry.register(_NodeStateCollector(status, connections))


class _NodeStateCollector:
    def __init__(self, status: Callable[[], dict], connections: Callable[[], int]):
        self.status = status
        self.connections = connections
        self.first_epoch: int | None = None

    def describe(self):
        return []  # state read at scrape time: nothing to check at registration

    def collect(self):
        status = self.status()
        role = GaugeMetricFamily("onsell_role", "1 for this node's current role", labels=["role"])
        for name in ("coordinator", "follower", "candidate"):
            role.add_metric([name], 1 if status["role"] == name else 0)
        yield role
        epoch = status["epoch"] or 0
        yield GaugeMetricFamily("onsell_epoch", "The coordinator's epoch as this node knows it", value=epoch)
        if self.first_epoch is None:
            self.first_epoch = epoch
        yield CounterMetricFamily("onsell_elections", "Elections won by a new coordinator (epoch rises) since this node started",
                                  value=max(0, epoch - self.first_epoch))
        lag = GaugeMetricFamily("onsell_replication_lag_changes", "Changes a node is behind the coordinator", labels=["node"])
        for node in status["nodes"]:
            if node["behind"] is not None:
                lag.add_metric([str(node["id"])], node["behind"])
        yield lag
        yield GaugeMetricFamily("onsell_connections", "Client and peer connections open on this node", value=self.connections())
        yield GaugeMetricFamily("onsell_position", "Changes this node holds", value=status["position"])
        yield CounterMetricFamily("onsell_conflicting_changes", "Changes refused: their id is held here with other content",
                                  value=status.get("conflicting_changes", 0))
        yield CounterMetricFamily("onsell_anti_entropy_repaired", "Rows shipped again by anti-entropy since this node started",
                                  value=status.get("anti_entropy", {}).get("repaired", 0))
        yield CounterMetricFamily("onsell_under_replicated_acks", "Writes acknowledged with fewer copies than REPLICATION_ACKS + 1",
                                  value=status.get("under_replicated_acks", 0))
        yield CounterMetricFamily("onsell_refused_too_few_replicas", "Writes refused under REPLICATION_STRICT for lack of copies",
                                  value=status.get("refused_too_few", 0))
        yield GaugeMetricFamily("onsell_stepped_down", "1 while this node keeps out of the coordinator's role (its storage fails)",
                                value=1 if status.get("stepped_down") else 0)


def is_serving(status: dict) -> bool:
    """Healthy for a load balancer: the coordinator, or a follower of a known coordinator; not a node that stepped aside."""
    return status["role"] in SERVING_ROLES and bool(status.get("coordinator_id")) and not status.get("stepped_down")


class MetricsServer:
    """/metrics and /healthz on their own address and threads; stop() closes them."""

    def __init__(self, address: tuple[str, int], metrics: NodeMetrics, status: Callable[[], dict]):
        handler = _handler_for(metrics, status)
        self.httpd = ThreadingHTTPServer(address, handler)
        self.httpd.daemon_threads = True
        self.address = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler_for(metrics: NodeMetrics, status: Callable[[], dict]):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
                elif path == "/healthz":
                    now = status()
                    serving = is_serving(now)
                    body = f'{{"serving": {str(serving).lower()}, "role": "{now["role"]}"}}\n'.encode()
                    self._send(200 if serving else 503, "application/json", body)
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found: /metrics or /healthz\n")
            except Exception as exc:  # the node is stopping (database closed): not healthy, and no traceback
                log.debug("metrics request failed: %s", exc)
                self._send(503, "text/plain; charset=utf-8", b"unavailable\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
            log.debug("metrics: " + format, *args)

    return Handler
