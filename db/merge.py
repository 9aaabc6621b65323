"""Applying changes received from peers: histories merge by union, to the same result on every node.

Rules:
- Each origin's changes are applied in sequence order. A change already held
  is skipped; one that would leave a gap stops that origin for this batch (the
  sender starts again from our vector).
- Networks and stores are added when their id is new.
- Users are keyed by CPF. When a CPF arrives with another id, the
  registration with the higher (epoch, node, id) of its origin wins on every
  node; the loser is kept, marked merged_into the winner, and its sales and
  totals move to the winner. Each merge is recorded in user_merges.
- Sales form a grow-only set keyed by sale_id: a sale already held is not
  added again. If the same sale_id comes with other content (only a
  misbehaving client can cause it), the lower origin wins on every node.
- Entries are validated; a malformed one fails the whole batch, which changes
  nothing.

How each kind is parsed and applied is in db.kinds (users: db.merge_users,
sales: db.merge_sales); this module applies a batch in order.
"""

import sqlite3
from dataclasses import dataclass, field

from db.changes import insert_changes
from db.errors import MalformedChange
from db.kinds import KINDS
from models.changes import Origin
from models.numbers import is_whole


@dataclass
class ApplyResult:
    applied: int = 0
    skipped: int = 0
    merges: list = field(default_factory=list)  # "CPF …: user X merged into Y"


def parse_entries(entries: object) -> list[tuple[Origin, str, object]]:
    """Check a whole batch before anything is written (and outside the writer thread); MalformedChange if any is bad."""
    if not isinstance(entries, list):
        raise MalformedChange("entries must be a list")
    return [_parse_entry(entry) for entry in entries]


def apply_entries(conn: sqlite3.Connection, entries: object, merged_at: str) -> ApplyResult:
    """Apply a batch of changes inside the writer's transaction; MalformedChange (and no change) if any is bad."""
    return apply_parsed(conn, parse_entries(entries), merged_at)


def apply_parsed(conn: sqlite3.Connection, parsed: list[tuple[Origin, str, object]], merged_at: str) -> ApplyResult:
    """Apply a batch that parse_entries accepted, inside the writer's transaction."""
    result = ApplyResult()
    last_seq: dict[tuple[int, int], int] = {}
    blocked: set[tuple[int, int]] = set()
    batched: dict[str, list[tuple[Origin, object]]] = {}
    for origin, kind_name, record in parsed:
        if origin.key in blocked:
            continue
        if origin.key not in last_seq:
            last_seq[origin.key] = conn.execute(
                "SELECT COALESCE(MAX(origin_seq), 0) FROM changes WHERE origin_node = ? AND origin_epoch = ?", origin.key).fetchone()[0]
        if origin.seq <= last_seq[origin.key]:
            result.skipped += 1
            continue
        if origin.seq != last_seq[origin.key] + 1:
            blocked.add(origin.key)
            continue
        last_seq[origin.key] = origin.seq
        result.applied += 1
        kind = KINDS[kind_name]
        # Change rows go in the batch's order, whatever the kind, so this node's log keeps each origin's
        # sequence in order (read_after starts from the first change a peer lacks and ships what follows).
        insert_changes(conn, kind_name, [(origin, kind.entity_id(record))])
        if kind.batched:
            batched.setdefault(kind_name, []).append((origin, record))
        else:
            result.merges += kind.apply(conn, [(origin, record)], merged_at)
    for kind_name, changes in batched.items():  # their rows after the rows they refer to
        result.merges += KINDS[kind_name].apply(conn, changes, merged_at)
    return result


def _parse_entry(entry: object) -> tuple[Origin, str, object]:
    """(origin, kind, record): the record is what the kind's parse makes of the entry's data."""
    if not (isinstance(entry, dict) and isinstance(entry.get("data"), dict) and isinstance(entry.get("kind"), str)
            and entry["kind"] in KINDS):
        raise MalformedChange("an entry must be {origin, kind, data}")
    origin = entry.get("origin")
    if not (isinstance(origin, list) and len(origin) == 3 and all(is_whole(v, 1) for v in origin)):
        raise MalformedChange("origin must be [node, epoch, seq]")
    origin, kind = Origin(*origin), entry["kind"]
    return origin, kind, KINDS[kind].parse(entry["data"], origin)
