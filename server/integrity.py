"""Integrity: a node whose database file is damaged must not serve from it.

`PRAGMA quick_check` runs on a connection of its own, in the background: once right after the node starts
(it does not delay the start), and again after any SQLite error the database reports (at most once every
MIN_CHECK_INTERVAL_S). A damaged file sets `corrupt`: server/__main__.py then stops the node (a coordinator
stops heartbeating, so the others elect another), moves the file aside as `node-N.db.corrupt-<time>` (kept
for inspection, with its -wal and -shm), and starts the process again (exec, same pid) on an empty file, which
catches up from its peers' change logs like any new node. A single node has no peer to rebuild from: it only says
so in its log. A file that cannot be checked at all (a disk I/O error) is not taken for a damaged one: the check is
tried again later, and a failing disk is the storage watch's to handle (server.cluster).
"""

import logging
import sqlite3
import threading
from pathlib import Path

from runtime.events import event

log = logging.getLogger("onsell.integrity")

MIN_CHECK_INTERVAL_S = 10.0  # a burst of errors asks for one check, not one each
QUICK_CHECK_ROWS = 10  # problems kept for the log
CHECK_TIMEOUT_MS = 10_000  # how long the check waits for the writer's lock


def quick_check(path: Path) -> list[str]:
    """The problems `PRAGMA quick_check` finds in the file ([] when it is sound). sqlite3.OperationalError when the
    file could not be checked (a disk I/O error, a full disk, locked): a failing disk is not a damaged file, and
    rebuilding on it would not help (server.cluster's storage watch steps such a node aside instead)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CHECK_TIMEOUT_MS / 1000)
    try:
        rows = [row[0] for row in conn.execute(f"PRAGMA quick_check({QUICK_CHECK_ROWS})")]
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        return [str(exc)]
    finally:
        conn.close()
    return [] if rows == ["ok"] else rows


def set_aside(path: Path, stamp: str) -> Path:
    """Move a damaged file (and its -wal and -shm) to `<name>.corrupt-<stamp>`; the new name of the file."""
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("-wal", "-shm", ""):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(target.with_name(target.name + suffix))
    return target


class IntegrityMonitor:
    def __init__(self, path: Path, clock):
        self.path = path
        self.clock = clock
        self.corrupt = threading.Event()
        self.problems: list[str] = []
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._last_check_s: float | None = None
        self._thread = threading.Thread(target=self._loop, name="integrity", daemon=True)

    def start(self) -> None:
        """Check once now, in the background, and again whenever asked."""
        self._wanted.set()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wanted.set()

    def request(self, reason: BaseException | None = None) -> None:
        """A database error happened: check the file (soon, and not more often than MIN_CHECK_INTERVAL_S)."""
        if isinstance(reason, sqlite3.IntegrityError):
            return  # a constraint, not damage
        self._wanted.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wanted.wait()
            if self._stopped.is_set():
                return
            if self._last_check_s is not None:
                wait_s = self._last_check_s + MIN_CHECK_INTERVAL_S - self.clock.monotonic_s()
                if wait_s > 0 and self._stopped.wait(wait_s):
                    return
            self._wanted.clear()
            self._last_check_s = self.clock.monotonic_s()
            try:
                problems = quick_check(self.path)
            except sqlite3.OperationalError as exc:
                log.warning("could not check %s: %s; trying again later", self.path, exc)
                self._wanted.set()
                continue
            except Exception:  # never die silently
                log.exception("integrity check of %s failed to run", self.path)
                continue
            if problems:
                self.problems = problems
                log.error("%s", event("integrity_failed", f"{self.path} is damaged: {'; '.join(problems[:3])}",
                                      problems=len(problems)).line())
                self.corrupt.set()
                return
            log.info("%s", event("integrity_ok", f"{self.path} passed quick_check").line())
