"""A JSON-RPC connection to the onsell servers, over the shared line codec.

It connects to the first node that answers, highest id first (the primary),
keeps the socket open between calls, and on a broken connection reconnects
and sends the request once more. Retrying is safe: sales carry a client-made
sale_id, so a repeated sales.record is recognised as a duplicate.
"""

import itertools
import socket
from typing import Any

from models.cluster import format_address
from server.jsonrpc import LineDecoder, LineTooLong, RpcError, decode_response, encode_request

CONNECT_TIMEOUT_S = 3.0
CALL_TIMEOUT_S = 15.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ServerUnreachable(Exception):
    """No server answered; str() lists what was tried."""


class RemoteError(Exception):
    """The server answered with a JSON-RPC error."""

    def __init__(self, error: RpcError):
        super().__init__(error.message)
        self.code = error.code
        self.message = error.message
        self.data = error.data if isinstance(error.data, dict) else {}
        self.reason = self.data.get("reason", "")


class _Broken(Exception):
    """The current socket cannot be used any more."""


class Connection:
    def __init__(self, servers: dict[int, tuple[str, int]], call_timeout_s: float = CALL_TIMEOUT_S):
        self.servers = servers
        self.call_timeout_s = call_timeout_s
        self.node_id: int | None = None
        self._sock: socket.socket | None = None
        self._decoder = LineDecoder(MAX_RESPONSE_BYTES)
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict | None = None) -> Any:
        """The method's result; RemoteError for an error answer, ServerUnreachable when none answers."""
        request_id = next(self._ids)
        line = encode_request(method, params or {}, request_id)
        for attempt in (1, 2):
            try:
                sock = self._connected()
                sock.sendall(line)
                response = self._read_response(request_id)
                break
            except (OSError, _Broken) as exc:
                self.close()
                if attempt == 2:
                    raise ServerUnreachable(f"conexão perdida com o servidor ({exc.__class__.__name__})") from None
        if response.error is not None:
            raise RemoteError(response.error)
        return response.result

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._decoder = LineDecoder(MAX_RESPONSE_BYTES)

    def _connected(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        tried = []
        for node_id in sorted(self.servers, reverse=True):
            address = self.servers[node_id]
            try:
                sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT_S)
            except OSError:
                tried.append(format_address(address))
                continue
            sock.settimeout(self.call_timeout_s)
            self._sock, self.node_id = sock, node_id
            return sock
        raise ServerUnreachable("nenhum servidor respondeu (" + ", ".join(tried) + ")")

    def _read_response(self, request_id: int):
        while True:
            data = self._sock.recv(65536)
            if not data:
                raise _Broken("closed by the server")
            for event in self._decoder.feed(data):
                if isinstance(event, LineTooLong):
                    raise _Broken("response too long")
                try:
                    response = decode_response(event)
                except RpcError as exc:
                    raise _Broken(exc.message) from None
                if response.id == request_id:
                    return response
                if response.id is None and response.error is not None:
                    return response  # the server refused the connection (e.g. too many connections)
