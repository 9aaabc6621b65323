"""peer.snapshot messages: small frozen dataclasses with their wire form (see replication/snapshot_source.py).

A SnapshotRequest asks the coordinator to `begin` a copy of its database file, for the `status` of one, to `read` a
chunk of it at an offset, or says it is `done` with it. SnapshotInfo answers begin and status: `preparing` (the copy
is being made), `ready` (with its size and sha256), `empty` (the coordinator holds no change: nothing to copy) or
`failed`; with the size of the chunks it serves, so a reader may ask for several at once. SnapshotChunk carries up to
SNAPSHOT_CHUNK_BYTES of the file, base64 on the wire, with the chunk's sha256.

from_json() raises ValueError on anything that is not exactly the message.
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass

from models.numbers import is_whole

BEGIN, STATUS, READ, DONE = "begin", "status", "read", "done"
PREPARING, READY, EMPTY, FAILED = "preparing", "ready", "empty", "failed"
MAX_ID_CHARS = 64


def _id(body: dict, required: bool) -> str | None:
    value = body.get("id")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS or not value.isalnum():
        raise ValueError("id must be a snapshot id")
    return value


def _whole(body: dict, key: str) -> int:
    value = body.get(key)
    if not is_whole(value) or value < 0:
        raise ValueError(f"{key} must be a whole number >= 0")
    return value


@dataclass(frozen=True)
class SnapshotRequest:
    op: str
    id: str | None = None
    offset: int = 0

    def to_json(self) -> dict:
        return {"op": self.op, "id": self.id, "offset": self.offset}

    @classmethod
    def from_json(cls, body: object) -> "SnapshotRequest":
        if not isinstance(body, dict) or body.get("op") not in (BEGIN, STATUS, READ, DONE):
            raise ValueError("op must be begin, status, read or done")
        op = body["op"]
        return cls(op, _id(body, required=op != BEGIN), _whole(body, "offset") if op == READ else 0)


@dataclass(frozen=True)
class SnapshotInfo:
    id: str | None
    state: str
    size: int = 0
    sha256: str = ""
    position: int = 0  # the coordinator's change-log position when the copy was taken
    reason: str = ""  # why it failed
    chunk: int = 0  # the bytes each read answers (but the last): so the reader can ask for several at once

    def to_json(self) -> dict:
        return {"id": self.id, "state": self.state, "size": self.size, "sha256": self.sha256, "position": self.position,
                "reason": self.reason, "chunk": self.chunk}

    @classmethod
    def from_json(cls, body: object) -> "SnapshotInfo":
        if not isinstance(body, dict) or body.get("state") not in (PREPARING, READY, EMPTY, FAILED):
            raise ValueError("not a snapshot status")
        sha = body.get("sha256", "")
        if not isinstance(sha, str) or (body["state"] == READY and len(sha) != 64):
            raise ValueError("sha256 must be 64 hex digits")
        chunk = _whole(body, "chunk")
        if body["state"] == READY and chunk == 0:
            raise ValueError("chunk must be a whole number >= 1")
        return cls(_id(body, required=body["state"] != EMPTY), body["state"], _whole(body, "size"), sha, _whole(body, "position"),
                   str(body.get("reason", ""))[:200], chunk)


@dataclass(frozen=True)
class SnapshotChunk:
    id: str
    offset: int
    data: bytes
    sha256: str  # of data, as the sender read it

    def to_json(self) -> dict:
        return {"id": self.id, "offset": self.offset, "data": base64.b64encode(self.data).decode("ascii"), "sha256": self.sha256}

    @classmethod
    def from_json(cls, body: object) -> "SnapshotChunk":
        if not isinstance(body, dict) or not isinstance(body.get("data"), str) or not isinstance(body.get("sha256"), str):
            raise ValueError("not a snapshot chunk")
        try:
            data = base64.b64decode(body["data"])  # not validated here: a changed character fails the chunk's sha256
        except (binascii.Error, ValueError):
            raise ValueError("data is not base64") from None
        return cls(_id(body, required=True), _whole(body, "offset"), data, body["sha256"])

    @property
    def intact(self) -> bool:
        return hashlib.sha256(self.data).hexdigest() == self.sha256
