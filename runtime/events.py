"""Events: what a state machine reports for the log, with a stable code and fields.

The text is for people and may be reworded; the code and fields are for tests
and tools, and stay. A logged event ends with "[code k=v …]"."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    code: str
    text: str
    fields: tuple[tuple[str, object], ...] = ()

    def line(self) -> str:
        tags = "".join(f" {key}={value}" for key, value in self.fields)
        return f"{self.text} [{self.code}{tags}]"


def event(code: str, text: str, **fields) -> Event:
    return Event(code, text, tuple(fields.items()))


REPEATS_PER_WINDOW = 3  # lines of one event code logged per window; the rest are counted
REPEAT_WINDOW_MS = 1000


class RepeatLimiter:
    """Which event lines to log when one code repeats fast (a resumed node ignoring a hundred stale heartbeats): the
    first REPEATS_PER_WINDOW of a code per REPEAT_WINDOW_MS, then a count of the rest when the window ends. Pure: the
    caller passes the time (ms) and logs what it is given back."""

    def __init__(self, per_window: int = REPEATS_PER_WINDOW, window_ms: int = REPEAT_WINDOW_MS):
        self.per_window = per_window
        self.window_ms = window_ms
        self._windows: dict[str, list[int]] = {}  # code -> [window start, lines in it, suppressed]

    def lines(self, events, now_ms: int) -> list[str]:
        """The lines to log now: a count for each code whose window ended with lines hidden, then these events' lines."""
        out = []
        for code, window in list(self._windows.items()):
            if now_ms - window[0] >= self.window_ms:
                if window[2]:
                    out.append(f"({window[2]} more [{code}] lines in {self.window_ms} ms not logged)")
                del self._windows[code]
        for e in events:
            window = self._windows.setdefault(e.code, [now_ms, 0, 0])
            if window[1] < self.per_window:
                window[1] += 1
                out.append(e.line())
            else:
                window[2] += 1
        return out
