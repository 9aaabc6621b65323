"""replication/state.py's pure state machines: CoordinatorState (take-over, follower states, the acknowledgement
rule, refusals, pulls) and FollowerState (which pushes to apply, catching up). No sockets, threads or sleeps:
time is the `now` (ms) each call is given, and every answer is read from the Ready it returns."""

import pytest

from election.bully import CANDIDATE, COORDINATOR, FOLLOWER, ElectionView
from models.changes import Origin
from replication.messages import Push, PushAccepted, PushNotReady, PushOldEpoch, push_answer_from_json
from replication.state import CATCHING_UP, DOWN, IN_SYNC, STALL_MS, UNKNOWN, CoordinatorState, FollowerState, PushNow, Ready, WaitUntil

NODE, EPOCH, TIMEOUT = 3, 4, 1000
BATCH = 3  # changes per push: a follower more than this behind is CATCHING_UP
HEARTBEAT = 100
KEY = Origin(NODE, EPOCH, 0).key  # the (node, incarnation, epoch) of every change this coordinator writes in these tests


def codes(ready: Ready) -> list[tuple[str, dict]]:
    return [(e.code, dict(e.fields)) for e in ready.events]


def serving(peers=(1, 2), acks: int = 1, now: int = 0) -> CoordinatorState:
    """Node 3, coordinator of EPOCH, taken over from every peer and serving; followers still UNKNOWN."""
    state = CoordinatorState(NODE, list(peers), acks, TIMEOUT, BATCH, HEARTBEAT)
    state.begin(EPOCH, now)
    for peer in peers:
        state.take_over_done(peer, now)
    state.serving_started(0, now)
    return state


def write(seq: int) -> list[Origin]:
    return [Origin(NODE, EPOCH, seq)]


def holds(state: CoordinatorState, peer: int, seq: int, now: int, sent: int | None = None, more: bool = False) -> Ready:
    """`peer` answers a push read when this node held `sent` (default: seq) with a vector holding up to `seq`."""
    return state.push_answered(peer, {KEY: sent if sent is not None else seq}, more, PushAccepted({KEY: seq}), now)


# -- the acknowledgement rule -------------------------------------------------------------------------------------

def test_a_write_waits_until_acks_required_followers_hold_it_then_counts_the_holders():
    """With acks_required=1 a write is acknowledged when the first follower holds it, replicas = 1 + holders."""
    state = serving(acks=1)
    assert state.change_committed(7, EPOCH, write(1), now=10).acknowledged == []
    assert state.waiting == 1
    ready = holds(state, 1, 1, now=20)
    assert ready.acknowledged == [(7, 2)] and ready.refused == [] and state.waiting == 0


def test_with_two_acks_required_both_followers_must_hold_it_and_replicas_is_three():
    """acks_required=2: one holder is not enough while the other could still take it; two holders give replicas=3."""
    state = serving(acks=2)
    state.change_committed(7, EPOCH, write(1), now=0)
    assert holds(state, 1, 1, now=5).acknowledged == []
    assert holds(state, 2, 1, now=6).acknowledged == [(7, 3)]


def test_a_follower_holding_an_earlier_change_does_not_hold_the_write():
    """A write of several changes of one key waits for its latest: holding seq 1 of 2 is not holding it."""
    state = serving(acks=1)
    state.change_committed(7, EPOCH, [Origin(NODE, EPOCH, 1), Origin(NODE, EPOCH, 2)], now=0)
    assert holds(state, 1, 1, now=5, sent=2, more=True).acknowledged == []
    assert holds(state, 1, 2, now=6).acknowledged == [(7, 2)]


def test_a_down_follower_stops_counting_so_the_write_is_acknowledged_with_the_copies_it_has():
    """acks_required=2, one holder, the other follower fails a push: acknowledged at once with 2 copies, and said."""
    state = serving(acks=2)
    state.change_committed(7, EPOCH, write(1), now=0)
    holds(state, 1, 1, now=5)
    ready = state.push_failed(2, "connection refused", now=6)
    assert ready.acknowledged == [(7, 2)]
    assert codes(ready) == [("follower_unreachable", {"peer": 2}), ("acknowledged_short", {"copies": 2})]
    assert state.under_replicated_acks == 1


