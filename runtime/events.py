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
