"""A link to one other node: authenticated requests over a kept-open socket, one at a time
(over TLS, presenting this node's certificate and verifying the peer's, when given a context)."""

import itertools
import ssl
import threading

from wire.line_socket import LineBroken, LineSocket
from wire.peer_auth import PeerAuth

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
            reused = self._line is not None
            try:
                response = self._request(method, body, timeout)
            except LineBroken as exc:
                self._close()
                if not reused or self._aborted:
                    raise PeerUnavailable(f"node {self.peer_id}: {exc}") from None
                try:  # a kept-open socket may have been closed as idle: one fresh try tells
                    response = self._request(method, body, timeout)
                except LineBroken as exc:
                    self._close()
                    raise PeerUnavailable(f"node {self.peer_id}: {exc}") from None
        if response.error is not None:
            raise PeerRefused(response.error.code, response.error.message, response.error.data)
        return response.result

    def _request(self, method: str, body, timeout: float):
        if self._line is None:
            line = LineSocket(self.address, timeout, MAX_PEER_RESPONSE_BYTES, self.tls_context)
            if self._aborted:  # abort() came while connecting: it could not cut this socket short
                line.close()
                raise LineBroken("link closed (this node is stopping)")
            self._line = line
        return self._line.request(method, self.auth.seal(method, body), next(self._ids), timeout)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._line is not None:
            self._line.close()
            self._line = None
