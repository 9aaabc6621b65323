"""Sign-in throttle: MAX_FAILURES wrong PINs for one CPF within WINDOW lock it for LOCK.

Pure and thread-safe; callers pass the current monotonic time in seconds.
"""

import threading
from collections import deque

from runtime.settings import default_int

LOGIN_MAX_FAILURES = default_int("LOGIN_MAX_FAILURES")
LOGIN_WINDOW_S = 15 * 60  # fixed: the settings table and README say "within 15 minutes"
LOGIN_LOCK_S = default_int("LOGIN_LOCK_MINUTES") * 60


class LoginThrottle:
    def __init__(self, max_failures: int = LOGIN_MAX_FAILURES, window_s: float = LOGIN_WINDOW_S, lock_s: float = LOGIN_LOCK_S):
        self.max_failures = max_failures
        self.window_s = window_s
        self.lock_s = lock_s
        self._failures: dict[str, deque] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked_for(self, cpf: str, now: float) -> float:
        """Seconds until this CPF may try again (0 when it may try now)."""
        with self._lock:
            until = self._locked_until.get(cpf, 0.0)
            if until <= now:
                self._locked_until.pop(cpf, None)
                return 0.0
            return until - now

    def record_failure(self, cpf: str, now: float) -> bool:
        """Count a wrong PIN; True when this failure locks the CPF."""
        with self._lock:
            failures = self._failures.setdefault(cpf, deque())
            failures.append(now)
            while failures and failures[0] <= now - self.window_s:
                failures.popleft()
            if len(failures) >= self.max_failures:
                self._locked_until[cpf] = now + self.lock_s
                del self._failures[cpf]
                return True
            return False

    def record_success(self, cpf: str) -> None:
        """A right PIN clears the count of failures."""
        with self._lock:
            self._failures.pop(cpf, None)
