"""The bully state machine, without sockets: fake clock, fake network, fixed seeds."""

import pytest

from election.bully import CANDIDATE, COORDINATOR, FOLLOWER, BullyMachine, Timing
from election.messages import Coordinator, Election, Heartbeat, Ok, Stale, from_json, to_json
from election.runner import parse_answers
from election.simulator import Simulation

SEEDS = range(8)
T = Timing()


def started(nodes=(1, 2, 3), seed=0, **kwargs) -> Simulation:
    sim = Simulation(list(nodes), seed=seed, **kwargs)
    sim.start(*nodes)
    return sim


@pytest.mark.parametrize("seed", SEEDS)
def test_the_highest_live_id_wins(seed):
    sim = started((1, 2, 3, 4, 5), seed)
    sim.run_until(lambda: sim.settled_on(5))
    assert sim.machines[5].coordinator_epoch == 1
    sim.run(2000)
    assert sim.settled_on(5) and sim.machines[5].coordinator_epoch == 1  # stable: no needless elections


@pytest.mark.parametrize("seed", SEEDS)
def test_several_higher_ids_crashed(seed):
    sim = started((1, 2, 3, 4, 5), seed)
    sim.run_until(lambda: sim.settled_on(5))
    sim.crash(5)
    sim.crash(4)
    took = sim.run_until(lambda: sim.settled_on(3))
    assert took < T.failure_ms + T.election_ms + 300
    assert sim.machines[3].coordinator_epoch == 2


def test_a_crashed_coordinator_is_replaced_within_a_second_by_the_next_id():
    sim = started()
    sim.run_until(lambda: sim.settled_on(3))
    sim.crash(3)
    took = sim.run_until(lambda: sim.settled_on(2))
    assert took < 1000 and sim.machines[2].coordinator_epoch == 2
    assert any(code == "missed_heartbeats" and fields["coordinator"] == 3 for _, _, code, fields in sim.events)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_primary_returns_catches_up_and_reclaims(seed):
    sim = started(seed=seed, catch_up_ms=300)
    sim.run_until(lambda: sim.settled_on(3))
    sim.crash(3)
    sim.run_until(lambda: sim.settled_on(2))
    sim.start(3)
    sim.run_until(lambda: sim.machines[3].state == FOLLOWER)
    assert sim.coordinators() == {2: 2}  # it follows the temporary coordinator while catching up
    sim.run(200)
    assert sim.coordinators() == {2: 2}
    sim.run_until(lambda: sim.settled_on(3))
    assert sim.machines[3].coordinator_epoch == 3
    assert sim.persisted[3] == 3


def test_a_lone_highest_node_waits_the_listening_window_before_claiming():
    sim = started((1, 2, 3))
    sim.run(T.failure_ms - 20)
    assert sim.coordinators() == {}
    sim.run_until(lambda: sim.settled_on(3))


@pytest.mark.parametrize("seed", SEEDS)
def test_elections_crossing_converge_on_one_coordinator(seed):
    sim = started((1, 2, 3, 4), seed, latency_ms=(5, 40))
    sim.run_until(lambda: sim.settled_on(4))
    sim.crash(4)
    # every survivor times out at about the same moment and their Elections cross in flight
    sim.run_until(lambda: sim.settled_on(3))
    assert len(sim.coordinators()) == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_a_partition_elects_one_coordinator_per_side_and_heals_to_one(seed):
    sim = started((1, 2, 3, 4, 5), seed)
    sim.run_until(lambda: sim.settled_on(5))
    sim.partition([1, 2, 3], [4, 5])
    sim.run_until(lambda: sim.settled_on(3, among=[1, 2, 3]))
    assert sim.settled_on(5, among=[4, 5])
    assert sim.coordinators() == {3: 2, 5: 1}
    sim.heal()
    sim.run_until(lambda: sim.settled_on(5))
    assert sim.machines[5].coordinator_epoch > 2


@pytest.mark.parametrize("seed", SEEDS)
def test_a_paused_coordinator_steps_down_when_it_wakes(seed):
    sim = started(seed=seed)
    sim.run_until(lambda: sim.settled_on(3))
    sim.pause(3)
    sim.run_until(lambda: sim.settled_on(2, among=[1, 2]))
    sim.resume(3)
    # the first thing it reads is the new coordinator's news: it is no longer coordinator
    assert sim.machines[3].state != COORDINATOR
    sim.run_until(lambda: sim.settled_on(3))
    assert sim.machines[3].coordinator_epoch == 3


@pytest.mark.parametrize("seed", SEEDS)
def test_lossy_links_still_settle(seed):
    sim = started((1, 2, 3), seed, drop_rate=0.2)
    sim.run_until(lambda: sim.settled_on(3), limit_ms=20_000)
    sim.crash(3)
    sim.run_until(lambda: sim.settled_on(2), limit_ms=20_000)


