"""Watching this node's storage, so that a coordinator that cannot write steps aside instead of refusing every sale.

StorageHealth is the rule, pure (time comes in as `now`, in ms): storage counts as failing from the first failed write
after a success; once it has failed for stepdown_ms with no success in between, the node is unfit for the coordinator's
role, until the next successful write. StorageWatch is the thread around it: every PROBE_MS it runs the probe
(server.ledger.StorageProbe: a small write read back, or a commit that changed a row since the last probe), feeds the
outcome in, tells the election (set_unfit("storage") when unfit, set_unfit(None) when it works again) and logs one
line each way.
"""

import logging
import sqlite3
import threading
from typing import Callable, Protocol

from db.database import DatabaseUnavailable
from runtime.events import event

log = logging.getLogger("onsell.storage")

PROBE_MS = 250  # how often the storage is probed
PROBE_TIMEOUT_S = 1.0  # a probe write that takes longer counts as failed (a hung disk)
REASON = "storage"


class StorageHealth:
    def __init__(self, stepdown_ms: int):
        self.stepdown_ms = stepdown_ms
        self.unfit = False
        self.last_error = ""
        self._failing_since: int | None = None

    def failed(self, error: str, now: int) -> bool:
        """A write failed; True when this makes the node unfit (once per episode)."""
        self.last_error = error
        if self._failing_since is None:
            self._failing_since = now
        if not self.unfit and now - self._failing_since >= self.stepdown_ms:
            self.unfit = True
            return True
        return False

    def succeeded(self, now: int) -> bool:
        """A write succeeded; True when this makes an unfit node fit again."""
        self._failing_since = None
        if self.unfit:
            self.unfit = False
            return True
        return False

    def failing_for(self, now: int) -> int:
        return 0 if self._failing_since is None else now - self._failing_since


class Election(Protocol):
    def set_unfit(self, reason: str | None) -> None: ...


class StorageWatch:
    def __init__(self, probe: Callable[[float], None], election: Election, clock, stepdown_ms: int, probe_ms: int = PROBE_MS):
        self.probe = probe
        self.election = election
        self.clock = clock
        self.health = StorageHealth(stepdown_ms)
        self.probe_s = probe_ms / 1000
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="storage-watch", daemon=True)

    @property
    def stepped_down(self) -> str | None:
        """Why this node stays out of the coordinator's role now, for cluster.status."""
        return REASON if self.health.unfit else None

    def start(self) -> None:
        self._thread.start()

    def stop(self, deadline_s: float) -> None:
        self._stopped.set()
        self._thread.join(max(0.0, deadline_s - self.clock.monotonic_s()))

    def check(self) -> None:
        """Probe once and act on the outcome."""
        try:
            self.probe(PROBE_TIMEOUT_S)
        except (DatabaseUnavailable, sqlite3.Error) as exc:
            now = self.clock.monotonic_ms()
            if self.health.failed(str(exc), now):
                log.error("%s", event("stepped_aside", f"storage failing for {self.health.failing_for(now) / 1000:.1f} s "
                                      f"({exc}): out of the coordinator's role until it works", reason=REASON).line())
                self.election.set_unfit(REASON)
            return
        if self.health.succeeded(self.clock.monotonic_ms()):
            log.info("%s", event("storage_recovered", "storage works again: rejoining the cluster", reason=REASON).line())
            self.election.set_unfit(None)

    def _loop(self) -> None:
        while not self._stopped.wait(self.probe_s):
            try:
                self.check()
            except Exception:  # never die silently: log, and probe again
                log.exception("storage probe failed unexpectedly")
