"""Anti-entropy: its pure rules (replication/anti_entropy.py) with a fake clock, and the digests of real files."""

import uuid

from replicas import demo_chain
from support import drop_sale
from test_architecture import FORBIDDEN_IN_STATE, ROOT, imported_modules, parse

from db.codec import id_hash
from db.digests import bucket_ids, digest, rows_of
from replication.anti_entropy import AntiEntropyState, Missing, differing, missing
from replication.anti_entropy_runner import SettledPositions

INTERVAL_MS, CONFIRM_MS = 60_000, 3_000
LATER = "2999-01-01T00:00:00.000000Z"  # a cut-off after every row of these tests
A, B = ("sale", "a"), ("sale", "b")


def test_the_rules_import_no_thread_socket_clock_or_database():
    path = ROOT / "replication" / "anti_entropy.py"
    assert [m for m, _ in imported_modules(parse(path), path) if m.split(".")[0] in FORBIDDEN_IN_STATE] == []


def test_buckets_differ_when_either_side_lacks_one_or_their_sums_differ():
    mine = {"sale:2026-11-01": (2, 300, 7), "sale:2026-11-02": (1, 100, 5)}
    theirs = {"sale:2026-11-01": (2, 300, 7), "sale:2026-11-02": (1, 100, 6), "void:2026-11-03": (1, 0, 9)}
    assert differing(mine, theirs) == ["sale:2026-11-02", "void:2026-11-03"]
    assert differing(mine, dict(mine)) == []
    assert missing(frozenset({A}), frozenset({B})) == Missing(here=frozenset({B}), there=frozenset({A}))


def test_the_first_round_comes_an_interval_after_and_equal_digests_agree():
    state = AntiEntropyState(INTERVAL_MS, CONFIRM_MS)
    assert state.due(2, now=0) is None and state.due(2, now=INTERVAL_MS - 1) is None
    due = state.due(2, now=INTERVAL_MS)
    assert due is not None and not due.recheck
    assert state.compared(2, {"sale:2026-11-01": (1, 1, 1)}, {"sale:2026-11-01": (1, 1, 1)}, INTERVAL_MS, "t1") == []
    assert state.status()["peers"]["2"] == {"last_compared_at": "t1", "last_agreed_at": "t1"}
    assert state.due(2, now=2 * INTERVAL_MS - 1) is None and state.due(2, now=2 * INTERVAL_MS) is not None


def test_an_id_is_repaired_only_when_a_second_look_still_finds_it_missing():
    state = AntiEntropyState(INTERVAL_MS, CONFIRM_MS)
    state.due(2, now=0)
    buckets = state.compared(2, {"sale:2026-11-01": (1, 1, 1)}, {"sale:2026-11-01": (2, 2, 2)}, INTERVAL_MS, "t1")
    assert buckets == ["sale:2026-11-01"]
    first = state.narrowed(2, buckets, Missing(here=frozenset({A, B})), INTERVAL_MS, "t1")
    assert not first and state.last_difference is None  # maybe in flight: look again
    assert state.due(2, now=INTERVAL_MS + CONFIRM_MS - 1) is None
    again = state.due(2, now=INTERVAL_MS + CONFIRM_MS)
    assert again.recheck and again.buckets == ("sale:2026-11-01",)
    confirmed = state.narrowed(2, list(again.buckets), Missing(here=frozenset({A})), INTERVAL_MS + CONFIRM_MS, "t2")
    assert confirmed == Missing(here=frozenset({A}))  # B arrived in between: only A is lost
    assert state.last_difference == {"peer": 2, "at": "t2", "buckets": ["sale:2026-11-01"], "missing_here": 1, "missing_there": 0}
    state.repaired_ids(1)
    assert state.status()["repaired"] == 1 and state.due(2, now=INTERVAL_MS + CONFIRM_MS + 1) is None


def test_a_difference_gone_at_the_second_look_is_no_difference():
    state = AntiEntropyState(INTERVAL_MS, CONFIRM_MS)
    state.due(2, now=0)
    state.narrowed(2, ["sale:2026-11-01"], Missing(there=frozenset({A})), INTERVAL_MS, "t1")
    assert not state.narrowed(2, ["sale:2026-11-01"], Missing(), INTERVAL_MS + CONFIRM_MS, "t2")
    assert state.last_difference is None and state.status()["peers"]["2"]["last_agreed_at"] == "t2"


