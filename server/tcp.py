"""The threaded TCP server: one thread per connection, one JSON-RPC line at a time.

Limits, each set from the Config: a listen backlog of listen_backlog (the
kernel caps it at net.core.somaxconn), at most max_connections at once (one over
gets an `unavailable` error line and is closed), lines of at most
max_line_bytes (a longer one gets -32600 line_too_long and the connection is
closed), and idle_timeout_s of silence (also mid-line) before a connection is
closed, so no peer can hold a thread forever. Responses go out in request order.

Silent sockets cannot starve real clients: when every slot is taken, a new
connection takes the slot of the oldest connection that has not yet sent a whole
request line (still in its TLS handshake, silent, or trickling), which is closed;
only when every slot holds a connection that has been served is a new one refused.

Peers never starve behind tills: when every slot is taken by served connections,
PEER_RESERVED_CONNECTIONS more connections are let in on probation; one whose first
request is a peer method (signed: the dispatcher checks) is served, any other gets
`unavailable` at its first line (or after PROBATION_S of silence) and is closed.

With a TLS context the listener speaks only TLS: each connection's handshake runs
in its own thread within HANDSHAKE_TIMEOUT_S (wire/tls.py); a plaintext line gets
one plaintext error (`tls_required`) and is closed, a connection refused for
the limits is closed without an answer (no handshake in the accept loop), and a
peer request on a connection that presented no node certificate gets
`1001 unauthenticated` (`no_peer_certificate`) and is closed.

What may be overridden, as in socketserver: RpcServer.process_request (the
connection slots) and RpcHandler.handle (the line loop). wait_idle() lets a
stopping node answer the requests already being served.
"""

import json
import logging
import socket
import socketserver
import ssl
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

from runtime.clock import SystemClock
from runtime.events import event
from runtime.settings import default_int
from wire import jsonrpc, tls
from wire.errors import UNAUTHENTICATED, UNAVAILABLE, app_error
from wire.jsonrpc import INVALID_REQUEST, LineDecoder, LineTooLong, RpcError

log = logging.getLogger("onsell.tcp")
RECV_BYTES = 64 * 1024
REFUSAL_SEND_TIMEOUT_S = 1.0
PEER_RESERVED_CONNECTIONS = 16  # for the cluster's own nodes when tills hold every MAX_CONNECTIONS slot
PROBATION_S = 2.0  # how long a connection let in on probation may take to send its first line
PEER_METHOD_PREFIX = "peer."  # what a peer's requests name (peer.message, peer.push, peer.pull)
PEER_METHOD_BYTES = b'"' + PEER_METHOD_PREFIX.encode()  # a cheap look before decoding a line to see if it names one
LOG_INTERVAL_S = 10.0  # failed TLS handshakes and closed silent connections are logged once per this long (with how many were not)


class Sometimes:
    """Says whether to log now: the first time, then at most once per interval_s; counts what it held back meanwhile."""

    def __init__(self, interval_s: float, monotonic):
        self.interval_s, self.monotonic = interval_s, monotonic
        self._next, self._held_back = 0.0, 0
        self._lock = threading.Lock()

    def due(self) -> int | None:
        """None: not now; else how many were held back since the last one logged."""
        with self._lock:
            now = self.monotonic()
            if now < self._next:
                self._held_back += 1
                return None
            self._next, held_back, self._held_back = now + self.interval_s, self._held_back, 0
            return held_back


