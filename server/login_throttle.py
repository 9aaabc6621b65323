"""Sign-in throttle. Thread-safe; callers pass the current monotonic time in seconds.

Rules:
- Per CPF and source address: MAX_FAILURES wrong PINs within WINDOW throttle that pair for LOCK (1010 with how
  long to wait, no PIN checked). Keyed by the pair, so someone elsewhere who knows a seller's CPF cannot lock
  that seller out.
- Attempts on one pair are admitted before their PIN is checked (begin) and settled after (finish): while the
  failures plus the attempts still being checked reach MAX_FAILURES, the next attempt waits for those to settle
  (at most SETTLE_WAIT_S) instead of being checked too, so concurrent guesses cannot slip past the limit, and
  several right sign-ins at once (a seller on two tills) are not throttled.
- Per source address: MAX_PER_SOURCE failed attempts within WINDOW, whatever CPFs they name, throttle the
  address for LOCK: one address spraying a PIN over many CPFs.
"""

import threading
from collections import deque

from runtime.settings import default_int

LOGIN_MAX_FAILURES = default_int("LOGIN_MAX_FAILURES")
LOGIN_MAX_FAILURES_PER_SOURCE = default_int("LOGIN_MAX_FAILURES_PER_SOURCE")
LOGIN_WINDOW_S = 15 * 60  # fixed: the settings table and README say "within 15 minutes"
LOGIN_LOCK_S = default_int("LOGIN_LOCK_MINUTES") * 60
PRUNE_EVERY = 1000  # attempts between sweeps of keys whose failures and locks have all expired
SETTLE_WAIT_S = 5.0  # longest an attempt waits for the ones ahead of it on its pair (a PIN check takes ~40 ms)


class LoginThrottle:
    def __init__(self, max_failures: int = LOGIN_MAX_FAILURES, window_s: float = LOGIN_WINDOW_S, lock_s: float = LOGIN_LOCK_S,
                 max_per_source: int = LOGIN_MAX_FAILURES_PER_SOURCE, settle_wait_s: float = SETTLE_WAIT_S):
        self.max_failures = max_failures
        self.settle_wait_s = settle_wait_s
        self.max_per_source = max_per_source
        self.window_s = window_s
        self.lock_s = lock_s
        self._failures: dict[tuple, deque] = {}  # key -> times of failures within the window
        self._checking: dict[tuple, int] = {}  # pair -> attempts admitted and not yet settled
        self._locked_until: dict[tuple, float] = {}
        self._settled = threading.Condition()
        self._since_prune = 0

    def begin(self, cpf: str, source: str, now: float) -> float:
        """0 when this attempt may check its PIN (then finish() must follow); otherwise the seconds to wait."""
        pair, address = ("pair", cpf, source), ("source", source)
        with self._settled:
            self._since_prune += 1
            if self._since_prune >= PRUNE_EVERY:  # a spray of random CPFs and addresses must not grow memory for ever
                self._prune(now)
            self._settled.wait_for(lambda: self._count(pair, now) + self._checking.get(pair, 0) < self.max_failures
                                   or not self._checking.get(pair), self.settle_wait_s)
            for key, limit in ((pair, self.max_failures), (address, self.max_per_source)):
                wait_s = self._wait(key, limit, now)
                if wait_s > 0:
                    return wait_s
            if self._count(pair, now) + self._checking.get(pair, 0) >= self.max_failures:
                return self.settle_wait_s  # still waiting on the attempts ahead of it: try again in a moment
            self._checking[pair] = self._checking.get(pair, 0) + 1
            return 0.0

    def finish(self, cpf: str, source: str, right: bool | None, now: float) -> None:
        """Settle an admitted attempt: a right PIN starts the pair's count again; a wrong one (or an unknown CPF)
        counts for the pair and for the address; None (it never got to a PIN check) counts for nothing."""
        pair = ("pair", cpf, source)
        with self._settled:
            self._checking[pair] -= 1
            if not self._checking[pair]:
                del self._checking[pair]
            if right:
                self._failures.pop(pair, None)
            elif right is False:
                self._failures.setdefault(pair, deque()).append(now)
                self.failed(source, now)
            self._settled.notify_all()

    def failed(self, source: str, now: float) -> None:
        """A failure counts against its address."""
        with self._settled:
            self._failures.setdefault(("source", source), deque()).append(now)

    def _prune(self, now: float) -> None:
        self._since_prune = 0
        for key in [k for k, failures in self._failures.items() if not failures or failures[-1] <= now - self.window_s]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]

    def _count(self, key: tuple, now: float) -> int:
        failures = self._failures.get(key)
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if failures is not None and not failures:
            del self._failures[key]
            return 0
        return len(failures) if failures else 0

    def _wait(self, key: tuple, limit: int, now: float) -> float:
        until = self._locked_until.get(key, 0.0)
        if until > now:
            return until - now
        self._locked_until.pop(key, None)
        if self._count(key, now) >= limit:
            self._locked_until[key] = now + self.lock_s
            del self._failures[key]
            return self.lock_s
        return 0.0