def test_a_skipped_round_forgets_suspects_and_waits_an_interval():
    state = AntiEntropyState(INTERVAL_MS, CONFIRM_MS)
    state.due(2, now=0)
    state.narrowed(2, ["sale:2026-11-01"], Missing(there=frozenset({A})), INTERVAL_MS, "t1")
    state.skipped(2, now=INTERVAL_MS + CONFIRM_MS)
    due = state.due(2, now=2 * INTERVAL_MS + CONFIRM_MS)
    assert due is not None and not due.recheck


def test_files_holding_the_same_sales_have_the_same_digest_and_a_lost_sale_shows_in_its_day(replicas):
    a, b = replicas(3), replicas(1)
    demo_chain(a)
    b.pull_from(a)
    assert a.db.read(lambda c: digest(c, LATER)) == b.db.read(lambda c: digest(c, LATER)) != {}
    lost = b.db.read(lambda c: c.execute("SELECT sale_id, date(day * 86400, 'unixepoch') FROM sales ORDER BY sale_id LIMIT 1 "
                                         "OFFSET 7").fetchone())
    lost = (str(uuid.UUID(bytes=lost[0])), lost[1])
    b.db.write(lambda c: drop_sale(c, lost[0]))
    mine, theirs = a.db.read(lambda c: digest(c, LATER)), b.db.read(lambda c: digest(c, LATER))
    assert a.db.read(lambda c: digest(c, "2000-01-01T00:00:00.000000Z", settled_pos=0)) == {}  # nothing settled yet
    assert differing(mine, theirs) == [f"sale:{lost[1]}"]
    bucket = f"sale:{lost[1]}"
    everything = a.db.read(lambda c: bucket_ids(c, bucket, LATER, "", 10_000))[0]
    pages, after = [], ""
    while True:
        page, more = a.db.read(lambda c, after=after: bucket_ids(c, bucket, LATER, after, 1))
        pages += page
        if not more:
            break
        after = page[-1]
    assert pages == everything and lost[0] in everything
    assert set(everything) - set(b.db.read(lambda c: bucket_ids(c, bucket, LATER, "", 10_000))[0]) == {lost[0]}
    assert [row["id"] for row in a.db.read(lambda c: rows_of(c, "sale", [lost[0]]))] == [lost[0]]


def test_sales_count_in_a_digest_once_settled_at_their_node_and_the_kept_digests_equal_the_rows(replicas):
    """A digest is the kept per-day rows less what arrived after the settled position; it equals summing the rows."""
    a = replicas(3)
    stores, sellers = demo_chain(a)
    settled = a.changes.last_pos
    late = a.sell(sellers[0].id, stores[0].id, 4_321)
    with_late, without = a.db.read(lambda c: digest(c, LATER)), a.db.read(lambda c: digest(c, LATER, settled))
    bucket = f"sale:{late.sold_on.isoformat()}"
    count, cents, hashes = with_late[bucket]
    assert without.get(bucket, (0, 0, 0)) == (count - 1, cents - 4_321, hashes - id_hash(uuid.UUID(late.sale_id).bytes))
    assert late.sale_id in a.db.read(lambda c: bucket_ids(c, bucket, LATER, "", 10_000))[0]
    assert late.sale_id not in a.db.read(lambda c: bucket_ids(c, bucket, LATER, "", 10_000, settled))[0]
    summed: dict[str, tuple] = {}
    for day, cents, stored_id in a.db.read(lambda c: c.execute("SELECT date(day * 86400, 'unixepoch'), amount_cents, sale_id FROM sales")
                                           .fetchall()):
        held = summed.get(f"sale:{day}", (0, 0, 0))
        summed[f"sale:{day}"] = (held[0] + 1, held[1] + cents, held[2] + id_hash(stored_id))
    assert {b: v for b, v in with_late.items() if b.startswith("sale:")} == summed


def test_a_position_counts_as_settled_once_it_is_settle_ms_old_and_what_a_node_started_with_at_once():
    positions = SettledPositions(now_ms=1_000, position=50, settle_ms=10_000)
    assert positions.settled(1_000) == 50
    for at, pos in ((1_250, 60), (5_000, 70), (11_000, 80)):
        positions.sample(at, pos)
    assert positions.settled(11_000) == 50 and positions.settled(11_250) == 60 and positions.settled(15_000) == 70
    assert positions.settled(21_000) == 80
