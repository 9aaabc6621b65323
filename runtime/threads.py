"""Stopping threads within one deadline shared by all of them (not a timeout per thread, which adds up)."""

import threading


def join_until(threads: list[threading.Thread], deadline_s: float, clock) -> list[threading.Thread]:
    """Join each thread until the monotonic deadline_s; the threads still alive after it."""
    for thread in threads:
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(max(0.0, deadline_s - clock.monotonic_s()))
    return [t for t in threads if t.is_alive()]
