"""Applying changes received from peers: histories merge by union, to the same result on every node.

Rules:
- Each origin's changes are applied in sequence order. A change already held
  is skipped; one that would leave a gap stops that origin for this batch (the
  sender starts again from our vector).
- A change id names one change forever: one arriving with an id this node holds
  for another entity (kind or id) is refused, logged (one line per batch) and
  counted (node_state, shown by cluster.status). Incarnations make it
  impossible between nodes running this version; it would mean a bug or a
  tampered file, so it is said loudly instead of silently skipped.
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

import logging
import sqlite3
from dataclasses import dataclass, field

from db.change_rows import Logged, last_position, last_seq
from db.codec import uuid_bytes
from db.errors import MalformedChange
from db.incarnations import incarnation_key
from db.kinds import KINDS
from db.node_state import count_conflicts
from models.changes import Origin, origin_from_wire

log = logging.getLogger("onsell.merge")


@dataclass
class ApplyResult:
    applied: int = 0
    skipped: int = 0
    conflicts: int = 0  # changes refused: their id is held here for another entity
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
    keys: dict[tuple[int, str], int] = {}
    last: dict[tuple[int, str, int], int] = {}
    blocked: set[tuple[int, str, int]] = set()
    batched: dict[str, list[tuple[Logged, object]]] = {}
    conflicting: list[str] = []
    pos = last_position(conn)
    for origin, kind_name, record in parsed:
        if origin.key in blocked:
            continue
        inc = incarnation_key(conn, origin.node, origin.incarnation, keys)
        if origin.key not in last:
            last[origin.key] = last_seq(conn, inc, origin.epoch)
        kind = KINDS[kind_name]
        if origin.seq <= last[origin.key]:
            if _holds_as(conn, inc, origin, kind_name, kind.entity_id(record)):
                result.skipped += 1
            else:
                conflicting.append(f"{origin.node}.{origin.incarnation}.{origin.epoch}.{origin.seq} ({kind_name} "
                                   f"{kind.entity_id(record)})")
            continue
        if origin.seq != last[origin.key] + 1:
            blocked.add(origin.key)
            continue
        last[origin.key] = origin.seq
        result.applied += 1
        # Positions go in the batch's order, whatever the kind, so this node's log keeps each origin's
        # sequence in order (read_after starts from the first change a peer lacks and ships what follows).
        pos += 1
        if kind.batched:
            batched.setdefault(kind_name, []).append((Logged(pos, inc, origin), record))
        else:
            result.merges += kind.keep(conn, [(Logged(pos, inc, origin), record)], merged_at)
    for kind_name, changes in batched.items():  # their rows after the rows they refer to
        result.merges += KINDS[kind_name].keep(conn, changes, merged_at)
    if conflicting:
        result.conflicts = len(conflicting)
        count_conflicts(conn, len(conflicting))
        log.error("refused %d change%s whose id this node holds with other content (a wiped or copied database, or a bug): %s",
                  len(conflicting), "" if len(conflicting) == 1 else "s",
                  ", ".join(conflicting[:3]) + (" ..." if len(conflicting) > 3 else ""))
    return result


def _holds_as(conn: sqlite3.Connection, inc: int, origin: Origin, kind: str, entity_id: str) -> bool:
    """Whether the change with this origin, which this node holds, is of this entity (else the id is in conflict)."""
    held = conn.execute("SELECT kind, entity_id FROM changes WHERE origin_inc = ? AND origin_epoch = ? AND origin_seq = ?",
                        (inc, origin.epoch, origin.seq)).fetchone()
    if held is not None:
        return tuple(held) == (kind, entity_id)
    if kind != "sale":  # then it is a sale's own row, of some sale
        return False
    row = conn.execute("SELECT origin_inc, origin_epoch, origin_seq FROM sales WHERE sale_id = ?", (uuid_bytes(entity_id),)).fetchone()
    return row is not None and tuple(row) == (inc, origin.epoch, origin.seq)


def _parse_entry(entry: object) -> tuple[Origin, str, object]:
    """(origin, kind, record): the record is what the kind's parse makes of the entry's data."""
    if not (isinstance(entry, dict) and isinstance(entry.get("data"), dict) and isinstance(entry.get("kind"), str)
            and entry["kind"] in KINDS):
        raise MalformedChange("an entry must be {origin, kind, data}")
    try:
        origin = origin_from_wire(entry.get("origin"))
    except ValueError as exc:
        raise MalformedChange(str(exc)) from None
    kind = entry["kind"]
    return origin, kind, KINDS[kind].parse(entry["data"], origin)