def test_an_unknown_follower_still_counts_so_the_write_waits_for_it():
    """One follower DOWN, the other never contacted (UNKNOWN): the write waits, since the unknown one could still take it."""
    state = serving(acks=1)
    state.push_failed(1, "timed out", now=0)
    assert state.change_committed(7, EPOCH, write(1), now=1).acknowledged == []
    assert state.tick(now=TIMEOUT).acknowledged == [] and state.followers[2].state == UNKNOWN
    assert state.tick(now=1 + TIMEOUT).acknowledged == [(7, 1)]  # only its deadline ends the wait


def test_a_follower_catching_up_does_not_hold_up_a_write():
    """A CATCHING_UP follower (more than a batch behind) is not waited for (only IN_SYNC and UNKNOWN ones are)."""
    state = serving(peers=(1,), acks=1)
    state.push_answered(1, {KEY: 9}, False, PushAccepted({KEY: 2}), now=0)
    ready = state.change_committed(7, EPOCH, [Origin(NODE, EPOCH, 10)], now=1)
    assert ready.acknowledged == [(7, 1)] and codes(ready) == [("acknowledged_short", {"copies": 1})]


def test_a_follower_that_fell_behind_by_a_burst_still_holds_up_a_write_until_it_fails():
    """IN_SYNC, then more than a batch behind (a burst, a slow link): it still counts; once DOWN it no longer does, and
    back from DOWN but behind it is a returning node's catch-up again, which does not."""
    state = serving(peers=(1,), acks=1)
    holds(state, 1, 1, now=0)
    holds(state, 1, 2, now=1, sent=9)  # far behind what it was sent
    assert state.followers[1].state == CATCHING_UP
    assert state.change_committed(7, EPOCH, [Origin(NODE, EPOCH, 10)], now=2).acknowledged == []
    assert holds(state, 1, 10, now=3).acknowledged == [(7, 2)]
    holds(state, 1, 11, now=4, sent=20)
    state.push_failed(1, "timed out", now=5)
    state.push_answered(1, {KEY: 30}, False, PushAccepted({KEY: 12}), now=6)
    assert state.change_committed(8, EPOCH, [Origin(NODE, EPOCH, 31)], now=7).acknowledged == [(8, 1)]


def test_with_every_follower_down_a_write_is_acknowledged_at_once_with_one_copy():
    """No follower could take it: the write does not wait for the deadline."""
    state = serving(acks=1)
    state.push_failed(1, "refused", now=0)
    state.push_failed(2, "refused", now=0)
    assert state.change_committed(7, EPOCH, write(1), now=1).acknowledged == [(7, 1)]


def test_at_the_deadline_a_write_is_acknowledged_short_with_the_copies_it_has():
    """timeout_ms after its commit a waiting write is acknowledged with its holders, and acknowledged_short is noted."""
    state = serving(acks=2)
    state.change_committed(7, EPOCH, write(1), now=100)
    holds(state, 1, 1, now=150)
    assert state.tick(now=100 + TIMEOUT - 1).acknowledged == []
    ready = state.tick(now=100 + TIMEOUT)
    assert ready.acknowledged == [(7, 2)] and state.waiting == 0
    assert codes(ready) == [("acknowledged_short", {"copies": 2})]


def test_with_no_acks_required_a_write_is_acknowledged_at_once():
    """acks_required=0: acknowledged in the same call, with this node's copy only."""
    state = serving(acks=0)
    ready = state.change_committed(7, EPOCH, write(1), now=0)
    assert ready.acknowledged == [(7, 1)] and codes(ready) == [] and state.waiting == 0


def test_writes_are_settled_each_on_its_own():
    """Two waiting writes: a follower holding only the first acknowledges only the first."""
    state = serving(acks=1)
    state.change_committed(7, EPOCH, write(1), now=0)
    state.change_committed(8, EPOCH, write(2), now=1)
    assert holds(state, 1, 1, now=5, sent=2, more=True).acknowledged == [(7, 2)]
    assert holds(state, 2, 2, now=6).acknowledged == [(8, 2)]


# -- refusals -----------------------------------------------------------------------------------------------------

