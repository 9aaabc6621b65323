"""The client's worker threads leave Ctrl+C to the main thread: a SIGINT taken by another thread sets Python's flag
but does not wake a main thread blocked reading the terminal (seen once: Ctrl+C at the CPF prompt waited for a key)."""

import signal
import sys
import threading
from pathlib import Path

import pytest
from support import free_port, wait_until

from client.sale_queue import QueueSender, SaleQueue
from runtime.threads import leave_signals_to_the_main_thread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads each thread's signal mask in /proc")


def blocked_signals(native_id: int) -> set[int]:
    """The signals a thread of this process blocks, from /proc (SigBlk: a hex mask, bit n-1 for signal n)."""
    for line in Path(f"/proc/self/task/{native_id}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            mask = int(line.split()[1], 16)
            return {number for number in range(1, 65) if mask >> (number - 1) & 1}
    raise AssertionError(f"no SigBlk for thread {native_id}")


def test_the_sale_queue_sender_blocks_sigint_and_the_main_thread_does_not(tmp_path):
    """The sender thread, always running behind the prompts, blocks SIGINT; the main thread still takes it."""
    sender = QueueSender(SaleQueue(tmp_path / "fila.db"), {1: ("127.0.0.1", free_port())}, 0.5).start()
    try:
        wait_until(lambda: sender._thread.native_id is not None and signal.SIGINT in blocked_signals(sender._thread.native_id),
                   timeout=10, what="the sender thread to block SIGINT")
        assert signal.SIGINT not in blocked_signals(threading.main_thread().native_id)
    finally:
        sender.stop()


def test_a_worker_thread_that_leaves_signals_blocks_sigint_sigterm_and_sighup():
    seen: list[set[int]] = []

    def work():
        leave_signals_to_the_main_thread()
        seen.append(blocked_signals(threading.get_native_id()))
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the worker did not finish"
    assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= seen[0]
