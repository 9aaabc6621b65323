"""Stopping threads within one deadline shared by all of them (not a timeout per thread, which adds up); a thread
at the lowest CPU priority; a worker thread that leaves signals to the main thread."""

import os
import signal
import sys
import threading

LOWEST_PRIORITY = 19  # nice: the kernel runs such a thread when nothing else on the machine wants the CPU


def join_until(threads: list[threading.Thread], deadline_s: float, clock) -> list[threading.Thread]:
    """Join each thread until the monotonic deadline_s; the threads still alive after it."""
    for thread in threads:
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(max(0.0, deadline_s - clock.monotonic_s()))
    return [t for t in threads if t.is_alive()]


def lower_this_thread(nice: int = LOWEST_PRIORITY) -> bool:
    """Run the calling thread (only it: Linux gives each thread its own nice value) at `nice`; True when done. Elsewhere,
    or when the system refuses, nothing changes (a thread id is not a process id there: never guessed at)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        return False
    return True


MAIN_THREAD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP} if hasattr(signal, "SIGHUP") else {signal.SIGINT})


def leave_signals_to_the_main_thread() -> None:
    """Block Ctrl+C's SIGINT (and SIGTERM, SIGHUP) in the calling worker thread, so the kernel delivers them to the main
    thread. Taken by another thread, a signal sets Python's flag but does not wake a main thread blocked reading the
    terminal: a Ctrl+C at a prompt then waited for the next key. Where threads have no signal masks, nothing changes."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