@dataclass(eq=False)
class Slot:
    """One connection's hold on a slot: `semaphore` is what it releases when it ends (None once its slot was handed on)."""
    fileno: int
    address: str
    semaphore: threading.BoundedSemaphore | None
    evicted: bool = False


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
                 clock=None, tls_context: ssl.SSLContext | None = None):
        """tls_context: a wire.tls server context to serve TLS only; None for plaintext."""
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
        self.tls_context = tls_context
        self._handshake_failures = Sometimes(LOG_INTERVAL_S, self.clock.monotonic_s)
        self._evictions = Sometimes(LOG_INTERVAL_S, self.clock.monotonic_s)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._unproven: OrderedDict[int, Slot] = OrderedDict()  # by id(): connections in a slot that sent no whole line yet, oldest first
        self._unproven_lock = threading.Lock()
        self._peer_slots = threading.BoundedSemaphore(PEER_RESERVED_CONNECTIONS)
        self._connection = threading.local()  # what _serve tells the handler of its connection
        self._in_flight = 0
        self._idle = threading.Condition()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, RpcHandler)

    def process_request(self, request, client_address):
        """Serve the connection on a thread of its own in a free slot, or in the slot of the oldest connection that sent
        no whole request yet (closed); on probation in a peer's reserved slot; or refuse it."""
        address = client_address[0]
        if not self._take_address(address):
            log.warning("connection from %s refused: %d connections already open from it", address, self.max_per_address)
            self._refuse_at_accept(request, "MAX_CONNECTIONS_PER_IP")
            return
        slot = Slot(request.fileno(), address, None)
        if self._slots.acquire(blocking=False):
            slot.semaphore = self._slots
        elif not self._take_unproven_slot(slot):
            if self._peer_slots.acquire(blocking=False):
                slot.semaphore = self._peer_slots
            else:
                log.warning("connection from %s refused: %d connections already open", address, self.max_connections)
                self._release_address(address)
                self._refuse_at_accept(request, "MAX_CONNECTIONS")
                return
        probation = slot.semaphore is self._peer_slots
        if not probation:
            with self._unproven_lock:
                self._unproven[id(slot)] = slot
        try:
            threading.Thread(target=self._serve, args=(request, client_address, slot, probation), daemon=True,
                             name="rpc-connection").start()
        except BaseException:
            self._end(request, slot)
            raise

    def _take_unproven_slot(self, slot: Slot) -> bool:
        """Hand `slot` the slot of the oldest connection that has not sent a whole request line yet, and close that one."""
        with self._unproven_lock:
            if not self._unproven:
                return False
            _, victim = self._unproven.popitem(last=False)
            slot.semaphore, victim.semaphore, victim.evicted = victim.semaphore, None, True
            # The victim's socket is still open: its thread closes it only after leaving the registry (under this lock).
            try:
                victim_sock = socket.socket(fileno=victim.fileno)
            except OSError:
                victim_sock = None
            if victim_sock is not None:
                tls.shutdown(victim_sock)
                victim_sock.detach()  # the fd stays its thread's to close
        held_back = self._evictions.due()
        if held_back is not None:
            log.info("%s", event("unproven_connection_closed", f"all {self.max_connections} slots taken: closing the oldest connection "
                                 f"that sent no whole request yet (from {victim.address}) for a new one ({held_back} more since the "
                                 "last such line)", limit="MAX_CONNECTIONS", held_back=held_back).line())
        return True

    def proven(self) -> None:
        """The connection of this thread sent a whole request line: it no longer gives way to new connections."""
        slot = getattr(self._connection, "slot", None)
        if slot is not None:
            with self._unproven_lock:
                self._unproven.pop(id(slot), None)

    def _refuse_at_accept(self, request, limit: str) -> None:
        if self.tls_context is None:  # over TLS an answer needs a handshake: not in the accept loop
            self.refuse(request, limit)
        self.shutdown_request(request)

    def _end(self, sock, slot: Slot) -> None:
        """Leave the registry, then close the socket (so an eviction never touches a closed, reused fd), then free the slot."""
        with self._unproven_lock:
            self._unproven.pop(id(slot), None)
            semaphore, slot.semaphore = slot.semaphore, None
        self.shutdown_request(sock)
        if semaphore is not None:
            semaphore.release()
        self._release_address(slot.address)

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

    def _serve(self, request, client_address, slot: Slot, probation: bool) -> None:
        self._connection.probation = probation
        self._connection.slot = slot
        sock = request
        try:
            if self.tls_context is not None:
                sock = self.tls_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
                if not self._handshake(sock, client_address[0]):
                    return
            if not slot.evicted:
                self.finish_request(sock, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self._end(sock, slot)

    def _handshake(self, sock: ssl.SSLSocket, peer: str) -> bool:
        """The TLS handshake of a new connection, within HANDSHAKE_TIMEOUT_S; False (said in the log) when it failed."""
        try:
            tls.server_handshake(sock, tls.HANDSHAKE_TIMEOUT_S, self.clock.monotonic_s)
            return True
        except tls.PlaintextSpoken:
            error = RpcError(INVALID_REQUEST, "This node speaks TLS only: connect with TLS (the client's TLS_CA setting)",
                             {"reason": "tls_required"})
            tls.send_plaintext(sock, jsonrpc.encode(jsonrpc.failure(None, error)))
            reason = "plaintext"
        except TimeoutError:
            reason = "timeout"
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc.__class__.__name__
        held_back = self._handshake_failures.due()
        if held_back is not None:
            log.info("%s", event("tls_handshake_failed", f"TLS handshake with {peer} failed ({held_back} more failed since the last "
                                 "such line)", reason=str(reason).lower().replace(" ", "_"), held_back=held_back).line())
        return False

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
        proven = False
        # Over TLS a peer request must come with a node certificate that chained to TLS_CA (checked in the handshake).
        peer_certificate_missing = isinstance(sock, ssl.SSLSocket) and not sock.getpeercert()
        timeout_s = None  # the socket's timeout as last set (each change costs system calls: set only when it changes)
        while True:
            deadline = probation_deadline if probation_deadline is not None else line_deadline
            wait_s = server.idle_timeout_s if deadline is None else max(0.01, min(server.idle_timeout_s, deadline - clock.monotonic_s()))
            try:
                if wait_s != timeout_s:  # for this recv only: answers are sent under the idle timeout
                    sock.settimeout(wait_s)
                    timeout_s = wait_s
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
            if timeout_s != server.idle_timeout_s:
                sock.settimeout(server.idle_timeout_s)
                timeout_s = server.idle_timeout_s
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
                if not proven:
                    server.proven()  # a whole request: from now on this connection keeps its slot
                    proven = True
                if peer_certificate_missing and PEER_METHOD_BYTES in piece and is_peer_request(piece):
                    error = app_error(UNAUTHENTICATED, "Peer requests need a node certificate (TLS_CERT) that chains to TLS_CA",
                                      detail="no_peer_certificate")
                    self._send(sock, jsonrpc.encode(jsonrpc.failure(None, error)))
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
