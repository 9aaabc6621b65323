"""Sign-in and registration throttle. Thread-safe; callers pass the current monotonic time in seconds.

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
- Per CPF, from any address: past MAX_FAILURES wrong PINs within WINDOW (more than one address can make), attempts
  on that CPF are admitted one at a time, each only DELAY after the last failure, DELAY doubling with each failure
  from 1 s up to DELAY_MAX_S: many addresses guessing one CPF get one guess per DELAY_MAX_S at most, and the seller
  waits at most that long.
- Registration: at most MAX_REGISTRATIONS attempts per address within WINDOW.

What the coordinator knows is shipped to the other nodes (server/throttle_sync.py) as a snapshot whose times are
ages, not clock readings, so a node that takes over keeps throttling.
"""

import math
import threading
from collections import deque

from models.errors import ValidationError
from runtime.settings import default_int

LOGIN_MAX_FAILURES = default_int("LOGIN_MAX_FAILURES")
LOGIN_MAX_FAILURES_PER_SOURCE = default_int("LOGIN_MAX_FAILURES_PER_SOURCE")
LOGIN_WINDOW_S = 15 * 60  # fixed: the settings table and README say "within 15 minutes"
LOGIN_LOCK_S = default_int("LOGIN_LOCK_MINUTES") * 60
LOGIN_DELAY_MAX_S = default_int("LOGIN_DELAY_MAX_S")
REGISTER_MAX_PER_SOURCE = default_int("REGISTER_MAX_PER_SOURCE")
PRUNE_EVERY = 1000  # attempts between sweeps of keys whose failures and locks have all expired
SETTLE_WAIT_S = 5.0  # longest an attempt waits for the ones ahead of it on its pair (a PIN check takes ~40 ms)
BUSY_RETRY_S = 1.0  # what an attempt on a delayed CPF is told while another attempt on it is being checked

# Keys: (kind, *parts). What a snapshot may hold: the kinds, their number of parts, and sizes.
KEY_PARTS = {"pair": 2, "source": 1, "cpf": 1, "register": 1}
MAX_KEY_PART_CHARS = 64  # a CPF is 11 digits, an IPv6 address at most 45 characters
MAX_SNAPSHOT_KEYS = 200_000
MAX_AGES_PER_KEY = 64


