"""Replication messages: small frozen dataclasses with their wire form, mirroring election/messages.py.

A Push carries changes from the coordinator to one follower (entries stay in
their wire form: db.merge parses them before anything is written). Its answer
is PushAccepted (the follower's vector after applying: the acknowledgement),
PushOldEpoch (the push's epoch is old: the sender must step down) or
PushNotReady (the follower does not follow the sender yet). A Pull asks any
node for what a vector lacks; PullAnswer carries it.

A follower stamps each PushAccepted with `at`, the time it answered on its own
clock; a Push carries back as `echo` the latest stamp its coordinator had
received from that follower before reading `vector`. So `vector` was read after
`echo` on the follower's own clock: how a follower bounds its lag honestly
(replication/state.py FollowerState.freshness), with no clock shared between nodes.

from_json() raises ValueError on anything that is not exactly the message.
"""

from dataclasses import dataclass, field

from models.changes import Vector, vector_from_json, vector_to_json
from models.numbers import is_whole


@dataclass(frozen=True)
class Push:
    """Changes a follower lacks (empty: a probe), with the coordinator's vector and view of the cluster."""

    epoch: int
    entries: tuple = ()
    more: bool = False
    vector: Vector = field(default_factory=dict)
    members: dict = field(default_factory=dict)
    echo: int | None = None  # the follower's latest `at` received before `vector` was read; None: none yet

    @property
    def position(self) -> int:
        return sum(self.vector.values())

    def to_json(self) -> dict:
        return {"epoch": self.epoch, "entries": list(self.entries), "more": self.more, "vector": vector_to_json(self.vector),
                "position": self.position, "members": self.members, "echo": self.echo}

    @classmethod
    def from_json(cls, body: object) -> "Push":
        if not isinstance(body, dict) or not isinstance(body.get("entries", []), list):
            raise ValueError("not a push")
        members = body.get("members", {})
        return cls(_whole(body, "epoch"), tuple(body.get("entries", [])), body.get("more") is True,
                   vector_from_json(body.get("vector", {})), members if isinstance(members, dict) else {}, _whole_or_none(body, "echo"))


@dataclass(frozen=True)
class PushAccepted:
    """The follower applied the push and now holds `vector`; `at`: when it answered, on its own clock (ms)."""

    vector: Vector
    at: int | None = None

    def to_json(self) -> dict:
        return {"accepted": True, "vector": vector_to_json(self.vector), "at": self.at}


@dataclass(frozen=True)
class PushOldEpoch:
    """The push's epoch is older than `epoch`, led by `coordinator` (0: unknown)."""

    epoch: int
    coordinator: int

    def to_json(self) -> dict:
        return {"accepted": False, "stale": True, "epoch": self.epoch, "coordinator": self.coordinator}


@dataclass(frozen=True)
class PushNotReady:
    """The follower does not follow the sender in that epoch yet (its announcement is on the way)."""

    epoch: int
    coordinator: int

    def to_json(self) -> dict:
        return {"accepted": False, "stale": False, "epoch": self.epoch, "coordinator": self.coordinator}


PushAnswer = PushAccepted | PushOldEpoch | PushNotReady


def push_answer_from_json(body: object) -> PushAnswer:
    if not isinstance(body, dict) or not isinstance(body.get("accepted"), bool):
        raise ValueError("not an answer to a push")
    if body["accepted"]:
        return PushAccepted(vector_from_json(body.get("vector", {})), _whole_or_none(body, "at"))
    kind = PushOldEpoch if body.get("stale") is True else PushNotReady
    return kind(_whole(body, "epoch"), _whole(body, "coordinator", 0))


@dataclass(frozen=True)
class Pull:
    """"Send me what this vector lacks", at most `limit` changes."""

    vector: Vector
    limit: int

    def to_json(self) -> dict:
        return {"vector": vector_to_json(self.vector), "limit": self.limit}

    @classmethod
    def from_json(cls, body: object, max_limit: int) -> "Pull":
        if not isinstance(body, dict):
            raise ValueError("not a pull")
        return cls(vector_from_json(body.get("vector", {})), min(_whole(body, "limit", max_limit) or 1, max_limit))


@dataclass(frozen=True)
class PullAnswer:
    entries: tuple
    more: bool
    vector: Vector

    def to_json(self) -> dict:
        return {"entries": list(self.entries), "more": self.more, "vector": vector_to_json(self.vector)}

    @classmethod
    def from_json(cls, body: object) -> "PullAnswer":
        if not isinstance(body, dict) or not isinstance(body.get("entries", []), list):
            raise ValueError("not an answer to a pull")
        return cls(tuple(body.get("entries", [])), body.get("more") is True, vector_from_json(body.get("vector", {})))


def _whole(body: dict, key: str, default=None) -> int:
    value = body.get(key, default)
    if not is_whole(value):
        raise ValueError(f"{key} must be a whole number")
    return value


def _whole_or_none(body: dict, key: str) -> int | None:
    """An optional whole number (absent from nodes that do not send it)."""
    return None if body.get(key) is None else _whole(body, key)
