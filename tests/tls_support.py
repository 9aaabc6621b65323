"""Real nodes over TLS for tests and benches: a RawClient that speaks TLS, a ServerProcess and a Cluster
whose nodes serve TLS with given certificate files (client/demo_tls.make_certificates makes some)."""

import socket
from pathlib import Path

from support import Cluster, RawClient, ServerProcess

from wire import tls


def tls_env(files) -> dict:
    return {"TLS_CERT": str(files.cert), "TLS_KEY": str(files.key), "TLS_CA": str(files.ca)}


class TlsRawClient(RawClient):
    """A RawClient over TLS, verifying the node against `ca`."""

    def __init__(self, port: int, ca: Path, timeout: float = 10.0):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls.client_context(ca).wrap_socket(sock, server_hostname="127.0.0.1")
        self.buffer = b""


class TlsServer(ServerProcess):
    """A node serving TLS with `files`; raw() and the readiness probe speak TLS."""

    def __init__(self, data_dir, files, **kwargs):
        kwargs["env"] = {**tls_env(files), **kwargs.get("env", {})}
        super().__init__(data_dir, **kwargs)
        self.files = files

    def raw(self, timeout: float = 10.0) -> RawClient:
        return TlsRawClient(self.port, self.files.ca, timeout)


class TlsCluster(Cluster):
    """A Cluster whose nodes serve TLS; files_of(node_id) gives each node's certificate files."""

    def __init__(self, base: Path, files_of, size: int = 3, env: dict | None = None):
        super().__init__(base, size)
        self.nodes = {n: TlsServer(node.data_dir, files_of(n), node_id=n, port=node.port, cluster=self.cluster, env=env or {})
                      for n, node in self.nodes.items()}