class LoginThrottle:
    def __init__(self, max_failures: int = LOGIN_MAX_FAILURES, window_s: float = LOGIN_WINDOW_S, lock_s: float = LOGIN_LOCK_S,
                 max_per_source: int = LOGIN_MAX_FAILURES_PER_SOURCE, settle_wait_s: float = SETTLE_WAIT_S,
                 delay_max_s: float = LOGIN_DELAY_MAX_S, max_registrations: int = REGISTER_MAX_PER_SOURCE):
        self.max_failures = max_failures
        self.settle_wait_s = settle_wait_s
        self.max_per_source = max_per_source
        self.window_s = window_s
        self.lock_s = lock_s
        self.delay_max_s = delay_max_s
        self.max_registrations = max_registrations
        self._failures: dict[tuple, deque] = {}  # key -> times of failures (registrations: attempts) within the window
        self._checking: dict[tuple, int] = {}  # pair or cpf key -> attempts admitted and not yet settled
        self._locked_until: dict[tuple, float] = {}
        self._settled = threading.Condition()
        self._since_prune = 0
        self.version = 0  # grows with every change worth shipping to the other nodes

    def begin(self, cpf: str, source: str, now: float) -> float:
        """0 when this attempt may check its PIN (then finish() must follow); otherwise the seconds to wait."""
        pair, address, person = ("pair", cpf, source), ("source", source), ("cpf", cpf)
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
            wait_s = self._delay(person, now)
            if wait_s > 0:
                return wait_s
            for key in (pair, person):
                self._checking[key] = self._checking.get(key, 0) + 1
            return 0.0

    def finish(self, cpf: str, source: str, right: bool | None, now: float) -> None:
        """Settle an admitted attempt: a right PIN starts the pair's and the CPF's counts again; a wrong one (or an
        unknown CPF) counts for the pair, the address and the CPF; None (it never got to a PIN check) counts for nothing."""
        pair, person = ("pair", cpf, source), ("cpf", cpf)
        with self._settled:
            for key in (pair, person):
                self._checking[key] -= 1
                if not self._checking[key]:
                    del self._checking[key]
            if right and (pair in self._failures or person in self._failures):
                self._failures.pop(pair, None)
                self._failures.pop(person, None)  # the seller is in: attackers elsewhere start again from a few guesses
                self.version += 1
            elif right is False:
                for key in (pair, person, ("source", source)):
                    self._failures.setdefault(key, deque()).append(now)
                self.version += 1
            self._settled.notify_all()

    def admit_registration(self, source: str, now: float) -> float:
        """0 when this address may attempt one more registration (counted now, whatever its outcome); otherwise
        the seconds until the oldest attempt in the window leaves it."""
        key = ("register", source)
        with self._settled:
            if self._count(key, now) >= self.max_registrations:
                return self._failures[key][0] + self.window_s - now
            self._failures.setdefault(key, deque()).append(now)
            self.version += 1
            return 0.0

    def _delay(self, person: tuple, now: float) -> float:
        """More than max_failures wrong PINs on one CPF (more than one address can make): one attempt at a time, each
        a growing delay after the last failure (1 s, 2 s, 4 s, ... up to delay_max_s)."""
        failures = self._count(person, now)
        if failures + self._checking.get(person, 0) <= self.max_failures:
            return 0.0
        if self._checking.get(person):
            return BUSY_RETRY_S
        delay = min(self.delay_max_s, 2.0 ** min(failures - self.max_failures - 1, 32))
        return max(0.0, self._failures[person][-1] + delay - now)

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
            self.version += 1
            return self.lock_s
        return 0.0

    # -- shipping to the other nodes -----------------------------------------------------------
    def snapshot(self, now: float, max_keys: int = MAX_SNAPSHOT_KEYS) -> dict:
        """What this throttle holds, JSON-ready, with times as ages (seconds ago) and locks as seconds left: at most
        max_keys keys, locks first (the longest), then the keys that failed most recently, each with its latest
        MAX_AGES_PER_KEY failures (more than any limit needs unless one is set higher)."""
        with self._settled:
            locks = sorted(((until, key) for key, until in self._locked_until.items() if until > now), reverse=True)[:max_keys]
            recent = sorted(((times[-1], key) for key, times in self._failures.items() if times and times[-1] > now - self.window_s),
                            reverse=True)[:max_keys - len(locks)]
            return {"failures": [{"key": list(key), "ages": [round(now - t, 3) for t in list(self._failures[key])[-MAX_AGES_PER_KEY:]]}
                                 for _, key in recent],
                    "locks": [{"key": list(key), "left": round(until - now, 3)} for until, key in locks]}

    def replace(self, snapshot: object, now: float) -> None:
        """Hold what the coordinator's snapshot holds (attempts being checked here are kept); ValidationError when it
        is not a snapshot, and then nothing changes."""
        failures, locks = self._parse(snapshot, now)
        with self._settled:
            self._failures, self._locked_until = failures, locks
            self.version += 1
            self._settled.notify_all()

    def merge(self, snapshot: object, now: float) -> None:
        """Add another node's snapshot to what this one holds: per key the longer list of failures, the later lock."""
        failures, locks = self._parse(snapshot, now)
        with self._settled:
            for key, times in failures.items():
                if len(times) > self._count(key, now):
                    self._failures[key] = times
            for key, until in locks.items():
                self._locked_until[key] = max(until, self._locked_until.get(key, 0.0))
            self.version += 1

    def _parse(self, snapshot: object, now: float) -> tuple[dict[tuple, deque], dict[tuple, float]]:
        if not (isinstance(snapshot, dict) and set(snapshot) == {"failures", "locks"}
                and isinstance(snapshot["failures"], list) and isinstance(snapshot["locks"], list)
                and len(snapshot["failures"]) + len(snapshot["locks"]) <= MAX_SNAPSHOT_KEYS):
            raise ValidationError("body", "is not a throttle snapshot")
        failures: dict[tuple, deque] = {}
        for item in snapshot["failures"]:
            ages = item.get("ages") if isinstance(item, dict) else None
            if not (isinstance(ages, list) and all(_seconds(a, self.window_s) for a in ages)):
                raise ValidationError("body", "has failures that are not ages within the window")
            failures[_key(item)] = deque(sorted(now - a for a in ages))
        locks: dict[tuple, float] = {}
        for item in snapshot["locks"]:
            left = item.get("left") if isinstance(item, dict) else None
            if not _seconds(left, max(self.lock_s, self.window_s)):
                raise ValidationError("body", "has a lock that is not seconds left")
            locks[_key(item)] = now + left
        return failures, locks


def _seconds(value: object, most: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= most


def _key(item: dict) -> tuple:
    key = item.get("key")
    if not (isinstance(key, list) and key and key[0] in KEY_PARTS and len(key) == 1 + KEY_PARTS[key[0]]
            and all(isinstance(p, str) and len(p) <= MAX_KEY_PART_CHARS for p in key[1:])):
        raise ValidationError("body", "has a key that is not a throttle key")
    return tuple(key)
