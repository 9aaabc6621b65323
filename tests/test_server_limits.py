"""Named limits: line size, idle and half-sent connections, connection count."""

import json
import socket
import time

from support import RawClient, wait_until


def test_a_2_mib_line_gets_line_too_long_and_the_connection_is_closed(demo_server):
    raw = demo_server.raw()
    payload = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * (2 * 1024 * 1024) + b'"}}\n'
    try:
        raw.send_bytes(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close before we finish writing; the answer was sent first
    response = raw.read()
    assert response["error"]["code"] == -32600 and response["error"]["data"]["reason"] == "line_too_long"
    assert raw.is_closed_by_server()
    fresh = demo_server.raw()
    assert "result" in fresh.call("ping")  # the server itself is fine
    fresh.close()


def test_half_a_line_then_silence_is_closed_after_the_idle_timeout(fresh_server):
    server = fresh_server(env={"IDLE_TIMEOUT_S": "1"})
    raw = server.raw()
    raw.send_bytes(b'{"jsonrpc":"2.0","id":1,"meth')
    started = time.monotonic()
    assert raw.is_closed_by_server(timeout=10)  # the effect itself: closed by the server, not by our timeout
    assert 0.9 <= time.monotonic() - started < 10
    silent = server.raw()
    assert silent.is_closed_by_server(timeout=10)
    silent.close()
    raw.close()
    fresh = server.raw()
    assert "result" in fresh.call("ping")  # the server itself goes on serving
    fresh.close()


def test_connections_over_the_limit_get_unavailable_and_the_rest_keep_working(fresh_server):
    server = fresh_server(env={"MAX_CONNECTIONS": "3"})

    def a_served_connection():
        """A connection that got an answer; None while slots are still taken (the start-up probe's may be closing)."""
        client = server.raw()
        try:
            if "result" in client.call("ping"):
                return client
        except (ConnectionError, OSError, json.JSONDecodeError):
            pass
        client.close()
        return None
    held = [wait_until(a_served_connection, what="a connection slot") for _ in range(3)]  # all three are being served
    extra = server.raw()
    refusal = extra.read()
    assert refusal["error"]["code"] == 1009 and refusal["error"]["data"]["reason"] == "unavailable"
    assert extra.is_closed_by_server()
    held.pop().close()

    def a_new_connection_is_served():
        client = RawClient(server.port)
        try:
            return "result" in client.call("ping")
        except (ConnectionError, OSError, json.JSONDecodeError, KeyError):
            return False
        finally:
            client.close()
    wait_until(a_new_connection_is_served, what="a freed connection slot")
    for client in held:
        client.close()


def test_a_line_trickling_one_byte_a_second_is_closed_after_the_line_timeout(fresh_server):
    """IDLE_TIMEOUT_S never fired on a socket that sends a byte a second; LINE_TIMEOUT_S counts from the line's first byte."""
    server = fresh_server(env={"LINE_TIMEOUT_S": "2", "IDLE_TIMEOUT_S": "300"})
    raw = server.raw()
    started, closed = time.monotonic(), False
    for byte in b'{"jsonrpc":"2.0","id":1,"method":"ping"}':
        try:
            raw.send_bytes(bytes([byte]))
        except OSError:
            closed = True
            break
        time.sleep(0.5)
        if time.monotonic() - started > 6:
            break
    assert closed or raw.is_closed_by_server(timeout=5), "the trickling connection was still open"
    assert time.monotonic() - started < 10
    raw.close()
    fresh = server.raw()
    assert "result" in fresh.call("ping")  # a whole line sent at once is served as ever
    fresh.close()


def test_one_address_may_hold_at_most_max_connections_per_ip(fresh_server):
    """From 127.0.0.1 the fourth connection gets unavailable naming the limit; another address (127.0.0.2) still gets in."""
    server = fresh_server(env={"MAX_CONNECTIONS_PER_IP": "3"})

    def served_from(source: str):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0))
        client = RawClient.__new__(RawClient)
        client.sock, client.buffer = sock, b""
        return client
    held = [wait_until(lambda: _served(server), what="a connection from 127.0.0.1") for _ in range(3)]
    extra = served_from("127.0.0.1")
    refusal = extra.call("ping")["error"]
    assert (refusal["code"], refusal["data"]["limit"]) == (1009, "MAX_CONNECTIONS_PER_IP")
    other = served_from("127.0.0.2")
    assert "result" in other.call("ping")
    for client in (*held, extra, other):
        client.close()


def _served(server):
    """A connection that got an answer; None while the start-up probe's connection may still count."""
    client = server.raw()
    try:
        if "result" in client.call("ping"):
            return client
    except (ConnectionError, OSError, json.JSONDecodeError, KeyError):
        pass
    client.close()
    return None


def test_pipelined_lines_split_across_reads_are_served_past_the_line_timeout(fresh_server):
    """Each line completes quickly though no read ends on a line boundary: LINE_TIMEOUT_S counts per line."""
    server = fresh_server(env={"LINE_TIMEOUT_S": "1"})
    raw = server.raw()
    line = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    half = len(line) // 2
    raw.send_bytes(line[:half])
    for _ in range(8):  # 2.4 s in all, each line done within 0.3 s
        time.sleep(0.3)
        raw.send_bytes(line[half:] + line[:half])
    answers = [raw.read() for _ in range(8)]
    assert all("result" in a for a in answers)
    raw.send_bytes(line[half:])
    assert "result" in raw.read()
    raw.close()


def test_silent_sockets_holding_every_slot_give_way_to_a_real_client(fresh_server):
    """Sockets that connect and never send a whole request held every MAX_CONNECTIONS slot and a till got `unavailable`;
    now a new connection takes the slot of the oldest one that never sent a request, which is closed."""
    server = fresh_server(env={"MAX_CONNECTIONS": "3"})
    served = wait_until(lambda: _served(server), what="a served connection")  # sent a request: it keeps its slot
    silent = [server.raw() for _ in range(2)]
    trickling = server.raw()
    trickling.send_bytes(b'{"jsonrpc":"2.0",')  # half a line counts as no request
    for _ in range(3):  # more connections than slots, none of them a request
        silent.append(server.raw())
    client = server.raw()
    answer = client.call("ping")
    assert "result" in answer, f"a real client was not served while silent sockets held the slots: {answer}"
    assert silent[0].is_closed_by_server(timeout=10), "the oldest silent socket kept its slot"
    assert "result" in served.call("ping", request_id=2)  # a connection that was served is never the one closed
    for sock in (*silent, trickling, client, served):
        sock.close()
