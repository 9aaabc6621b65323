"""The only place that reads the system clocks. Everything that needs time is handed a Clock,
so tests drive time with FakeClock instead of sleeping."""

import datetime as dt
import threading
import time


class SystemClock:
    """The machine's clocks. offset_s shifts the wall clock (not the monotonic one): tests run a node whose clock is off."""

    def __init__(self, offset_s: float = 0.0):
        self._offset = dt.timedelta(seconds=offset_s)
        self._offset_s = offset_s
        self._offset_ns = int(offset_s * 1_000_000_000)

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        return dt.datetime.now(dt.timezone.utc) + self._offset

    def wall_s(self) -> float:
        """Unix seconds, for token expiry."""
        return time.time() + self._offset_s

    def wall_ms(self) -> int:
        """Unix milliseconds, for versions of records."""
        return self.wall_ns() // 1_000_000

    def wall_ns(self) -> int:
        """Unix nanoseconds, for time-ordered ids."""
        return time.time_ns() + self._offset_ns

    def monotonic_s(self) -> float:
        """Seconds that only grow, for timeouts and throttles."""
        return time.monotonic()

    def monotonic_ms(self) -> int:
        """Milliseconds that only grow: the `now` of the state machines."""
        return time.monotonic_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeClock:
    """A clock that moves only when told to (advance), for tests. Wall and monotonic time move together."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.timezone.utc), monotonic_s: float = 1000.0):
        self._now = start
        self._monotonic = monotonic_s
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            self._monotonic += seconds

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def wall_s(self) -> float:
        return self.now().timestamp()

    def wall_ms(self) -> int:
        return int(self.wall_s() * 1000)

    def wall_ns(self) -> int:
        return int(self.wall_s() * 1_000_000_000)

    def monotonic_s(self) -> float:
        with self._lock:
            return self._monotonic

    def monotonic_ms(self) -> int:
        return int(self.monotonic_s() * 1000)

    def sleep(self, seconds: float) -> None:
        """Sleeping on a fake clock moves it: a loop that waits and retries ends without real time passing."""
        self.advance(seconds)


def iso_utc(instant: dt.datetime) -> str:
    """2026-11-26T17:53:00.123456Z"""
    return instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
