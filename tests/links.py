"""Cuttable, delayable links between real nodes: each node reaches each peer through a TCP proxy of its own, so a test
can cut and heal the link between two nodes (both directions), block one direction, or delay what a link carries, while
clients still reach every node directly.

A cut link closes the connections it carries and closes every new one at once: to both nodes the other looks down.
block(a, b) cuts only a's link to b: b's calls to a still work both ways (requests and their answers), a's calls to b
fail. A delayed link holds every chunk it carries `delay_s` before passing it on, in each direction.
"""

import queue
import socket
import threading
import time
from pathlib import Path

from support import Cluster, ServerProcess, free_ports

PUMP_BYTES = 65536
RECORD_BYTES = 4 * 1024 * 1024  # at most this much of what a link carried toward its target is kept (LinkProxy.carried)


class LinkProxy:
    """Forwards connections from a listening port to `target_port`, unless cut."""

    def __init__(self, listen_port: int, target_port: int):
        self.listen_port, self.target_port = listen_port, target_port
        self.cut = False
        self.delay_s = 0.0  # each chunk, each direction
        self.carried = bytearray()  # the first RECORD_BYTES sent toward the target, as an eavesdropper would see them
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", listen_port))
        self._listener.settimeout(0.2)
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name=f"link-{listen_port}").start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                downstream, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.cut:
                downstream.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2.0)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((downstream, upstream))
            for src, dst, record in ((downstream, upstream, True), (upstream, downstream, False)):
                threading.Thread(target=self._pump, args=(src, dst, record), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        held: queue.Queue = queue.Queue()  # (when to pass it on, chunk); None: the source closed
        threading.Thread(target=self._release, args=(held, src, dst), daemon=True).start()
        try:
            while data := src.recv(PUMP_BYTES):
                if record and len(self.carried) < RECORD_BYTES:
                    with self._lock:
                        self.carried += data[:RECORD_BYTES - len(self.carried)]
                held.put((time.monotonic() + self.delay_s, data))
        except OSError:
            pass
        finally:
            held.put(None)

    def _release(self, held: queue.Queue, src: socket.socket, dst: socket.socket) -> None:
        """Pass each chunk on once its delay is over, in order."""
        try:
            while (item := held.get()) is not None:
                due, data = item
                time.sleep(max(0.0, due - time.monotonic()))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _close(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._open.discard(sock)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        if cut:
            with self._lock:
                carried = list(self._open)
            self._close(*carried)

    def stop(self) -> None:
        self._stopped.set()
        self.set_cut(True)
        self._listener.close()


class LinkedCluster(Cluster):
    """A Cluster whose nodes talk to each other only through LinkProxy objects, one per ordered pair."""

    def __init__(self, base: Path, size: int = 3, demo: bool = True, env: dict | None = None):
        ids = list(range(1, size + 1))
        ports = dict(zip(ids, free_ports(size)))
        proxy_ports = iter(free_ports(size * (size - 1)))
        self.links = {(a, b): LinkProxy(next(proxy_ports), ports[b]) for a in ids for b in ids if a != b}
        self.cluster = ",".join(f"{n}=127.0.0.1:{p}" for n, p in ports.items())  # what clients use
        self.nodes = {}
        for n in ids:
            view = ",".join(f"{m}=127.0.0.1:{ports[m] if m == n else self.links[(n, m)].listen_port}" for m in ids)
            self.nodes[n] = ServerProcess(Path(base) / f"node{n}", n, ports[n], demo, env, view)

    def partition(self, *groups: list[int]) -> None:
        """Cut every link between nodes of different groups."""
        side = {n: i for i, group in enumerate(groups) for n in group}
        for (a, b), link in self.links.items():
            link.set_cut(side.get(a) != side.get(b))

    def heal(self) -> None:
        for link in self.links.values():
            link.set_cut(False)

    def block(self, a: int, b: int) -> None:
        """One way: a's connections to b fail; b's to a, and their answers, still work."""
        self.links[(a, b)].set_cut(True)

    def delay(self, seconds: float) -> None:
        """Every link holds what it carries this long, in each direction."""
        for link in self.links.values():
            link.delay_s = seconds

    def stop(self) -> None:
        super().stop()
        for link in self.links.values():
            link.stop()
