"""Anti-entropy's rules as a pure state machine (sans-I/O): the coordinator compares what it holds with each
follower's holdings in the background, and repairs any difference that replication by vectors cannot see.

Rules:
- Time comes in only as `now` (ms), and the wall time to show as `at` (text); nothing here opens a socket,
  starts a thread, reads a clock or runs SQL (replication/anti_entropy_runner.py does).
- A digest is {bucket: (count, sum of cents, sum of id hashes)}, a bucket being a kind and a day
  (db/digests.py). Every interval_ms the coordinator compares its digest with each in-sync follower's. Equal:
  that comparison agreed. Else the buckets that differ are narrowed to ids: what one side holds that the other lacks.
- A change in flight (committed here, not yet applied there) looks missing for a moment, so an id counts as
  missing only when a second look, confirm_ms later, still finds it missing; only then is it repaired:
  ids the coordinator lacks are fetched from the follower, and every confirmed id is shipped again as the
  coordinator's own new change, which replication pushes to every node lacking it (the others skip it).
- Each confirmed difference is kept for cluster.status (when, with whom, which buckets, how many ids each way).
"""

from dataclasses import dataclass, field

Bucket = tuple[int, int, int]  # (count, sum of cents, sum of id hashes)
Digest = dict[str, Bucket]
Ids = frozenset[tuple[str, str]]  # (kind, id)
CONFIRM_MS = 3000  # a change in flight is applied well within this; a second look after it tells it from a real loss


def differing(mine: Digest, theirs: Digest) -> list[str]:
    """The buckets whose digests differ, in order (a bucket only one side has differs)."""
    empty = (0, 0, 0)
    return sorted(b for b in set(mine) | set(theirs) if mine.get(b, empty) != theirs.get(b, empty))


@dataclass(frozen=True)
class Missing:
    """Ids the coordinator lacks (`here`) and ids the follower lacks (`there`)."""

    here: Ids = frozenset()
    there: Ids = frozenset()

    def __bool__(self) -> bool:
        return bool(self.here or self.there)

    def __and__(self, other: "Missing") -> "Missing":
        return Missing(self.here & other.here, self.there & other.there)


def missing(mine: Ids, theirs: Ids) -> Missing:
    return Missing(frozenset(theirs - mine), frozenset(mine - theirs))


@dataclass
class _Peer:
    next_round: int | None = None  # ms; None: not scheduled yet
    suspects: Missing | None = None  # seen missing once: looked at again at next_round
    suspect_buckets: tuple[str, ...] = ()
    last_compared_at: str | None = None
    last_agreed_at: str | None = None


@dataclass(frozen=True)
class Round:
    """What to do towards a peer now: compare whole digests, or look again at `buckets` only."""

    buckets: tuple[str, ...] = ()

    @property
    def recheck(self) -> bool:
        return bool(self.buckets)


@dataclass
class AntiEntropyState:
    interval_ms: int
    confirm_ms: int = CONFIRM_MS
    peers: dict[int, _Peer] = field(default_factory=dict)
    last_difference: dict | None = None
    repaired: int = 0

    def due(self, peer: int, now: int) -> Round | None:
        """The round due towards `peer` now, or None. The first comes an interval after the peer is first seen."""
        state = self.peers.setdefault(peer, _Peer())
        if state.next_round is None:
            state.next_round = now + self.interval_ms
        if now < state.next_round:
            return None
        return Round(state.suspect_buckets) if state.suspects is not None else Round()

    def skipped(self, peer: int, now: int) -> None:
        """No comparison was possible (the peer is behind, unreachable, or this node stopped coordinating)."""
        state = self.peers.setdefault(peer, _Peer())
        state.next_round, state.suspects, state.suspect_buckets = now + self.interval_ms, None, ()

    def compared(self, peer: int, mine: Digest, theirs: Digest, now: int, at: str) -> list[str]:
        """Whole digests compared: the buckets to narrow to ids (none: they agreed)."""
        state = self.peers.setdefault(peer, _Peer())
        state.last_compared_at = at
        buckets = differing(mine, theirs)
        if not buckets:
            state.last_agreed_at = at
            state.next_round, state.suspects, state.suspect_buckets = now + self.interval_ms, None, ()
        return buckets

    def narrowed(self, peer: int, buckets: list[str], found: Missing, now: int, at: str) -> Missing:
        """What the ids of `buckets` showed; the differences now confirmed, to repair (empty: nothing to repair yet)."""
        state = self.peers.setdefault(peer, _Peer())
        confirmed = found & state.suspects if state.suspects is not None else Missing()
        unconfirmed = Missing(found.here - confirmed.here, found.there - confirmed.there)
        if unconfirmed:
            state.suspects, state.suspect_buckets = unconfirmed, tuple(buckets)
            state.next_round = now + self.confirm_ms
        else:
            state.suspects, state.suspect_buckets = None, ()
            state.next_round = now + self.interval_ms
            if not found:  # the digests differed only while changes were in flight
                state.last_agreed_at = at
        if confirmed:
            self.last_difference = {"peer": peer, "at": at, "buckets": list(buckets), "missing_here": len(confirmed.here),
                                    "missing_there": len(confirmed.there)}
        return confirmed

    def repaired_ids(self, count: int) -> None:
        self.repaired += count

    def status(self) -> dict:
        return {"interval_s": self.interval_ms / 1000,
                "peers": {str(p): {"last_compared_at": s.last_compared_at, "last_agreed_at": s.last_agreed_at}
                          for p, s in sorted(self.peers.items())},
                "last_difference": self.last_difference, "repaired": self.repaired}
