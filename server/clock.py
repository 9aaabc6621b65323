"""The only place that reads the system clocks; logic receives a Clock so tests can fake time."""

import datetime as dt
import time


class SystemClock:
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        return dt.datetime.now(dt.timezone.utc)

    def wall_s(self) -> float:
        """Unix seconds, for token expiry."""
        return time.time()

    def monotonic_s(self) -> float:
        """Seconds that only grow, for timeouts and throttles."""
        return time.monotonic()


def iso_utc(instant: dt.datetime) -> str:
    """2026-11-26T17:53:00.123456Z"""
    return instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
