"""A blocking socket that sends JSON-RPC request lines and reads their responses (the I/O
around the pure codec), shared by the client connection and by links between nodes; over TLS
when given a client context (wire/tls.py), the handshake done while connecting."""

import socket
import ssl

from wire import tls
from wire.jsonrpc import LineDecoder, LineTooLong, Response, RpcError, decode_response, encode_request

RECV_BYTES = 65536


class LineBroken(Exception):
    """The socket cannot be used any more: closed, reset, timed out or sent garbage."""


class ConnectionRefused(LineBroken):
    """Nothing listens at the address (the connection was refused at once, not timed out)."""


class CertificateRejected(LineBroken):
    """The node's certificate did not verify against the CA this side trusts (or does not name the host)."""


class LineSocket:
    def __init__(self, address: tuple[str, int], connect_timeout_s: float, max_response_bytes: int,
                 tls_context: ssl.SSLContext | None = None):
        """tls_context: None for plaintext, else a wire.tls client context (the host connected to is the name checked)."""
        where = f"{address[0]}:{address[1]}"
        try:
            sock = socket.create_connection(address, timeout=connect_timeout_s)
        except ConnectionRefusedError as exc:
            raise ConnectionRefused(f"cannot connect to {where}: {exc.strerror or exc}") from None
        except OSError as exc:
            raise LineBroken(f"cannot connect to {where}: {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_context is not None:
            try:  # the handshake runs here, under the connect timeout
                sock = tls_context.wrap_socket(sock, server_hostname=address[0])
            except ssl.SSLCertVerificationError as exc:
                sock.close()
                raise CertificateRejected(f"{where}: {exc.verify_message or exc.reason}") from None
            except (OSError, ValueError) as exc:
                sock.close()
                raise LineBroken(f"TLS handshake with {where} failed: {exc}") from None
        self.sock = sock
        self._decoder = LineDecoder(max_response_bytes)

    def request(self, method: str, params: dict, request_id: int, timeout_s: float) -> Response:
        """Send one request and return its response; LineBroken on any transport failure."""
        try:
            self.sock.settimeout(timeout_s)
            self.sock.sendall(encode_request(method, params, request_id))
            return self._read_response(request_id)
        except (OSError, ValueError) as exc:  # ValueError: a TLS socket shut down by another thread
            raise LineBroken(f"{exc.__class__.__name__}: {exc}") from None

    def _read_response(self, request_id: int) -> Response:
        while True:
            data = self.sock.recv(RECV_BYTES)
            if not data:
                raise LineBroken("closed by the server")
            for event in self._decoder.feed(data):
                if isinstance(event, LineTooLong):
                    raise LineBroken("response too long")
                try:
                    response = decode_response(event)
                except RpcError as exc:
                    raise LineBroken(exc.message) from None
                if response.id == request_id:
                    return response
                if response.id is None and response.error is not None:
                    return response  # the server refused the connection (e.g. too many connections)

    def shutdown(self) -> None:
        """End the connection from another thread: a send or receive in progress fails at once."""
        tls.shutdown(self.sock)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
