"""The threaded TCP server: one thread per connection, one JSON-RPC line at a time.

Limits, each set from the Config: a listen backlog of listen_backlog (the
kernel caps it at net.core.somaxconn), at most max_connections at once (one over
gets an `unavailable` error line and is closed), lines of at most
max_line_bytes (a longer one gets -32600 line_too_long and the connection is
closed), and idle_timeout_s of silence (also mid-line) before a connection is
closed, so no peer can hold a thread forever. Responses go out in request order.

Peers never starve behind tills: when every slot is taken, PEER_RESERVED_CONNECTIONS
more connections are let in on probation; one whose first request is a peer
method (signed: the dispatcher checks) is served, any other gets `unavailable`
at its first line (or after PROBATION_S of silence) and is closed.

What may be overridden, as in socketserver: RpcServer.process_request (the
connection slots) and RpcHandler.handle (the line loop). wait_idle() lets a
stopping node answer the requests already being served.
"""

import json
import logging
import socket
import socketserver
import threading
from contextlib import contextmanager

from runtime.clock import SystemClock
from runtime.events import event
from runtime.settings import default_int
from wire import jsonrpc
from wire.errors import UNAVAILABLE, app_error
from wire.jsonrpc import INVALID_REQUEST, LineDecoder, LineTooLong, RpcError

log = logging.getLogger("onsell.tcp")
RECV_BYTES = 64 * 1024
REFUSAL_SEND_TIMEOUT_S = 1.0
PEER_RESERVED_CONNECTIONS = 16  # for the cluster's own nodes when tills hold every MAX_CONNECTIONS slot
PROBATION_S = 2.0  # how long a connection let in on probation may take to send its first line
PEER_METHOD_PREFIX = "peer."  # what a peer's requests name (peer.message, peer.push, peer.pull)


def is_success(reply: bytes | None) -> bool:
    """A single answer with a result (what only a signed peer request gets on probation)."""
    try:
        answer = json.loads(reply) if reply else None
    except ValueError:
        return False
    return isinstance(answer, dict) and "result" in answer


def is_peer_request(line: bytes) -> bool:
    """A single request naming a peer method (its envelope is checked by the dispatcher like any other)."""
    message = jsonrpc.decode_message(line)
    return (not message.is_batch and len(message.items) == 1 and isinstance(message.items[0], jsonrpc.Request)
            and message.items[0].method.startswith(PEER_METHOD_PREFIX))


class RpcServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address, dispatcher, max_connections: int, max_line_bytes: int, idle_timeout_s: float,
                 listen_backlog: int | None = None, line_timeout_s: float | None = None, max_per_address: int | None = None,
                 clock=None):
        # socketserver listens with request_queue_size (5 by default): a thousand tills reconnecting at once after a
        # failover would overflow it, and each overflowed connect waits out TCP's SYN back-off (1 s, 3 s, 7 s...).
        self.request_queue_size = listen_backlog or default_int("LISTEN_BACKLOG")
        self.dispatcher = dispatcher
        self.max_line_bytes = max_line_bytes
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        self.line_timeout_s = line_timeout_s or default_int("LINE_TIMEOUT_S")
        self.max_per_address = default_int("MAX_CONNECTIONS_PER_IP") if max_per_address is None else max_per_address
        self.clock = clock or SystemClock()
        self._per_address: dict[str, int] = {}
        self._per_address_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._peer_slots = threading.BoundedSemaphore(PEER_RESERVED_CONNECTIONS)
        self._connection = threading.local()  # what _serve tells the handler of its connection
        self._in_flight = 0
        self._idle = threading.Condition()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, RpcHandler)

    def process_request(self, request, client_address):
        """Serve the connection on a thread of its own in a free slot; on probation in a peer's reserved slot; or refuse it."""
        if not self._take_address(client_address[0]):
            log.warning("connection from %s refused: %d connections already open from it", client_address[0], self.max_per_address)
            self.refuse(request, "MAX_CONNECTIONS_PER_IP")
            self.shutdown_request(request)
            return
        if self._slots.acquire(blocking=False):
            slot, probation = self._slots, False
        elif self._peer_slots.acquire(blocking=False):
            slot, probation = self._peer_slots, True
        else:
            log.warning("connection from %s refused: %d connections already open", client_address[0], self.max_connections)
            self._release_address(client_address[0])
            self.refuse(request)
            self.shutdown_request(request)
            return
        try:
            threading.Thread(target=self._serve, args=(request, client_address, slot, probation), daemon=True,
                             name="rpc-connection").start()
        except BaseException:
            slot.release()
            self._release_address(client_address[0])
            self.shutdown_request(request)
            raise

    def _take_address(self, address: str) -> bool:
        with self._per_address_lock:
            count = self._per_address.get(address, 0)
            if self.max_per_address and count >= self.max_per_address:
                return False
            self._per_address[address] = count + 1
            return True

    def open_connections(self) -> int:
        """Connections open now, clients' and peers' (metrics)."""
        with self._per_address_lock:
            return sum(self._per_address.values())

    def _release_address(self, address: str) -> None:
        with self._per_address_lock:
            count = self._per_address.get(address, 0) - 1
            if count > 0:
                self._per_address[address] = count
            else:
                self._per_address.pop(address, None)

    def _serve(self, request, client_address, slot: threading.BoundedSemaphore, probation: bool) -> None:
        self._connection.probation = probation
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            slot.release()
            self._release_address(client_address[0])

    def on_probation(self) -> bool:
        """True in the thread of a connection let in on a peer's reserved slot."""
        return getattr(self._connection, "probation", False)

    @staticmethod
    def refuse(request: socket.socket, limit: str = "MAX_CONNECTIONS") -> None:
        """Answer `unavailable` (too many connections) on a connection about to be closed."""
        refusal = app_error(UNAVAILABLE, "Too many connections; try again shortly", limit=limit)
        try:
            request.settimeout(REFUSAL_SEND_TIMEOUT_S)
            request.sendall(jsonrpc.encode(jsonrpc.failure(None, refusal)))
        except OSError:
            pass

    @contextmanager
    def in_flight(self):
        """Count a request as being served (answered and sent) while inside."""
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is being answered (at most timeout_s); True when none is."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout_s)


class RpcHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: RpcServer = self.server
        sock: socket.socket = self.request
        clock = server.clock
        # On probation (a peer's reserved slot): one deadline for the whole first line, however it trickles.
        probation_deadline = clock.monotonic_s() + PROBATION_S if server.on_probation() else None
        decoder = LineDecoder(server.max_line_bytes)
        peer = self.client_address[0]
        line_deadline = None  # while a line is under way: when it must be complete (LINE_TIMEOUT_S after its first byte)
        while True:
            deadline = probation_deadline if probation_deadline is not None else line_deadline
            wait_s = server.idle_timeout_s if deadline is None else min(server.idle_timeout_s, deadline - clock.monotonic_s())
            try:
                sock.settimeout(max(0.01, wait_s))  # for this recv only: answers are sent under the idle timeout
                data = sock.recv(RECV_BYTES)
            except TimeoutError:
                if probation_deadline is not None:
                    server.refuse(sock)
                    return
                if line_deadline is not None and clock.monotonic_s() >= line_deadline:
                    log.info("%s", event("slow_line_closed", f"closing connection from {peer}: a line still unfinished "
                                         f"{server.line_timeout_s:.0f} s after its first byte", pending_bytes=decoder.pending_bytes).line())
                    return
                log.info("%s", event("idle_connection_closed", f"closing idle connection from {peer} ({decoder.pending_bytes} bytes of an "
                                               "unfinished line)", pending_bytes=decoder.pending_bytes).line())
                return
            except OSError:
                return
            if not data:
                return
            sock.settimeout(server.idle_timeout_s)
            pieces = decoder.feed(data)
            for piece in pieces:
                if isinstance(piece, LineTooLong):
                    log.warning("closing connection from %s: line over %d bytes", peer, piece.limit)
                    error = RpcError(INVALID_REQUEST, f"Invalid Request: line longer than {piece.limit} bytes",
                                     {"reason": "line_too_long", "limit": piece.limit})
                    self._send(sock, jsonrpc.encode(jsonrpc.failure(None, error)))
                    return
                if probation_deadline is not None and not is_peer_request(piece):
                    server.refuse(sock)  # a till in a slot kept for peers
                    return
                with server.in_flight():
                    try:
                        reply = server.dispatcher.handle_line(piece, peer)
                    except Exception:  # a bug must cost one answer, not the connection's thread
                        log.exception("could not answer a request from %s", peer)
                        reply = jsonrpc.encode(jsonrpc.failure(None, RpcError(jsonrpc.INTERNAL_ERROR, "Internal error",
                                                                              {"reason": "internal_error"})))
                    if reply is not None and not self._send(sock, reply):
                        return
                if probation_deadline is not None:
                    if not is_success(reply):
                        return  # only a signed peer request succeeds: anything else does not keep a peer's slot
                    probation_deadline = None
            if decoder.pending_bytes == 0:
                line_deadline = None
            elif line_deadline is None or pieces:
                line_deadline = clock.monotonic_s() + server.line_timeout_s  # a new line began in this data

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False