def test_a_write_is_refused_while_not_serving():
    """Before the take-over is done (and before any begin) a committed write is refused, never waited on."""
    never_began = CoordinatorState(NODE, [1, 2], 1, TIMEOUT)
    assert never_began.change_committed(7, 1, write(1), now=0).refused == [7]
    taking_over = CoordinatorState(NODE, [1, 2], 1, TIMEOUT)
    taking_over.begin(EPOCH, now=0)
    assert taking_over.change_committed(7, EPOCH, write(1), now=0).refused == [7]
    assert taking_over.waiting == 0


def test_a_write_stamped_in_another_epoch_is_refused():
    """A write stamped in an older (or newer) epoch than the one served is refused."""
    state = serving()
    assert state.change_committed(7, EPOCH - 1, write(1), now=0).refused == [7]
    assert state.change_committed(8, EPOCH + 1, write(1), now=0).refused == [8]


def test_end_refuses_every_waiting_write():
    """Stepping down (end) refuses the writes still waiting and stops serving."""
    state = serving()
    state.change_committed(7, EPOCH, write(1), now=0)
    state.change_committed(8, EPOCH, write(2), now=0)
    ready = state.end(now=5)
    assert sorted(ready.refused) == [7, 8] and ready.acknowledged == [] and state.waiting == 0
    assert not state.serving and state.change_committed(9, EPOCH, write(3), now=6).refused == [9]


def test_a_new_generation_refuses_the_writes_of_the_previous_one():
    """begin() of a new epoch refuses what was still waiting in the old one."""
    state = serving()
    state.change_committed(7, EPOCH, write(1), now=0)
    assert state.begin(EPOCH + 1, now=5).refused == [7]


def test_a_stale_push_answer_reports_the_newer_epoch_and_refuses_waiting_writes():
    """A follower answering PushOldEpoch: observed_epoch for the election, waiting writes refused, no more serving."""
    state = serving()
    state.change_committed(7, EPOCH, write(1), now=0)
    ready = state.push_answered(1, {KEY: 1}, False, PushOldEpoch(EPOCH + 1, 2), now=5)
    assert ready.observed_epoch == (1, EPOCH + 1, 2)
    assert ready.refused == [7] and ready.acknowledged == [] and not state.serving
    assert codes(ready) == [("follower_reports_newer_epoch", {"peer": 1, "epoch": EPOCH + 1})]
    assert state.change_committed(8, EPOCH, write(2), now=6).refused == [8]


def test_a_not_ready_push_answer_changes_nothing():
    """PushNotReady (the follower has not heard the announcement yet): the follower stays UNKNOWN, writes keep waiting."""
    state = serving()
    state.change_committed(7, EPOCH, write(1), now=0)
    ready = state.push_answered(1, {KEY: 1}, False, PushNotReady(EPOCH - 1, 2), now=5)
    assert ready == Ready() and state.followers[1].state == UNKNOWN and state.waiting == 1


def test_answers_after_end_or_from_strangers_are_ignored():
    """Push answers and failures after end(), or about a node that is not a peer, change nothing."""
    state = serving()
    assert state.push_answered(9, {KEY: 1}, False, PushAccepted({KEY: 1}), now=0) == Ready()
    state.end(now=1)
    assert holds(state, 1, 1, now=2) == Ready() and state.push_failed(2, "x", now=3) == Ready()
    assert state.followers[1].state == UNKNOWN and state.followers[2].state == UNKNOWN


# -- take-over ----------------------------------------------------------------------------------------------------

def test_the_coordinator_serves_only_after_the_take_over_from_every_peer():
    """begin() notes take_over_started; serve is asked only by the take_over_done of the last peer."""
    state = CoordinatorState(NODE, [2, 1], 1, TIMEOUT)
    began = state.begin(EPOCH, now=0)
    assert not began.serve and codes(began) == [("take_over_started", {"epoch": EPOCH})]
    assert not state.take_over_done(1, now=5).serve
    assert not state.take_over_done(9, now=5).serve  # not a peer
    assert state.take_over_done(2, now=6).serve
    started = state.serving_started(42, now=7)
    assert state.serving and codes(started) == [("serving", {"epoch": EPOCH, "position": 42})]


def test_a_coordinator_with_no_peers_serves_at_once():
    """No peer to take over from: begin() itself asks to serve."""
    state = CoordinatorState(NODE, [], 1, TIMEOUT)
    assert state.begin(1, now=0).serve
    state.serving_started(0, now=0)
    assert state.change_committed(7, 1, [Origin(NODE, 1, 1)], now=0).acknowledged == [(7, 1)]