def test_messages_of_an_old_epoch_are_ignored_and_answered_stale():
    machine = BullyMachine(2, [1, 3], epoch=5)
    machine.start(0)
    ready = machine.step(Coordinator(3, 5), now=10)
    assert machine.state == FOLLOWER and machine.coordinator == 3
    for old in (Coordinator(1, 4), Heartbeat(1, 3)):
        ready = machine.step(old, now=20)
        assert machine.coordinator == 3 and machine.coordinator_epoch == 5
        assert ready.messages == [(1, Stale(2, 5, 3))]


def test_a_catch_up_report_counts_only_for_the_coordinator_followed_now():
    """report_caught_up names the (coordinator, epoch) caught up with: a report about an earlier one is ignored."""
    machine = BullyMachine(3, [1, 2], epoch=4)
    machine.start(0)
    machine.step(Coordinator(2, 5), now=10)
    assert machine.report_caught_up(1, 4, now=20).role_change is None and not machine.caught_up
    machine.report_caught_up(2, 5, now=30)
    assert machine.caught_up and machine.state == CANDIDATE  # caught up with the lower coordinator: it reclaims


def test_a_coordinator_steps_down_on_any_higher_epoch():
    machine = BullyMachine(2, [1, 3], epoch=0)
    machine.start(0)
    machine.tick(T.failure_ms)  # asks 3 again
    machine.send_failed(3, T.failure_ms + 1)
    assert machine.state == COORDINATOR and machine.coordinator_epoch == 1
    ready = machine.step(Election(1, 4), now=T.failure_ms + 2)
    assert machine.state == CANDIDATE and machine.epoch == 4
    assert (1, Ok(2, 4)) in ready.messages and ready.persist_epoch == 4


def test_the_highest_id_stepping_down_reclaims_above_the_epoch_it_saw():
    machine = BullyMachine(3, [1, 2], epoch=0)
    machine.start(0)
    machine.tick(T.failure_ms)
    assert machine.state == COORDINATOR and machine.coordinator_epoch == 1
    ready = machine.step(Election(1, 4), now=T.failure_ms + 1)
    assert machine.state == COORDINATOR and machine.coordinator_epoch == 5
    assert ready.persist_epoch == 5 and (1, Coordinator(3, 5)) in ready.messages


def test_a_new_coordinator_persists_its_epoch_before_announcing():
    machine = BullyMachine(2, [1], epoch=7)
    machine.start(0)
    ready = machine.tick(T.failure_ms)
    assert ready.persist_epoch == 8 and ready.messages == [(1, Coordinator(2, 8))]


def test_a_coordinator_answers_a_lower_election_with_ok_and_its_announcement():
    machine = BullyMachine(3, [1, 2])
    machine.start(0)
    machine.tick(T.failure_ms)
    ready = machine.step(Election(1, 0), now=T.failure_ms + 5)
    assert ready.messages == [(1, Ok(3, 1)), (1, Coordinator(3, 1))]
    assert machine.state == COORDINATOR


def test_unknown_senders_are_ignored():
    machine = BullyMachine(2, [1, 3])
    machine.start(0)
    ready = machine.step(Coordinator(9, 50), now=1)
    assert machine.epoch == 0 and machine.state == CANDIDATE and ready.messages == []


def test_messages_round_trip_and_reject_junk():
    for message in (Election(1, 2), Ok(2, 3), Coordinator(3, 4), Heartbeat(3, 4, 99), Stale(1, 5, 3)):
        assert from_json(to_json(message)) == message
    for junk in ({"type": "coordinator", "sender": 3}, {"type": "boom", "sender": 1, "epoch": 1}, [], None,
                 {"type": "ok", "sender": "3", "epoch": 1}, {"type": "ok", "sender": 3, "epoch": 1, "extra": 1},
                 {"type": "ok", "sender": True, "epoch": 1}):
        with pytest.raises(ValueError):
            from_json(junk)


@pytest.mark.parametrize("seed", range(30))
def test_after_random_faults_stop_everyone_settles_on_the_highest_id(seed):
    nodes = [1, 2, 3, 4]
    sim = Simulation(nodes, seed=seed, latency_ms=(1, 30), drop_rate=0.05)
    sim.epoch_owner = _AnyOwner()  # partitions may elect in the same epoch on both sides; settled state is checked below
    sim.start(*nodes)
    for _ in range(12):
        sim.random_fault(nodes)
        sim.run(sim.rng.randint(50, 800))
    sim.heal()
    for node in list(sim.paused):
        sim.resume(node)
    sim.drop_rate = 0.0
    for node in list(sim.crashed):
        sim.start(node)
    sim.run_until(lambda: sim.settled_on(4), limit_ms=20_000)
    final_epoch = sim.machines[4].coordinator_epoch
    assert all(sim.persisted[n] <= final_epoch for n in nodes)


