"""Where a change comes from, and what a node holds (pure values shared by db/ and replication/).

Every write appends changes with an origin (node, incarnation, epoch, seq): the
node that accepted it, the incarnation of that node (a random id drawn each time
a node opens its database, so a node whose file was wiped or restored from a
backup never reuses an id the others hold), the epoch in which that node was
coordinator, and the next number in that (node, incarnation, epoch) sequence.
A node holds a gapless prefix of every origin's sequence, so what it holds is a
vector {(node, incarnation, epoch): last seq}.

An origin with an empty incarnation is only a label (a sale's or a registration's
ranking, which compare (epoch, node, seq)), never a change id.
"""

import re
import secrets
from dataclasses import dataclass

from models.numbers import is_whole

Key = tuple[int, str, int]  # (node, incarnation, epoch)
Vector = dict[Key, int]

LEGACY_INCARNATION = "0"  # the incarnation of every change written before incarnations existed (db.schema, migration 5)
INCARNATION_BYTES = 8
INCARNATION_PATTERN = re.compile(r"[0-9a-f]{1,32}")


def new_incarnation() -> str:
    """A random incarnation id: 16 hex digits."""
    return secrets.token_hex(INCARNATION_BYTES)


def is_incarnation(value: object) -> bool:
    return isinstance(value, str) and INCARNATION_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True, order=True)
class Origin:
    node: int
    epoch: int
    seq: int
    incarnation: str = ""

    @property
    def key(self) -> Key:
        return (self.node, self.incarnation, self.epoch)

    def to_wire(self) -> list:
        return [self.node, self.incarnation, self.epoch, self.seq]


def origin_from_wire(value: object) -> Origin:
    """[node, incarnation, epoch, seq] -> Origin; ValueError on anything else."""
    if not (isinstance(value, list) and len(value) == 4 and is_incarnation(value[1])
            and all(is_whole(v, 1) for v in (value[0], value[2], value[3]))):
        raise ValueError("origin must be [node, incarnation, epoch, seq]")
    return Origin(value[0], value[2], value[3], value[1])


def covers(vector: Vector, origin: Origin) -> bool:
    """True when a node with this vector holds the change with this origin."""
    return vector.get(origin.key, 0) >= origin.seq


def covers_all(vector: Vector, other: Vector) -> bool:
    """True when a node with `vector` holds everything a node with `other` holds."""
    return all(vector.get(key, 0) >= seq for key, seq in other.items())


def position(vector: Vector) -> int:
    """How many changes a holder of this vector holds: one number to compare nodes by."""
    return sum(vector.values())


def highest_epoch(vector: Vector) -> int:
    """The highest epoch any change of this vector was written in (0 when empty)."""
    return max((epoch for _, _, epoch in vector), default=0)


def vector_after(vector: Vector, origins: list[Origin]) -> Vector:
    """The vector of a holder of `vector` once it also holds `origins`."""
    after = dict(vector)
    for origin in origins:
        after[origin.key] = max(after.get(origin.key, 0), origin.seq)
    return after


def vector_to_json(vector: Vector) -> dict:
    return {f"{node}.{incarnation}.{epoch}": seq for (node, incarnation, epoch), seq in vector.items()}


def vector_from_json(value: object) -> Vector:
    """{"3.9f0c2a7d1b3e4f56.2": 17} -> {(3, "9f0c2a7d1b3e4f56", 2): 17}; ValueError on anything else."""
    if not isinstance(value, dict):
        raise ValueError("vector must be an object")
    vector = {}
    for key, seq in value.items():
        parts = str(key).split(".")
        if not (len(parts) == 3 and f"{parts[0]}{parts[2]}".isascii() and parts[0].isdigit() and parts[2].isdigit()
                and is_incarnation(parts[1]) and is_whole(seq)):
            raise ValueError(f"bad vector entry {key!r}")
        vector[(int(parts[0]), parts[1], int(parts[2]))] = seq
    return vector


def version(time_ms: int, origin: Origin) -> str:
    """A register's version: later (time, node) wins, then epoch and seq; compares as text.

    Fixed widths make text order the order of (time, node, epoch, seq)."""
    return f"{time_ms:015d}.{origin.node:05d}.{origin.epoch:010d}.{origin.seq:012d}"


def version_after(current: str, now_ms: int, origin: Origin) -> str:
    """The version of a local update: now, or just after the current one if the clock is behind it,
    so a node's own later write always wins on every node."""
    current_ms = int(current.split(".", 1)[0]) if current else -1
    return version(max(now_ms, current_ms + 1), origin)


def origin_text(origin: Origin) -> str:
    """node.epoch.seq"""
    return f"{origin.node}.{origin.epoch}.{origin.seq}"


def origin_from_text(text: str) -> Origin:
    """The inverse of origin_text; ValueError when it is not one."""
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts):
        raise ValueError(f"not an origin: {text!r}")
    return Origin(*map(int, parts))


VERSION_PATTERN = re.compile(r"[0-9]{15}\.[0-9]{5}\.[0-9]{10}\.[0-9]{12}")


def is_version(text: object) -> bool:
    """A register's version as version() writes it, or '' (a row from before registers had versions)."""
    return text == "" or (isinstance(text, str) and VERSION_PATTERN.fullmatch(text) is not None)