def test_take_over_and_serving_after_end_do_nothing():
    """A take-over finishing after the node stopped coordinating does not make it serve."""
    state = CoordinatorState(NODE, [1], 1, TIMEOUT)
    state.begin(EPOCH, now=0)
    state.end(now=1)
    assert not state.take_over_done(1, now=2).serve
    assert state.serving_started(0, now=3) == Ready() and not state.serving


# -- follower states ----------------------------------------------------------------------------------------------

def test_a_follower_goes_from_unknown_to_catching_up_to_in_sync_with_their_events():
    """Behind: follower_catching_up; holding all that was sent with nothing more: follower_in_sync (once)."""
    state = serving()
    behind = state.push_answered(1, {KEY: 10}, False, PushAccepted({KEY: 4}), now=0)
    assert state.followers[1].state == CATCHING_UP and codes(behind) == [("follower_catching_up", {"peer": 1})]
    partial = holds(state, 1, 10, now=5, sent=10, more=True)  # all of this batch, but more is coming
    assert state.followers[1].state == CATCHING_UP and codes(partial) == []
    synced = holds(state, 1, 12, now=10)
    assert state.followers[1].state == IN_SYNC and codes(synced) == [("follower_in_sync", {"peer": 1})]
    assert codes(holds(state, 1, 13, now=15)) == []  # still in sync: nothing new to say


def test_a_follower_in_sync_that_falls_behind_then_fails_then_returns():
    """follower_fell_behind, then follower_unreachable once however often it fails, then in sync again."""
    state = serving()
    holds(state, 2, 5, now=0)
    fell = state.push_answered(2, {KEY: 9}, False, PushAccepted({KEY: 5}), now=5)
    assert state.followers[2].state == CATCHING_UP and codes(fell) == [("follower_fell_behind", {"peer": 2})]
    assert codes(state.push_failed(2, "timed out", now=10)) == [("follower_unreachable", {"peer": 2})]
    assert codes(state.push_failed(2, "timed out", now=20)) == []
    assert state.followers[2].state == DOWN
    back = holds(state, 2, 9, now=30)
    assert state.followers[2].state == IN_SYNC and codes(back) == [("follower_in_sync", {"peer": 2})]


def test_a_follower_within_a_batch_of_the_coordinator_still_holds_up_a_write():
    """A probe's answer (or a burst) showing a follower a few changes behind keeps it IN_SYNC: the write waits for it."""
    state = serving(peers=(1,), acks=1)
    assert state.change_committed(7, EPOCH, write(1), now=1).acknowledged == []
    probe = state.push_answered(1, {KEY: 1}, False, PushAccepted({}), now=2)
    assert probe.acknowledged == [] and state.followers[1].state == IN_SYNC and codes(probe) == []
    assert state.next_push(1, news=False, now=2) == PushNow({}, send_entries=True)  # the rest goes at once
    assert holds(state, 1, 1, now=3).acknowledged == [(7, 2)]


def test_a_follower_back_from_down_but_behind_is_catching_up_again():
    """From DOWN, an answer that does not cover what was sent notes follower_catching_up."""
    state = serving()
    state.push_failed(1, "refused", now=0)
    ready = state.push_answered(1, {KEY: 9}, False, PushAccepted({KEY: 2}), now=5)
    assert state.followers[1].state == CATCHING_UP and codes(ready) == [("follower_catching_up", {"peer": 1})]


def test_next_push_probes_an_unknown_follower_then_sends_entries_to_one_behind_one_push_at_a_time():
    """An UNKNOWN follower gets a probe; while it is out nothing else goes; once it shows the follower behind, entries at once."""
    state = serving(peers=(1,))
    assert state.next_push(1, news=False, now=0) == PushNow({}, send_entries=False)
    assert state.next_push(1, news=True, now=1) == WaitUntil(1 + HEARTBEAT, unless_news=False)  # the probe is out
    state.push_answered(1, {KEY: 9}, False, PushAccepted({KEY: 2}), now=2)  # 7 behind, more than a batch
    assert state.next_push(1, news=False, now=2) == PushNow({KEY: 2}, send_entries=True)