class _AnyOwner(dict):
    def setdefault(self, key, default=None):
        return default


# -- elections that do not flap --------------------------------------------------------------------
def following(node_id=2, peers=(1, 3), coordinator=3, epoch=1) -> BullyMachine:
    machine = BullyMachine(node_id, list(peers))
    machine.start(0)
    machine.step(Coordinator(coordinator, epoch), now=10)
    assert machine.state == FOLLOWER and machine.coordinator == coordinator
    return machine


def test_a_follower_that_still_hears_its_coordinator_answers_a_lower_election_ok_without_starting_one():
    machine = following()
    machine.step(Heartbeat(3, 1), now=300)
    ready = machine.step(Election(1, 1), now=400)
    assert ready.messages == [(1, Ok(2, 1))]
    assert machine.state == FOLLOWER and ready.role_change is None


def test_a_follower_that_no_longer_hears_its_coordinator_starts_its_own_election_on_a_lower_one():
    machine = following()
    ready = machine.step(Election(1, 1), now=10 + T.failure_ms + 1)
    assert machine.state == CANDIDATE and (3, Election(2, 1)) in ready.messages


def test_a_follower_that_still_hears_its_coordinator_ignores_a_lower_claim_and_its_epoch():
    machine = following()
    for claim in (Coordinator(1, 2), Heartbeat(1, 2)):
        ready = machine.step(claim, now=100)
        assert machine.coordinator == 3 and machine.coordinator_epoch == 1 and machine.epoch == 1
        assert ready.persist_epoch is None and ready.role_change is None
        assert [e.code for e in ready.events] == ["ignored_lower_claim"]
    assert machine.observe_coordinator(1, 2, now=110).role_change is None and machine.epoch == 1
    machine.step(Heartbeat(3, 1), now=150)  # and the live coordinator's heartbeats still count
    assert machine.tick(150 + T.failure_ms).messages == []


def test_a_follower_whose_coordinator_went_silent_follows_a_lower_claim():
    machine = following()
    machine.step(Coordinator(1, 2), now=10 + T.failure_ms + 1)
    assert machine.state == FOLLOWER and machine.coordinator == 1 and machine.epoch == 2


def test_a_live_coordinator_answers_a_lower_claim_by_reasserting_itself_under_a_new_epoch():
    machine = BullyMachine(3, [1, 2])
    machine.start(0)
    for t in range(0, T.failure_ms + 1, 25):
        machine.tick(t)
    assert machine.state == COORDINATOR and machine.coordinator_epoch == 1
    ready = machine.step(Coordinator(1, 2), now=T.failure_ms + 10)
    assert machine.state == COORDINATOR and machine.coordinator_epoch == 3 and ready.persist_epoch == 3
    assert (1, Coordinator(3, 3)) in ready.messages and (2, Coordinator(3, 3)) in ready.messages
    assert ready.role_change.role == COORDINATOR and ready.role_change.epoch == 3
    ready = machine.observe_coordinator(1, 4, now=T.failure_ms + 20)  # a push of a still higher lower claim: the same
    assert machine.state == COORDINATOR and machine.coordinator_epoch == 5


def test_a_coordinator_that_did_not_run_for_a_while_follows_the_lower_claim_instead():
    """Paused past failure_ms, it was rightly replaced: epochs fence it, it follows, catches up, and only then reclaims."""
    machine = BullyMachine(3, [1, 2])
    machine.start(0)
    machine.tick(T.failure_ms)
    assert machine.state == COORDINATOR
    machine.step(Coordinator(2, 2), now=T.failure_ms + 5 * T.failure_ms)  # the first input after the pause
    assert machine.state == FOLLOWER and machine.coordinator == 2 and machine.coordinator_epoch == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_a_node_that_can_send_but_not_be_reached_never_deposes_the_primary(seed):
    """Every peer's connections to 1 fail, while the answers to its own messages come back (the audit's one-way link):
    over 15 s the epoch rises at most 3 times and 3 stays coordinator all along."""
    sim = started(seed=seed)
    sim.run_until(lambda: sim.settled_on(3))
    start_epoch = sim.machines[3].coordinator_epoch
    sim.block(2, 1)
    sim.block(3, 1)
    for _ in range(150):
        sim.run(100)
        assert sim.coordinators() == {3: sim.machines[3].coordinator_epoch}, f"3 lost the role at {sim.now} ms"
    assert max(m.epoch for m in sim.machines.values()) - start_epoch <= 3
    elections = [t for t, node, code, _ in sim.events if node == 1 and code in ("election_started", "missed_heartbeats")]
    assert 1 <= len(elections) <= 10  # it noticed the silence, and backed off instead of electing twice a second
    sim.heal()
    sim.run_until(lambda: sim.settled_on(3))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_node_cut_off_from_every_peer_still_becomes_coordinator_alone(seed):
    sim = started(seed=seed)
    sim.run_until(lambda: sim.settled_on(3))
    sim.crash(3)
    sim.crash(2)
    sim.run_until(lambda: sim.coordinators() == {1: sim.machines[1].coordinator_epoch})


