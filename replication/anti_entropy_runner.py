"""The I/O around anti-entropy's rules (replication/anti_entropy.py): a thread, peer calls, the database.

- One thread wakes every quarter of a second; while this node is the coordinator and serving, it runs the
  round the machine says is due towards each follower replication counts as in sync: peer.digest (the whole
  digest, or the ids of one bucket, page by page), then, for confirmed differences, peer.rows (the rows this
  node lacks) and one write through the ledger that ships every confirmed id again as this node's change.
- Both sides count only what settled: the sales that arrived at each node more than SETTLE_S ago (each node
  samples its own log position every wake), the voids voided before a time the coordinator picks, SETTLE_S before
  now. A sale of the last seconds may still be on its way, and under a steady flow of sales it would make every
  comparison differ.
- Followers answer peer.digest and peer.rows from a pooled reader (db/digests.py); both are bounded.
- One lock guards the machine; no call to a peer or the database is made under it.
"""

import collections
import datetime as dt
import logging
import re
import threading
from functools import partial
from typing import Callable

from db.database import Database
from db.digests import BUCKET_PATTERN, bucket_ids, digest, rows_of, ship_again
from db.kinds import KINDS
from db.merge import MalformedChange
from models.changes import Origin
from models.errors import ValidationError
from models.numbers import is_whole
from models.records import parse_uuid
from replication.anti_entropy import AntiEntropyState, Digest, Missing, Round, missing
from replication.state import REPLICATION_BATCH
from runtime.clock import iso_utc
from runtime.threads import join_until
from wire.peer_link import PeerLink, PeerRefused, PeerUnavailable

log = logging.getLogger("onsell.anti_entropy")

WAKE_S = 0.25
CALL_TIMEOUT_S = 30.0  # a digest reads every sale of the peer: far longer than a heartbeat's answer
IDS_PER_PAGE = 5000  # ids of a bucket per peer.digest answer: about 200 KiB
MAX_PAGES = 200  # a bucket of more than a million ids is not narrowed in one round
SETTLE_S = 10  # rows recorded this recently are left out of a comparison: they may still be on their way
TIME_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")  # as runtime.clock.iso_utc


