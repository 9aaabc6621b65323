"""A link to one other node: authenticated requests over a kept-open socket, one at a time (over TLS, presenting
this node's certificate and verifying the peer's, when given a context). A new socket opens with a hello
(wire/peer_auth.py) unless this link already holds a grant from the peer; PeerReceiver is the receiving side, for the
server's threads."""

import itertools
import ssl
import threading

from wire.errors import UNAUTHENTICATED
from wire.line_socket import LineBroken, LineSocket
from wire.peer_auth import HELLO, UNKNOWN_GRANT, Channel, PeerAuth, PeerAuthError

MAX_PEER_RESPONSE_BYTES = 64 * 1024 * 1024


class PeerUnavailable(Exception):
    """The peer did not answer (refused, closed, timed out)."""


class PeerRefused(Exception):
    """The peer answered with an error."""

    def __init__(self, code: int, message: str, data):
        super().__init__(f"{code} {message}")
        self.code, self.data = code, data


class PeerLink:
    def __init__(self, peer_id: int, address: tuple[str, int], auth: PeerAuth, timeout_s: float,
                 tls_context: ssl.SSLContext | None = None):
        self.peer_id = peer_id
        self.tls_context = tls_context
        self.address = address
        self.auth = auth
        self.timeout_s = timeout_s
        self._line: LineSocket | None = None
        self._channel: Channel | None = None  # once this socket's hello was answered
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._aborted = False

    def abort(self) -> None:
        """Stop for good (a node stopping): a call in progress fails at once, without waiting for the lock; so do later calls."""
        self._aborted = True
        line = self._line
        if line is not None:
            line.shutdown()

    def call(self, method: str, body, timeout_s: float | None = None):
        """The peer's result; PeerUnavailable when it cannot be reached, PeerRefused on an error answer."""
        timeout = timeout_s or self.timeout_s
        with self._lock:
            if self._aborted:
                raise PeerUnavailable(f"node {self.peer_id}: link closed (this node is stopping)")
            response = self._attempt(method, body, timeout)
            error = response.error
            if error is not None and error.code == UNAUTHENTICATED and (error.data or {}).get("reason") == UNKNOWN_GRANT:
                self._channel = None  # the peer forgot this link's grant: a new hello, then the request once more
                response = self._attempt(method, body, timeout)
        if response.error is not None:
            raise PeerRefused(response.error.code, response.error.message, response.error.data)
        return response.result

    def _attempt(self, method: str, body, timeout: float):
        reused = self._line is not None
        try:
            return self._request(method, body, timeout)
        except LineBroken as exc:
            self._close()
            if not reused or self._aborted:
                raise PeerUnavailable(f"node {self.peer_id}: {exc}") from None
            try:  # a kept-open socket may have been closed as idle: one fresh try tells
                return self._request(method, body, timeout)
            except LineBroken as exc:
                self._close()
                raise PeerUnavailable(f"node {self.peer_id}: {exc}") from None

    def _request(self, method: str, body, timeout: float):
        if self._line is None:
            line = LineSocket(self.address, timeout, MAX_PEER_RESPONSE_BYTES, self.tls_context)
            if self._aborted:  # abort() came while connecting: it could not cut this socket short
                line.close()
                raise LineBroken("link closed (this node is stopping)")
            self._line = line
        if self._channel is None:
            hello = self.auth.hello(self.peer_id)
            answer = self._line.request(HELLO, hello.params, next(self._ids), timeout)
            if answer.error is not None:
                return answer  # refused (another secret, say): the caller's PeerRefused
            try:
                self._channel = self.auth.channel(hello, answer.result)
            except PeerAuthError as exc:
                raise LineBroken(str(exc)) from None
        return self._line.request(method, self.auth.seal(self._channel, method, body), next(self._ids), timeout)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        # The channel (the peer's grant and this side's sequence) outlives the socket: the grant is the receiver's, not
        # the connection's, so a reconnect (after a timed-out call, say) sends at once instead of saying hello again, which
        # on a slow link would cost a round trip before every heartbeat. A peer that forgot the grant says unknown_grant.
        if self._line is not None:
            self._line.close()
            self._line = None


class PeerReceiver:
    """The receiving side of PeerAuth for the server's connection threads: one lock around its grants."""

    def __init__(self, auth: PeerAuth):
        self.auth = auth
        self._lock = threading.Lock()

    def open(self, method: str, params) -> tuple[int, object]:
        with self._lock:
            return self.auth.open(method, params)

    def grant(self, sender: int, body: dict) -> dict:
        """The answer to a hello (the handler of peer.hello: the dispatcher passes the opened body)."""
        with self._lock:
            return self.auth.grant(sender, body)