# -- a node unfit for the role steps aside ----------------------------------------------------------
def test_an_unfit_coordinator_leaves_the_role_sends_no_heartbeat_and_claims_nothing_until_fit():
    machine = BullyMachine(3, [1, 2])
    machine.start(0)
    machine.tick(T.failure_ms)
    assert machine.state == COORDINATOR
    ready = machine.set_unfit("storage", now=T.failure_ms + 10)
    assert ready.role_change.role == CANDIDATE and machine.view().unfit == "storage"
    assert [e.code for e in ready.events][0] == "stepping_aside" and ready.messages == []
    for t in range(T.failure_ms + 20, 5 * T.failure_ms, 10):
        assert machine.tick(t).messages == [] and machine.state == CANDIDATE
    ready = machine.step(Election(1, 1), now=5 * T.failure_ms)
    assert ready.messages == []  # no Ok: the lower ids elect among themselves
    machine.step(Coordinator(2, 2), now=5 * T.failure_ms + 1)
    assert machine.state == FOLLOWER and machine.coordinator == 2
    machine.report_caught_up(2, 2, now=5 * T.failure_ms + 2)
    machine.step(Heartbeat(2, 2), now=5 * T.failure_ms + 50)
    assert machine.tick(5 * T.failure_ms + 60).role_change is None  # caught up, but unfit: no reclaim
    ready = machine.set_unfit(None, now=5 * T.failure_ms + 70)
    assert [e.code for e in ready.events] == ["fit_again"] and machine.view().unfit is None
    machine.tick(5 * T.failure_ms + 80)
    assert machine.state == COORDINATOR and machine.coordinator_epoch == 3  # the primary reclaims once fit


@pytest.mark.parametrize("seed", SEEDS)
def test_a_coordinator_whose_storage_fails_is_replaced_and_rejoins_once_it_works(seed):
    sim = started(seed=seed)
    sim.run_until(lambda: sim.settled_on(3))
    sim.set_unfit(3, "storage")
    took = sim.run_until(lambda: sim.settled_on(2))
    assert took < T.failure_ms + T.election_ms + 300
    sim.run(2000)
    assert sim.settled_on(2)  # the sick node stays aside
    sim.set_unfit(3, None)
    sim.run_until(lambda: sim.settled_on(3))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_follower_whose_storage_fails_does_not_disturb_the_coordinator_nor_claim_when_it_dies(seed):
    sim = started(seed=seed)
    sim.run_until(lambda: sim.settled_on(3))
    epoch = sim.machines[3].coordinator_epoch
    sim.set_unfit(2, "storage")
    sim.run(2000)
    assert sim.settled_on(3) and sim.machines[3].coordinator_epoch == epoch
    sim.crash(3)
    sim.run_until(lambda: sim.coordinators() == {1: sim.machines[1].coordinator_epoch})
    sim.run(1000)
    assert sim.machines[2].state == FOLLOWER and sim.machines[2].coordinator == 1


def test_a_reply_to_an_election_message_carries_its_answers_and_junk_is_refused():
    assert parse_answers({"answers": [to_json(Ok(3, 1)), to_json(Coordinator(3, 1))]}, 3) == [Ok(3, 1), Coordinator(3, 1)]
    assert parse_answers({}, 3) == [] and parse_answers(None, 3) == []  # a node that carries no answers
    for junk in ({"answers": {"type": "ok"}}, {"answers": [{"type": "ok", "sender": 3}]}, {"answers": [to_json(Ok(2, 1))]}):
        with pytest.raises(ValueError):
            parse_answers(junk, 3)


def test_a_burst_of_one_event_logs_a_few_lines_then_a_count():
    """120 stale heartbeats in 100 ms: 3 lines, then one line counting the 117 others once the second is over."""
    from runtime.events import RepeatLimiter, event
    limiter = RepeatLimiter(per_window=3, window_ms=1000)
    stale = event("ignored_old_epoch", "ignored Heartbeat of old epoch 22 from node 2", sender=2, epoch=22)
    shown = [line for ms in range(120) for line in limiter.lines([stale], ms)]
    assert len(shown) == 3 and all("[ignored_old_epoch" in line for line in shown)
    assert limiter.lines([], 999) == []
    assert limiter.lines([], 1000) == ["(117 more [ignored_old_epoch] lines in 1000 ms not logged)"]
    other = event("missed_heartbeats", "coordinator 3 silent", coordinator=3)
    assert len(limiter.lines([other, stale], 1001)) == 2  # a new window for each code
