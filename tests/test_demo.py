"""`make demo`'s launcher (python -m client.demo) on a real terminal (a pty): Ctrl+C reaches only the client, the nodes
keep running until the client is left, a second demo names the running node's pid, /healthz answers."""

import fcntl
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
import urllib.request

import pytest
from support import ROOT, free_ports, wait_until

DEADLINE_S = 60.0


class Terminal:
    """A program run on a pseudo-terminal of its own (as in a person's terminal); what it printed so far in `screen`."""

    def __init__(self, args: list[str], env: dict, cwd):
        self.master, slave = pty.openpty()

        def own_terminal():  # a session whose controlling terminal is the pty, as a login shell has
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            # SIGINT ignored, as a script's job in the background starts a program (and the suite may be run so):
            # Ctrl+C must still reach the client
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                        preexec_fn=own_terminal, close_fds=True)
        os.close(slave)
        self.screen = ""

    def expect(self, pattern: str, timeout: float = DEADLINE_S) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.screen)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not on the screen within {timeout} s; screen ends with:\n{self.screen[-1500:]}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.screen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the program ended and closed the terminal
                    if self.process.poll() is not None:
                        raise AssertionError(f"{pattern!r} never came; the program ended:\n{self.screen[-1500:]}") from None

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = open(f"/proc/{pid}/stat").read().split()[2] if os.path.exists(f"/proc/{pid}/stat") else "X"
    return status not in ("Z", "X")


@pytest.fixture
def demo(tmp_path):
    ports = free_ports(6)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data"), "ONSELL_QUEUE": str(tmp_path / "q.db"),
           "CLUSTER": ",".join(f"{n}=127.0.0.1:{p}" for n, p in zip((1, 2, 3), ports[:3])),
           "METRICS_ADDRESS": ",".join(f"{n}=127.0.0.1:{p}" for n, p in zip((1, 2, 3), ports[3:]))}
    env.pop("CLUSTER_SECRET", None)
    terminal = Terminal([sys.executable, "-m", "client.demo"], env, tmp_path)
    yield terminal, env, ports
    terminal.close()
    for pid in map(int, re.findall(r"pid (\d+)", terminal.screen)):  # nothing left behind, whatever failed
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_reaches_only_the_client_and_leaving_the_client_stops_the_nodes(demo, tmp_path):
    """Ctrl+C at CPF asks; "n" stays and every node still runs; a second demo names a running node's pid; /healthz of the
    primary is 200; "sair" ends the client, then the launcher stops the three nodes and exits 0."""
    terminal, env, ports = demo
    terminal.expect(r"CPF: ")
    pids = [int(p) for p in re.findall(r"nó \d: pid (\d+)", terminal.screen)]
    assert len(pids) == 3
    terminal.type("\x03")  # Ctrl+C, as the keyboard sends it
    terminal.expect(r"Deseja fechar o onsell\?")
    terminal.type("n\n")
    terminal.expect(r"CPF: (.|\n)*CPF: ")
    time.sleep(2.0)  # a node that got the SIGINT would be gone by now (STOP_TIMEOUT_MS is 1.5 s)
    assert all(alive(pid) for pid in pids), terminal.screen[-800:]
    second = subprocess.run([sys.executable, "-m", "client.demo"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=DEADLINE_S, stdin=subprocess.DEVNULL)
    assert second.returncode == 1 and re.search(r"pid \d+\): pare-o com  kill \d+", second.stderr), second.stderr
    with urllib.request.urlopen(f"http://127.0.0.1:{ports[5]}/healthz", timeout=5) as answer:
        assert answer.status == 200 and json.loads(answer.read())["role"] == "coordinator"
    terminal.type("sair\n")
    assert terminal.process.wait(timeout=DEADLINE_S) == 0
    wait_until(lambda: not any(alive(pid) for pid in pids), 20, what="the demo's nodes to stop")


def test_a_closed_terminal_stops_the_demo_and_its_nodes(demo):
    """SIGHUP (the terminal window closed) to the launcher: it stops the three nodes and ends."""
    terminal, env, ports = demo
    terminal.expect(r"CPF: ")
    pids = [int(p) for p in re.findall(r"nó \d: pid (\d+)", terminal.screen)]
    terminal.process.send_signal(signal.SIGHUP)
    assert terminal.process.wait(timeout=DEADLINE_S) != 0
    wait_until(lambda: not any(alive(pid) for pid in pids), 20, what="the demo's nodes to stop after SIGHUP")