class AntiEntropyRunner:
    def __init__(self, links: dict[int, PeerLink], database: Database, clock, interval_s: int, now_iso: Callable[[], str],
                 may_compare: Callable[[int], bool], last_position: Callable[[], int]):
        """may_compare(peer): this node serves as coordinator and replication counts `peer` as in sync;
        last_position(): this node's last local log position (db.changes.ChangeLog.last_pos)."""
        self.links = links
        self.db = database
        self.clock = clock
        self._positions = SettledPositions(clock.monotonic_ms(), last_position(), SETTLE_S * 1000)
        self._last_position = last_position
        self.now_iso = now_iso
        self.may_compare = may_compare
        self.state = AntiEntropyState(interval_s * 1000)
        self._commit: Callable | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="anti-entropy", daemon=True)

    def use_ledger(self, commit_unawaited: Callable) -> None:
        """Ship repairs through the ledger's write path (server.ledger.Ledger.commit_unawaited); before start."""
        self._commit = commit_unawaited

    def start(self) -> None:
        self._thread.start()

    def stop(self, deadline_s: float) -> None:
        self._stopped.set()
        for link in self.links.values():
            link.abort()
        join_until([self._thread], deadline_s, self.clock)

    def status(self) -> dict:
        with self._lock:
            return self.state.status()

    # -- the coordinator's side ------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopped.wait(WAKE_S):
            self._positions.sample(self.clock.monotonic_ms(), self._last_position())
            before = iso_utc(self.clock.now() - dt.timedelta(seconds=SETTLE_S))
            settled = self._positions.settled(self.clock.monotonic_ms())
            mine = _Once(lambda before=before, settled=settled: self.db.read(lambda c: digest(c, before, settled)))  # once per wake
            for peer in self.links:
                try:
                    self._maybe_round(peer, before, mine)
                except Exception:  # never die silently: log, and try again at the next round
                    log.exception("anti-entropy with node %d failed", peer)
                    with self._lock:
                        self.state.skipped(peer, self.clock.monotonic_ms())

    def _maybe_round(self, peer: int, before: str, mine: "_Once") -> None:
        with self._lock:
            due = self.state.due(peer, self.clock.monotonic_ms())
        if due is None or self._stopped.is_set():
            return
        if not self.may_compare(peer):
            with self._lock:
                self.state.skipped(peer, self.clock.monotonic_ms())
            return
        try:
            confirmed = self._compare(peer, due, before, mine, self._positions.settled(self.clock.monotonic_ms()))
            if confirmed:
                self._repair(peer, confirmed)
        except (PeerUnavailable, PeerRefused, ValueError) as exc:
            log.info("anti-entropy with node %d skipped: %s", peer, exc)
            with self._lock:
                self.state.skipped(peer, self.clock.monotonic_ms())

    def _compare(self, peer: int, due: Round, before: str, mine: "_Once", settled: int) -> Missing:
        buckets = list(due.buckets)
        if not due.recheck:
            theirs = _digest_from_json(self.links[peer].call("peer.digest", {"before": before}, CALL_TIMEOUT_S))
            with self._lock:
                buckets = self.state.compared(peer, mine.get(), theirs, self.clock.monotonic_ms(), self.now_iso())
            if not buckets:
                return Missing()
        mine_ids, their_ids = set(), set()
        for bucket in buckets:
            kind = bucket.partition(":")[0]
            mine_ids |= {(kind, i) for i in self._ids(bucket, lambda after, b=bucket: self.db.read(
                lambda c: bucket_ids(c, b, before, after, IDS_PER_PAGE, settled)))}
            their_ids |= {(kind, i) for i in self._ids(bucket, partial(self._their_ids, peer, bucket, before))}
        found = missing(frozenset(mine_ids), frozenset(their_ids))
        with self._lock:
            confirmed = self.state.narrowed(peer, buckets, found, self.clock.monotonic_ms(), self.now_iso())
        if confirmed:
            log.warning("anti-entropy: node %d and this node differ in %s: %d ids missing here, %d there; repairing "
                        "[anti_entropy_difference peer=%d missing_here=%d missing_there=%d]", peer, ", ".join(buckets),
                        len(confirmed.here), len(confirmed.there), peer, len(confirmed.here), len(confirmed.there))
        return confirmed

    def _ids(self, bucket: str, page: Callable[[str], tuple[list[str], bool]]) -> list[str]:
        ids, after = [], ""
        for _ in range(MAX_PAGES):
            chunk, more = page(after)
            ids += chunk
            if not more or not chunk:
                break
            after = chunk[-1]
        return ids

    def _their_ids(self, peer: int, bucket: str, before: str, after: str) -> tuple[list[str], bool]:
        answer = self.links[peer].call("peer.digest", {"before": before, "bucket": bucket, "after": after, "limit": IDS_PER_PAGE},
                                       CALL_TIMEOUT_S)
        ids = answer.get("ids") if isinstance(answer, dict) else None
        if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ValueError("not an answer to peer.digest")
        return ids, answer.get("more") is True

    def _repair(self, peer: int, confirmed: Missing) -> None:
        if self._commit is None:
            return
        logged = 0
        for kind in KINDS:
            fetched = []
            lacking = sorted(i for k, i in confirmed.here if k == kind)
            for start in range(0, len(lacking), REPLICATION_BATCH):
                answer = self.links[peer].call("peer.rows", {"kind": kind, "ids": lacking[start:start + REPLICATION_BATCH]},
                                               CALL_TIMEOUT_S)
                rows = answer.get("rows") if isinstance(answer, dict) else None
                if not isinstance(rows, list):
                    raise ValueError("not an answer to peer.rows")
                try:
                    fetched += [KINDS[kind].parse(row, Origin(peer, 0, 0)) for row in rows if isinstance(row, dict)]
                except MalformedChange as exc:
                    raise ValueError(f"node {peer} sent a malformed {kind}: {exc}") from None
            held = sorted(i for k, i in confirmed.there if k == kind)
            if fetched or held:
                logged += self._commit(lambda conn, stamp, kind=kind, held=held, fetched=fetched: ship_again(
                    conn, stamp, kind, held, fetched, self.now_iso()))
        with self._lock:
            self.state.repaired_ids(logged)
        log.info("anti-entropy: shipped %d rows again as new changes [anti_entropy_repaired peer=%d count=%d]", logged, peer, logged)

    # -- answering the coordinator ------------------------------------------------------------------
    def handle_digest(self, sender: int, body) -> dict:
        """peer.digest: {before} -> this node's whole digest of the rows recorded before that time;
        {before, bucket, after, limit} -> a page of that bucket's ids."""
        if not isinstance(body, dict):
            raise ValidationError("body", "must be an object")
        before = body.get("before")
        if not (isinstance(before, str) and TIME_PATTERN.fullmatch(before)):
            raise ValidationError("before", "must be a time as 2026-11-27T12:00:00.000000Z")
        if "bucket" not in body:
            settled = self._positions.settled(self.clock.monotonic_ms())
            return {"digest": {bucket: list(value) for bucket, value in self.db.read(lambda c: digest(c, before, settled)).items()}}
        bucket, after, limit = body.get("bucket"), body.get("after", ""), body.get("limit", IDS_PER_PAGE)
        if not (isinstance(bucket, str) and BUCKET_PATTERN.fullmatch(bucket)):
            raise ValidationError("bucket", "must be kind:YYYY-MM-DD")
        if after != "":
            parse_uuid(after, "after")
        if not is_whole(limit, 1):
            raise ValidationError("limit", "must be a whole number")
        settled = self._positions.settled(self.clock.monotonic_ms())
        ids, more = self.db.read(lambda c: bucket_ids(c, bucket, before, after, min(limit, IDS_PER_PAGE), settled))
        return {"ids": ids, "more": more}

    def handle_rows(self, sender: int, body) -> dict:
        """peer.rows: {kind, ids} -> those rows as replication ships them."""
        kind, ids = (body.get("kind"), body.get("ids")) if isinstance(body, dict) else (None, None)
        if kind not in KINDS:
            raise ValidationError("kind", "unknown kind")
        if not (isinstance(ids, list) and len(ids) <= REPLICATION_BATCH):
            raise ValidationError("ids", f"must be a list of at most {REPLICATION_BATCH} ids")
        ids = [parse_uuid(i, "ids") for i in ids]
        return {"rows": self.db.read(lambda c: rows_of(c, kind, ids))}