def test_a_follower_holding_everything_gets_the_next_push_on_news_or_after_a_heartbeat():
    """In sync and holding all: wait for news (a local commit) or heartbeat_ms after the last push, whichever comes first."""
    state = serving(peers=(1,))
    state.next_push(1, news=False, now=0)
    holds(state, 1, 5, now=1)
    assert state.next_push(1, news=False, now=2) == WaitUntil(HEARTBEAT, unless_news=True)
    assert state.next_push(1, news=True, now=3) == PushNow({KEY: 5}, send_entries=True)
    holds(state, 1, 6, now=4)
    assert state.next_push(1, news=False, now=3 + HEARTBEAT) == PushNow({KEY: 6}, send_entries=True)  # doubles as a heartbeat


def test_after_a_failed_push_the_next_waits_a_heartbeat_and_after_not_ready_a_quarter_of_one():
    """Backing off: heartbeat_ms after a failure (then a probe, the follower being DOWN), heartbeat_ms/4 after "not ready"."""
    state = serving(peers=(1,))
    state.next_push(1, news=False, now=0)
    state.push_failed(1, "refused", now=10)
    assert state.next_push(1, news=True, now=11) == WaitUntil(10 + HEARTBEAT, unless_news=False)
    assert state.next_push(1, news=True, now=10 + HEARTBEAT) == PushNow({}, send_entries=False)
    state.push_answered(1, {KEY: 1}, False, PushNotReady(EPOCH, 0), now=200)
    assert state.next_push(1, news=True, now=201) == WaitUntil(200 + HEARTBEAT // 4, unless_news=False)


def test_no_push_before_the_take_over_from_that_peer_nor_after_the_term():
    """next_push waits until the take-over pull from the peer is done, and once end() was called."""
    state = CoordinatorState(NODE, [1], 1, TIMEOUT, BATCH, HEARTBEAT)
    state.begin(EPOCH, 0)
    assert isinstance(state.next_push(1, news=True, now=0), WaitUntil)
    state.take_over_done(1, 0)
    assert isinstance(state.next_push(1, news=True, now=0), PushNow)
    state.end(1)
    assert isinstance(state.next_push(1, news=True, now=2), WaitUntil)


def test_members_show_each_followers_role_and_position():
    """members(): the coordinator, a follower in sync with its position, a down one with none."""
    state = serving(peers=(1, 2))
    holds(state, 1, 5, now=0)
    state.push_failed(2, "refused", now=1)
    members = state.members(own_position=5)
    assert members["3"] == {"role": "coordinator", "alive": True, "epoch": EPOCH, "position": 5}
    assert members["1"] == {"role": "follower", "alive": True, "epoch": EPOCH, "position": 5, "state": IN_SYNC}
    assert members["2"] == {"role": "down", "alive": False, "epoch": None, "position": None, "state": DOWN}


# -- pulls --------------------------------------------------------------------------------------------------------

def test_a_follower_holding_changes_the_coordinator_lacks_is_pulled_from():
    """An answer whose vector has changes beyond what was sent asks for a pull from that follower."""
    state = serving()
    theirs = {KEY: 5, (2, EPOCH - 1): 3}  # node 2's writes from the epoch it coordinated
    assert state.push_answered(2, {KEY: 5}, False, PushAccepted(theirs), now=0).pulls == [2]
    assert holds(state, 1, 5, now=1).pulls == []


def test_a_follower_further_along_the_same_key_is_pulled_from_too():
    """A higher seq of a key the coordinator sent (it committed more meanwhile) also asks for a pull."""
    state = serving()
    assert state.push_answered(1, {KEY: 5}, False, PushAccepted({KEY: 6}), now=0).pulls == [1]


# -- FollowerState ------------------------------------------------------------------------------------------------

def following(coordinator: int = 2, epoch: int = EPOCH) -> ElectionView:
    return ElectionView(FOLLOWER, coordinator, epoch, epoch)


def test_admit_answers_stale_to_a_push_of_an_older_epoch():
    """A push older than the epoch this node knows: PushOldEpoch naming that epoch and its coordinator (0 if none)."""
    follower = FollowerState()
    assert follower.admit(3, Push(EPOCH - 1), following(2, EPOCH)) == PushOldEpoch(EPOCH, 2)
    electing = ElectionView(CANDIDATE, 0, EPOCH - 1, EPOCH)  # saw EPOCH, follows nobody in it
    assert follower.admit(3, Push(EPOCH - 1), electing) == PushOldEpoch(EPOCH, 0)


def test_admit_answers_not_ready_to_a_push_from_a_coordinator_it_does_not_follow_yet():
    """A push of the current or a newer epoch from a node it does not follow in that epoch: PushNotReady."""
    follower = FollowerState()
    assert follower.admit(3, Push(EPOCH + 1), following(2, EPOCH)) == PushNotReady(EPOCH, 2)
    assert follower.admit(3, Push(EPOCH), following(2, EPOCH)) == PushNotReady(EPOCH, 2)
    assert follower.admit(2, Push(EPOCH), ElectionView(COORDINATOR, 1, EPOCH, EPOCH)) == PushNotReady(EPOCH, 1)


def test_admit_accepts_a_push_from_the_coordinator_it_follows_in_that_epoch():
    """The followed coordinator, in its epoch: None (apply it)."""
    assert FollowerState().admit(2, Push(EPOCH, entries=({"x": 1},)), following(2, EPOCH)) is None


def test_a_follower_catches_up_when_it_holds_all_the_coordinator_held_and_no_more_is_coming():
    """catch_up_started on the first push with entries; caught_up and catch_up_finished once all is held, not before."""
    follower = FollowerState()
    first = Push(EPOCH, entries=({"e": 1},), more=True, vector={KEY: 10})
    started = follower.applying(2, first, own_position=0, now=100)
    assert codes(started) == [("catch_up_started", {"coordinator": 2})]
    answer, ready = follower.applied(2, first, {KEY: 5}, now=150)
    assert answer == PushAccepted({KEY: 5}, at=150) and not ready.caught_up and codes(ready) == []
    last = Push(EPOCH, entries=({"e": 2},), more=False, vector={KEY: 10})
    assert codes(follower.applying(2, last, own_position=5, now=200)) == []  # already catching up
    answer, ready = follower.applied(2, last, {KEY: 10}, now=250)
    assert answer == PushAccepted({KEY: 10}, at=250) and ready.caught_up
    assert codes(ready) == [("catch_up_finished", {"coordinator": 2})]
    assert "150 ms" in ready.events[0].text  # from the first entries to holding everything


def test_holding_all_but_with_more_to_come_or_missing_a_change_is_not_caught_up():
    """more=True, or a vector short of the push's: not caught up."""
    follower = FollowerState()
    _, more_coming = follower.applied(2, Push(EPOCH, more=True, vector={KEY: 3}), {KEY: 3}, now=0)
    _, missing = follower.applied(2, Push(EPOCH, vector={KEY: 3}), {KEY: 2}, now=0)
    assert not more_coming.caught_up and not missing.caught_up


def test_a_probe_that_finds_the_follower_complete_is_caught_up_without_a_catch_up():
    """Nothing was missing: caught_up, but no catch_up_started or catch_up_finished."""
    follower = FollowerState()
    probe = Push(EPOCH, vector={KEY: 3}, members={"2": {"role": "coordinator"}})
    assert codes(follower.applying(2, probe, own_position=3, now=0)) == []
    _, ready = follower.applied(2, probe, {KEY: 3}, now=1)
    assert ready.caught_up and codes(ready) == []
    assert (follower.members, follower.members_from) == ({"2": {"role": "coordinator"}}, 2)


def test_entries_after_catching_up_start_no_new_catch_up_until_a_new_coordinator_or_epoch():
    """Caught up with (2, EPOCH): later entries from it are routine; entries from 3 in a new epoch start a catch-up."""
    follower = FollowerState()
    follower.applied(2, Push(EPOCH, vector={KEY: 3}), {KEY: 3}, now=0)
    assert codes(follower.applying(2, Push(EPOCH, entries=({"e": 4},), vector={KEY: 4}), own_position=3, now=5)) == []
    new_epoch = Push(EPOCH + 1, entries=({"e": 1},), vector={Origin(3, EPOCH + 1, 0).key: 1, KEY: 4})
    assert codes(follower.applying(3, new_epoch, own_position=4, now=10)) == [("catch_up_started", {"coordinator": 3})]


def test_a_coordinator_that_did_not_run_past_a_deadline_waits_for_its_followers_first():
    """A stall (no input for more than STALL_MS) does not count against waiting writes: no short acknowledgement on waking."""
    state = CoordinatorState(3, [1, 2], acks_required=1, timeout_ms=2000)
    state.begin(1, 0)
    for peer in (1, 2):
        state.take_over_done(peer, 0)
    state.serving_started(0, 0)
    origin = Origin(3, 1, 1)
    assert state.change_committed(7, 1, [origin], 10).acknowledged == []
    woke = state.tick(10 + STALL_MS + 60_000)
    assert woke.acknowledged == [] and [e.code for e in woke.events] == ["stalled"]
    stale = state.push_answered(1, {Origin(3, 1, 0).key: 1}, False, PushOldEpoch(2, 2), 10 + STALL_MS + 60_010)
    assert stale.refused == [7] and stale.observed_epoch == (1, 2, 2)


def test_a_follower_holding_changes_of_its_own_is_behind_by_what_it_lacks_not_by_a_difference_of_totals():
    """Behind is what the follower lacks of what was sent: extra changes it holds do not make it look close."""
    state = serving(peers=(1,))
    ready = state.push_answered(1, {KEY: 9}, False, PushAccepted({KEY: 2, (1, 3): 20}), now=0)
    assert state.followers[1].state == CATCHING_UP and ready.pulls == [1]


def test_with_a_long_heartbeat_the_runners_regular_ticks_are_not_a_stall():
    """A stall is at least STALL_MS and several heartbeats long: ticks a quarter of a long heartbeat apart let deadlines pass."""
    state = CoordinatorState(NODE, [1], 1, TIMEOUT, BATCH, heartbeat_ms=5000)
    state.begin(EPOCH, 0)
    state.take_over_done(1, 0)
    state.serving_started(0, 0)
    state.change_committed(7, EPOCH, write(1), now=0)
    ready = state.tick(1250)
    assert ready.acknowledged == [(7, 1)] and [code for code, _ in codes(ready)] == ["acknowledged_short"]


# -- under-replication: counted, said once per episode, refused when strict ----------------------------------------

def test_writes_acknowledged_short_are_counted_and_said_once_per_episode():
    state = serving(acks=1)
    state.push_failed(1, "timed out", now=0)
    state.push_failed(2, "timed out", now=0)
    said = []
    for write_id in (1, 2, 3):
        ready = state.change_committed(write_id, EPOCH, write(write_id), now=write_id)
        assert ready.acknowledged == [(write_id, 1)]
        said += codes(ready)
    assert said == [("acknowledged_short", {"copies": 1})] and state.under_replicated_acks == 3
    state.push_answered(1, {KEY: 3}, False, PushAccepted({KEY: 3}), now=10)  # back, holding everything
    state.change_committed(4, EPOCH, write(4), now=11)
    ready = holds(state, 1, 4, now=12)
    assert ready.acknowledged == [(4, 2)]
    assert codes(ready) == [("replicated_again", {"copies": 2, "short": 3})]
    state.push_failed(1, "timed out", now=20)
    ready = state.change_committed(5, EPOCH, write(5), now=21)
    assert codes(ready) == [("acknowledged_short", {"copies": 1})] and state.under_replicated_acks == 4  # a new episode


def test_strict_refuses_a_write_that_would_get_too_few_copies_at_once_or_at_its_deadline():
    state = CoordinatorState(NODE, [1, 2], 1, TIMEOUT, BATCH, HEARTBEAT, strict=True)
    state.begin(EPOCH, 0)
    for peer in (1, 2):
        state.take_over_done(peer, 0)
    state.serving_started(0, 0)
    state.push_failed(1, "timed out", now=0)
    assert state.change_committed(7, EPOCH, write(1), now=1).acknowledged == []  # 2 is UNKNOWN: it could still take it
    ready = state.tick(now=1 + TIMEOUT)
    assert ready.acknowledged == [] and ready.too_few == [(7, 1)] and ready.refused == []
    state.push_failed(2, "timed out", now=TIMEOUT + 2)
    ready = state.change_committed(8, EPOCH, write(2), now=TIMEOUT + 3)
    assert ready.too_few == [(8, 1)] and state.refused_too_few == 2 and state.under_replicated_acks == 0
    holds(state, 1, 2, now=TIMEOUT + 4)  # 1 is back, in sync
    assert state.change_committed(9, EPOCH, write(3), now=TIMEOUT + 4).acknowledged == []
    assert state.push_answered(1, {KEY: 3}, False, PushAccepted({KEY: 3}), now=TIMEOUT + 5).acknowledged == [(9, 2)]


def test_copies_wanted_is_capped_by_the_cluster_size():
    assert serving(peers=(1,), acks=2).copies_wanted == 2
    assert serving(peers=(1, 2), acks=2).copies_wanted == 3
    assert serving(peers=(1, 2), acks=0).copies_wanted == 1


def test_a_push_timeout_is_its_own_and_grows_with_the_batch():
    state = serving()
    assert state.push_timeout_ms(0) == TIMEOUT
    assert state.push_timeout_ms(1000) > state.push_timeout_ms(10) > state.push_timeout_ms(0)


# -- a follower's freshness: its lag bounded on its own clock (reports from followers) -------------------------------------------

def test_a_follower_knows_its_lag_only_from_an_echo_of_its_own_answer():
    """No echo yet: lag unknown (refused as "lag"). A push echoing this follower's answer stamp at 100 and holding
    everything bounds the lag by now - 100; it grows until the next such push."""
    follower = FollowerState()
    first, _ = follower.applied(2, Push(EPOCH, vector={KEY: 3}), {KEY: 3}, now=100)
    unknown = follower.freshness(now=150)
    assert unknown.lag_ms is None and unknown.coordinator_position == 3
    assert unknown.refusal(2, EPOCH, 0, 1000) == "lag"
    follower.applied(2, Push(EPOCH, vector={KEY: 5}, echo=first.at), {KEY: 5}, now=400)
    fresh = follower.freshness(now=600)
    assert (fresh.coordinator, fresh.epoch, fresh.held_position, fresh.coordinator_position, fresh.lag_ms) == (2, EPOCH, 5, 5, 500)
    assert fresh.refusal(2, EPOCH, 5, 1000) is None
    assert fresh.refusal(2, EPOCH, 6, 1000) == "min_position"  # a write this follower does not hold yet
    assert fresh.refusal(2, EPOCH, 0, 499) == "lag"
    assert fresh.refusal(2, EPOCH, 0, 0) == "lag"  # REPORT_MAX_LAG_MS=0: followers never answer
    assert fresh.refusal(3, EPOCH + 1, 0, 1000) == "lag"  # another coordinator now: what was held says nothing
    assert follower.freshness(now=1200).refusal(2, EPOCH, 0, 1000) == "lag"  # no news for a while: the bound grew


def test_an_echo_this_follower_did_not_issue_or_a_push_not_held_whole_bounds_nothing():
    """A stamp of another run (say before a restart) is not trusted; a push whose vector is not all held keeps the old bound
    while the coordinator's latest position is still reported."""
    follower = FollowerState()
    follower.applied(2, Push(EPOCH, vector={KEY: 3}, echo=90), {KEY: 3}, now=100)
    assert follower.freshness(now=110).lag_ms is None
    follower.applied(2, Push(EPOCH, vector={KEY: 3}, echo=100), {KEY: 3}, now=200)
    follower.applied(2, Push(EPOCH, vector={KEY: 9}, more=True, echo=200), {KEY: 4}, now=300)
    behind = follower.freshness(now=350)
    assert (behind.held_position, behind.coordinator_position, behind.lag_ms) == (3, 9, 250)
    assert behind.refusal(2, EPOCH, 4, 1000) == "min_position"


def test_push_and_answer_carry_the_stamps_and_older_nodes_without_them_still_parse():
    push = Push(EPOCH, echo=123)
    assert Push.from_json(push.to_json()) == push
    assert push_answer_from_json(PushAccepted({}, at=456).to_json()) == PushAccepted({}, at=456)
    old_push = {k: v for k, v in push.to_json().items() if k != "echo"}
    assert Push.from_json(old_push).echo is None
    assert push_answer_from_json({"accepted": True, "vector": {}}).at is None
    with pytest.raises(ValueError):
        Push.from_json({**push.to_json(), "echo": "soon"})
