"""TLS with the standard library's ssl, for both ends: the contexts a node and a client build from
TLS_CERT, TLS_KEY and TLS_CA, and the server's handshake under one deadline.

- A node serves TLS with its certificate (TLS_CERT, TLS_KEY) and asks a connecting party for a certificate
  without requiring one (tills have none); a certificate that is offered must chain to TLS_CA, or the
  handshake fails. Its links to the other nodes present the same certificate and verify theirs against
  TLS_CA, host name included: a node's certificate must name (subjectAltName) the host each node has in
  CLUSTER, an IP address as an IP entry. The nodes may share one certificate that names them all; it is
  used as server and as client, so its extendedKeyUsage (if any) must allow both.
- A client with TLS_CA verifies the node's chain and host name against it; without it, plaintext.
- The server-side handshake runs in the connection's own thread, non-blocking, with one deadline for the
  whole of it, so a party that trickles bytes cannot hold a thread longer than HANDSHAKE_TIMEOUT_S.
  A first byte that cannot begin a TLS record (a plaintext JSON line) is told apart: PlaintextSpoken.
"""

import ipaddress
import select
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

HANDSHAKE_TIMEOUT_S = 5.0  # a server-side handshake must be done this long after the connection was accepted
TLS_HANDSHAKE_RECORD = 0x16  # the first byte of a ClientHello
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class PlaintextSpoken(Exception):
    """A party sent plaintext (not a TLS record) to a listener that speaks only TLS."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # TLS_CERT: this node's certificate chain (PEM)
    key: Path  # TLS_KEY: its private key (PEM, unencrypted)
    ca: Path  # TLS_CA: the certificate(s) of the authority every node's certificate chains to


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """What a node serves with; ssl.SSLError or OSError when a file cannot be read or does not fit."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    context.load_cert_chain(files.cert, files.key)
    context.load_verify_locations(cafile=files.ca)
    context.verify_mode = ssl.CERT_OPTIONAL  # peers present theirs (checked against TLS_CA); tills present none
    return context


def client_context(ca: Path, identity: TlsFiles | None = None) -> ssl.SSLContext:
    """What a client (identity None) or a node's link to a peer (identity: its own files) connects with:
    the server's chain must lead to `ca` and its certificate must name the host connected to."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = MINIMUM_VERSION
    context.load_verify_locations(cafile=ca)
    if identity is not None:
        context.load_cert_chain(identity.cert, identity.key)
    return context


def is_loopback(host: str) -> bool:
    """True for a loopback address (127.0.0.0/8, ::1) or `localhost`: the only hosts a node serves in clear on by default."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_handshake(tls_sock: ssl.SSLSocket, timeout_s: float, monotonic) -> None:
    """Complete the server side of a handshake on a socket wrapped with do_handshake_on_connect=False, within
    timeout_s of now (monotonic: a clock's monotonic_s). Leaves the socket blocking. Raises PlaintextSpoken when
    the first byte is not a TLS record, TimeoutError past the deadline, ssl.SSLError or OSError on a failed one."""
    deadline = monotonic() + timeout_s
    tls_sock.setblocking(False)
    _wait(tls_sock, deadline, monotonic, readable=True)
    first = socket.socket.recv(tls_sock, 1, socket.MSG_PEEK)  # the raw bytes: no TLS record has been read yet
    if not first:
        raise ConnectionResetError("closed before the handshake")
    if first[0] != TLS_HANDSHAKE_RECORD:
        raise PlaintextSpoken(f"first byte {first[0]:#04x}")
    while True:
        try:
            tls_sock.do_handshake()
            break
        except ssl.SSLWantReadError:
            _wait(tls_sock, deadline, monotonic, readable=True)
        except ssl.SSLWantWriteError:
            _wait(tls_sock, deadline, monotonic, readable=False)
    tls_sock.setblocking(True)


def _wait(sock: socket.socket, deadline: float, monotonic, readable: bool) -> None:
    """Until the socket is readable (or writable), at most until the deadline. poll, not select: a node serving
    thousands of connections has descriptors above select's limit of 1024."""
    remaining = deadline - monotonic()
    if remaining <= 0:
        raise TimeoutError("TLS handshake not done in time")
    poller = select.poll()
    poller.register(sock, select.POLLIN if readable else select.POLLOUT)
    if not poller.poll(max(1, int(remaining * 1000))):
        raise TimeoutError("TLS handshake not done in time")


def send_plaintext(sock: socket.socket, data: bytes) -> None:
    """Write bytes in clear on a wrapped socket whose handshake never began (to answer a plaintext party); best effort."""
    try:
        socket.socket.send(sock, data)
    except OSError:
        pass


def shutdown(sock: socket.socket) -> None:
    """End a connection from another thread (a receive in progress returns at once), also a TLS one: the plain socket's
    shutdown, which leaves the TLS state alone for the thread using it."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
