"""Answering other nodes: pushes from the coordinator, pulls from anyone.

Rules:
- A push is applied only when it comes from the coordinator this node follows,
  in that coordinator's epoch. A push of an older epoch is refused as stale
  (with the current epoch and coordinator), which makes its sender step down;
  a push from a coordinator not yet known is refused, to be sent again once its
  announcement arrives. Every push also counts as the coordinator's heartbeat.
- Changes are persisted before the answer, which carries the vector now held:
  that answer is the acknowledgement.
- After a push that left this node holding all the coordinator held, the
  election hears that it has caught up (a returning primary then reclaims).
- A pull returns what the asker lacks, from this node's log, in its order.
"""

import logging
import time

from db.changes import ChangeLog, read_after, vector_from_json, vector_to_json
from db.database import Database
from db.merge import MalformedChange, apply_parsed, parse_entries
from election.bully import FOLLOWER
from election.messages import Heartbeat
from models.errors import ValidationError
from replication.coordinator import REPLICATION_BATCH

log = logging.getLogger("onsell.replication")


def _whole(body: dict, key: str, default=None) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(key, "must be a whole number")
    return value


class FollowerSide:
    def __init__(self, database: Database, changes: ChangeLog, runner_ref, now_iso):
        self.db = database
        self.changes = changes
        self.runner_ref = runner_ref
        self.now_iso = now_iso
        self.members: dict = {}  # the coordinator's latest view of every node
        self.members_from = 0
        self._catching_up_since: float | None = None
        self._caught_up_with: tuple[int, int] | None = None  # (coordinator, epoch) this node last caught up with

    def handle_push(self, sender: int, body) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("entries", []), list):
            raise ValidationError("body", "must be a push")
        epoch, position = _whole(body, "epoch"), _whole(body, "position", 0)
        try:
            theirs = vector_from_json(body.get("vector", {}))
            parsed = parse_entries(body.get("entries", []))  # malformed input is refused before anything else
        except MalformedChange as exc:
            log.error("refused a batch from node %d: %s", sender, exc)
            raise ValidationError("entries", str(exc)) from None
        except ValueError as exc:
            raise ValidationError("vector", str(exc)) from None
        runner = self.runner_ref()
        runner.deliver(Heartbeat(sender, epoch, position))
        state, coordinator, coordinator_epoch, seen = runner.snapshot()
        if epoch < seen:
            return {"accepted": False, "stale": True, "epoch": seen, "coordinator": coordinator if coordinator_epoch == seen else 0}
        if state != FOLLOWER or coordinator != sender or coordinator_epoch != epoch:
            return {"accepted": False, "stale": False, "epoch": seen, "coordinator": coordinator}
        if parsed:
            if self._caught_up_with != (sender, epoch) and self._catching_up_since is None:
                self._catching_up_since = time.monotonic()
                log.info("catch-up from node %d started: %d changes behind", sender, max(0, position - self.changes.position()))
            self.db.write(lambda c: apply_parsed(c, parsed, self.now_iso()))
        if isinstance(body.get("members"), dict):
            self.members, self.members_from = body["members"], sender
        mine = self.changes.vector()
        if not body.get("more") and all(mine.get(key, 0) >= seq for key, seq in theirs.items()):
            if self._catching_up_since is not None:
                log.info("catch-up from node %d finished in %.0f ms: position %d", sender,
                         (time.monotonic() - self._catching_up_since) * 1000, self.changes.position())
                self._catching_up_since = None
            self._caught_up_with = (sender, epoch)
            runner.report_caught_up()
        return {"accepted": True, "vector": vector_to_json(mine)}

    def handle_pull(self, sender: int, body) -> dict:
        if not isinstance(body, dict):
            raise ValidationError("body", "must be a pull")
        try:
            theirs = vector_from_json(body.get("vector", {}))
        except ValueError as exc:
            raise ValidationError("vector", str(exc)) from None
        limit = min(_whole(body, "limit", REPLICATION_BATCH) or 1, REPLICATION_BATCH)
        mine = self.changes.vector()
        entries, more = self.db.read(lambda c: read_after(c, mine, theirs, limit))
        return {"entries": entries, "more": more, "vector": vector_to_json(mine)}