class _Once:
    """A value computed at the first get() and kept."""

    def __init__(self, compute: Callable):
        self._compute = compute
        self._done = False
        self._value = None

    def get(self):
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value


def _digest_from_json(answer: object) -> Digest:
    value = answer.get("digest") if isinstance(answer, dict) else None
    if not isinstance(value, dict):
        raise ValueError("not an answer to peer.digest")
    result = {}
    for bucket, bucket_digest in value.items():
        if not (BUCKET_PATTERN.fullmatch(bucket) and isinstance(bucket_digest, list) and len(bucket_digest) == 3
                and all(is_whole(v) for v in bucket_digest)):
            raise ValueError(f"bad digest bucket {bucket!r}")
        result[bucket] = tuple(bucket_digest)
    return result


class SettledPositions:
    """This node's log position as it was `settle_ms` ago, from samples taken every wake: what arrived after it is still
    settling. What the file held when the node started counts as settled."""

    def __init__(self, now_ms: int, position: int, settle_ms: int):
        self._settle_ms = settle_ms
        self._samples: collections.deque[tuple[int, int]] = collections.deque([(now_ms - settle_ms, position)])

    def sample(self, now_ms: int, position: int) -> None:
        self._samples.append((now_ms, position))
        while len(self._samples) > 1 and self._samples[1][0] <= now_ms - self._settle_ms:
            self._samples.popleft()  # the newest sample old enough stays first

    def settled(self, now_ms: int) -> int:
        old_enough = [pos for at, pos in self._samples if at <= now_ms - self._settle_ms]
        return old_enough[-1] if old_enough else self._samples[0][1]
