"""A JSON-RPC connection to the onsell servers, over the shared line codec.

It connects to the first node that answers, highest id first (the primary),
keeps the socket open between calls, and on a broken connection reconnects
and sends the request once more. Retrying is safe: sales carry a client-made
sale_id, so a repeated sales.record is recognised as a duplicate.
"""

import itertools
from typing import Any

from models.cluster import format_address
from server.jsonrpc import RpcError
from server.line_socket import LineBroken, LineSocket

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


class Connection:
    def __init__(self, servers: dict[int, tuple[str, int]], call_timeout_s: float = CALL_TIMEOUT_S):
        self.servers = servers
        self.call_timeout_s = call_timeout_s
        self.node_id: int | None = None
        self._line: LineSocket | None = None
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict | None = None) -> Any:
        """The method's result; RemoteError for an error answer, ServerUnreachable when none answers."""
        request_id = next(self._ids)
        for attempt in (1, 2):
            try:
                response = self._connected().request(method, params or {}, request_id, self.call_timeout_s)
                break
            except LineBroken as exc:
                self.close()
                if attempt == 2:
                    raise ServerUnreachable(f"conexão perdida com o servidor ({exc})") from None
        if response.error is not None:
            raise RemoteError(response.error)
        return response.result

    def close(self) -> None:
        if self._line is not None:
            self._line.close()
            self._line = None

    def _connected(self) -> LineSocket:
        if self._line is not None:
            return self._line
        tried = []
        for node_id in sorted(self.servers, reverse=True):
            address = self.servers[node_id]
            try:
                self._line = LineSocket(address, CONNECT_TIMEOUT_S, MAX_RESPONSE_BYTES)
            except LineBroken:
                tried.append(format_address(address))
                continue
            self.node_id = node_id
            return self._line
        raise ServerUnreachable("nenhum servidor respondeu (" + ", ".join(tried) + ")")
