"""Election messages: small frozen dataclasses, each carrying the sender and its epoch.

to_json()/from_json() give the wire form; from_json() raises ValueError on
anything that is not exactly one of these messages.
"""

from dataclasses import MISSING, asdict, dataclass, fields

from models.numbers import is_whole


@dataclass(frozen=True)
class Election:
    """"I am starting an election": sent to every higher id."""

    sender: int
    epoch: int


@dataclass(frozen=True)
class Ok:
    """"I am alive and higher than you": the answer to Election."""

    sender: int
    epoch: int


@dataclass(frozen=True)
class Coordinator:
    """"I am the coordinator of this epoch": sent to all after winning."""

    sender: int
    epoch: int


@dataclass(frozen=True)
class Heartbeat:
    """The coordinator is alive; `position` is its replication position (changes it holds)."""

    sender: int
    epoch: int
    position: int = 0


@dataclass(frozen=True)
class Stale:
    """"Your epoch is old": the current epoch and coordinator (0 when unknown)."""

    sender: int
    epoch: int
    coordinator: int


MESSAGE_TYPES = {cls.__name__.lower(): cls for cls in (Election, Ok, Coordinator, Heartbeat, Stale)}


def to_json(message) -> dict:
    return {"type": type(message).__name__.lower(), **asdict(message)}


def from_json(value: object):
    """The message a JSON object describes; ValueError when it is anything else."""
    if not isinstance(value, dict) or value.get("type") not in MESSAGE_TYPES:
        raise ValueError("not an election message")
    cls = MESSAGE_TYPES[value["type"]]
    names = {f.name for f in fields(cls)}
    body = {k: v for k, v in value.items() if k != "type"}
    required = {f.name for f in fields(cls) if f.default is MISSING}
    if not set(body) <= names or not required <= set(body):
        raise ValueError(f"bad fields for {value['type']}")
    if not all(is_whole(v) for v in body.values()):
        raise ValueError("fields must be whole numbers")
    return cls(**body)
