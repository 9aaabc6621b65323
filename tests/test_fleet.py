"""A chain's tills at once, on small numbers and real processes: a burst of connects is accepted without TCP's SYN
back-off (the listen backlog), peers keep their heartbeats while hundreds of tills hold connections, and clients
spread their retries. The figures at 1,000 and 2,000 tills are bench/fleet.py's."""

import random
import socket
import threading
import time

import pytest
from support import Cluster, ServerProcess, closing_listener, wait_until

from client.connection import RETRY_JITTER, RETRY_PAUSE_S, Connection, ServerUnreachable
from runtime.clock import FakeClock

BURST = 300
SYN_BACK_OFF_S = 0.9  # a connect that overflowed the backlog waits out TCP's first retransmission, 1 s


def burst_of_pings(port: int, count: int, keep_open: list | None = None) -> tuple[list[tuple[float, float]], list[str]]:
    """`count` threads connect at the same moment and ping; for each, how long its connect took and how long until
    its answer; and what failed. The sockets are closed, or kept in `keep_open` (a list) for the caller to close.

    The connect time tells a SYN back-off apart from a busy machine: the kernel completes a connect as soon as the
    backlog has room, whatever the server's threads are doing; one that overflowed it waits 1 s or more."""
    times, failures, barrier, lock = [], [], threading.Barrier(count), threading.Lock()
    opened: list[socket.socket] = []

    def till() -> None:
        barrier.wait(timeout=30)
        started = time.monotonic()
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            connected = time.monotonic() - started
            conn.settimeout(10)
            conn.sendall(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
            answer = conn.recv(4096)
        except OSError as exc:
            with lock:
                failures.append(repr(exc))
            return
        with lock:
            opened.append(conn)
            if b'"result"' in answer:
                times.append((connected, time.monotonic() - started))
            else:
                failures.append(answer.decode(errors="replace") or "closed")
    threads = [threading.Thread(target=till, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if keep_open is None:
        for conn in opened:
            conn.close()
    else:
        keep_open.extend(opened)
    return times, failures


def test_a_burst_of_connects_is_accepted_without_syn_back_off(tmp_path):
    """300 tills connecting at the same moment are all answered, none after waiting out a SYN retransmission (with
    socketserver's default backlog of 5, most of them were)."""
    server = ServerProcess(tmp_path, demo=False, env={"LOG_LEVEL": "WARNING"}).start()
    try:
        times, failures = burst_of_pings(server.port, BURST)
    finally:
        server.stop()
    assert failures == [] and len(times) == BURST
    slow = [connect for connect, _ in times if connect >= SYN_BACK_OFF_S]
    assert slow == [], f"{len(slow)} of {BURST} connects took over {SYN_BACK_OFF_S} s (a SYN back-off)"


def test_a_listen_backlog_of_5_is_what_made_tills_wait(tmp_path):
    """The same burst against LISTEN_BACKLOG=5 (socketserver's default): many connects wait out the SYN back-off,
    which is what the default of 4096 removed. Keeps the test above honest."""
    server = ServerProcess(tmp_path, demo=False, env={"LOG_LEVEL": "WARNING", "LISTEN_BACKLOG": "5"}).start()
    try:
        times, failures = burst_of_pings(server.port, BURST)
    finally:
        server.stop()
    slow = [connect for connect, _ in times if connect >= SYN_BACK_OFF_S]
    assert len(slow) + len(failures) > BURST // 10


def test_peers_keep_their_heartbeats_while_hundreds_of_tills_connect(tmp_path):
    """A storm of connects held open at the coordinator starts no election: every node stays in node 3's epoch."""
    cluster = Cluster(tmp_path, env={"LOG_LEVEL": "WARNING"}).start()
    held: list[socket.socket] = []
    try:
        epoch = cluster.wait_coordinator(3)  # 1, or more when a loaded machine started the nodes far apart
        times, failures = burst_of_pings(cluster.nodes[3].port, BURST, keep_open=held)
        assert failures == [] and len(times) == BURST
        time.sleep(1.5)  # three failure timeouts: a starved heartbeat would have started an election by now
        statuses = [node.status() for node in cluster.nodes.values()]
        assert [(s["epoch"], s["coordinator_id"]) for s in statuses] == [(epoch, 3)] * 3
    finally:
        for conn in held:
            conn.close()
        cluster.stop()


class RecordingClock(FakeClock):
    def __init__(self):
        super().__init__()
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        super().sleep(seconds)


@pytest.mark.parametrize("seed", range(3))
def test_a_client_spreads_its_retries_at_random_around_the_retry_pause(seed):
    """With no server answering, the pauses between tries vary within RETRY_JITTER times RETRY_PAUSE_S."""
    clock = RecordingClock()
    with closing_listener() as port:  # there, but closing every connection: the client keeps trying until its deadline
        connection = Connection({1: ("127.0.0.1", port)}, failover_timeout_s=2.0, clock=clock, rng=random.Random(seed))
        with pytest.raises(ServerUnreachable):
            connection.call("ping")
    low, high = (RETRY_PAUSE_S * factor for factor in RETRY_JITTER)
    assert len(clock.pauses) > 10 and all(low <= p <= high for p in clock.pauses)
    assert len({round(p, 6) for p in clock.pauses}) > len(clock.pauses) // 2  # spread, not one fixed pause



def test_with_every_slot_taken_by_tills_a_peer_is_still_served_and_a_till_is_refused(tmp_path):
    """MAX_CONNECTIONS tills: one more till gets `unavailable` at its first line; a peer request gets through to the
    dispatcher (which refuses it here: a single node has no peers, and it is not signed) instead of `unavailable`."""
    server = ServerProcess(tmp_path, demo=False, env={"LOG_LEVEL": "WARNING", "MAX_CONNECTIONS": "5"}).start()
    held: list[socket.socket] = []
    try:
        wait_until(lambda: burst_of_pings(server.port, 1)[1] == [], 10, what="the start-up probe's slot to be free")
        times, failures = burst_of_pings(server.port, 5, keep_open=held)
        assert failures == [] and len(times) == 5
        till, peer = server.raw(), server.raw()
        refused = till.call("ping")["error"]
        assert (refused["code"], refused["data"]["reason"]) == (1009, "unavailable") and till.is_closed_by_server()
        answered = peer.call("peer.message", {"not": "signed"})["error"]
        assert answered["code"] != 1009 and answered["data"]["reason"] != "unavailable"  # not refused for lack of a slot
        assert peer.is_closed_by_server()  # but an unsigned one does not keep a peer's slot
        peer.close()
        trickler = server.raw()
        started = time.monotonic()
        try:
            for byte in b'{"jsonrpc":"2.0","id":1,"method":"peer.message"}':
                trickler.send_bytes(bytes([byte]))
                time.sleep(0.3)
        except OSError:
            pass
        assert trickler.is_closed_by_server(timeout=5) and time.monotonic() - started < 8  # PROBATION_S for the whole line
        trickler.close()
    finally:
        for conn in held:
            conn.close()
        server.stop()

