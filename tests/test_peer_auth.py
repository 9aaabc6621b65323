"""Peer envelopes bound to their recipient and to the recipient's boot, with replay protection that compares no
clocks: the pure rules (wire/peer_auth.py), a link that says hello again, and nodes whose clocks are an hour off."""

import json
import secrets
import sys
import time

import pytest
from links import LinkedCluster
from peers import RawPeer, counting_ids
from support import ROOT, TEST_SECRET, Cluster, ClusterSeller, wait_until

from replication.messages import Pull
from wire.errors import UNAUTHENTICATED
from wire.peer_auth import HELLO, MAX_GRANTS_PER_PEER, PeerAuth, PeerAuthError
from wire.peer_link import PeerLink

SECRET = b"a-cluster-secret-of-some-length"
IDS = {1, 2, 3}


def node(node_id: int, new_id=None, secret: bytes = SECRET) -> PeerAuth:
    """A node's PeerAuth; grants and nonces random as in server/cluster.py unless new_id is given."""
    return PeerAuth(secret, node_id, IDS, new_id or (lambda: secrets.token_hex(16)))


def connect(sender: PeerAuth, receiver: PeerAuth):
    """The sender's channel to the receiver after a hello the receiver answered."""
    hello = sender.hello(receiver.node_id)
    opened_sender, body = receiver.open(HELLO, hello.params)
    assert opened_sender == sender.node_id
    return sender.channel(hello, receiver.grant(opened_sender, body))


def test_a_message_is_accepted_once():
    three, one = node(3), node(1)
    channel = connect(three, one)
    envelope = three.seal(channel, "peer.message", {"x": 1})
    assert one.open("peer.message", envelope) == (3, {"x": 1})
    with pytest.raises(PeerAuthError, match="replayed"):
        one.open("peer.message", envelope)


def test_sequence_numbers_must_grow_under_a_grant():
    three, one = node(3), node(1)
    channel = connect(three, one)
    first, second, third = (three.seal(channel, "peer.push", {"n": n}) for n in range(3))
    assert one.open("peer.push", first)[1] == {"n": 0}
    assert one.open("peer.push", third)[1] == {"n": 2}  # one lost on the way does not stop the link
    with pytest.raises(PeerAuthError, match="replayed"):
        one.open("peer.push", second)  # older than one already accepted


def test_a_message_captured_on_the_link_to_node_1_is_refused_by_node_2():
    """Finding 9: a push captured on the 3 -> 1 link was accepted by node 2. Here node 2 even gave node 3 the very
    same grant id (ids made by the same counter): the envelope names node 1 and is refused."""
    three, one, two = node(3), node(1, counting_ids("g")), node(2, counting_ids("g"))
    to_one = connect(three, one)
    to_two = connect(three, two)
    assert to_one.grant == to_two.grant
    captured = three.seal(to_one, "peer.push", {"entries": []})
    with pytest.raises(PeerAuthError, match="meant for node 1"):
        two.open("peer.push", captured)
    assert one.open("peer.push", captured)[0] == 3


def test_a_message_captured_before_the_receiver_restarted_is_refused_after_it():
    """Finding 9: one captured before node 1 restarted was accepted after it. A restarted node knows no earlier grant:
    the capture is refused (telling a real sender to say hello again), and stays refused after the new hello."""
    three, one = node(3), node(1)
    channel = connect(three, one)
    captured = three.seal(channel, "peer.push", {"entries": []})
    restarted = node(1)
    with pytest.raises(PeerAuthError) as refused:
        restarted.open("peer.push", captured)
    assert refused.value.unknown_grant
    fresh = connect(three, restarted)
    assert restarted.open("peer.push", three.seal(fresh, "peer.push", {"entries": [1]})) == (3, {"entries": [1]})
    with pytest.raises(PeerAuthError):
        restarted.open("peer.push", captured)


def test_only_the_latest_grants_are_kept_and_a_forgotten_one_asks_for_a_new_hello():
    three, one = node(3), node(1)
    oldest = connect(three, one)
    newer = [connect(three, one) for _ in range(MAX_GRANTS_PER_PEER)]
    with pytest.raises(PeerAuthError) as refused:
        one.open("peer.message", three.seal(oldest, "peer.message", {}))
    assert refused.value.unknown_grant
    assert all(one.open("peer.message", three.seal(c, "peer.message", {}))[0] == 3 for c in newer)


def test_a_grant_answer_must_be_the_receivers_own_and_for_this_hello():
    three, one = node(3), node(1)
    first, second = three.hello(1), three.hello(1)
    answer_to_first = one.grant(*one.open(HELLO, first.params))
    with pytest.raises(PeerAuthError, match="not signed"):
        three.channel(second, answer_to_first)  # an old answer replayed to a later hello
    with pytest.raises(PeerAuthError, match="not signed"):
        three.channel(first, {**answer_to_first, "grant": "abcdef"})
    with pytest.raises(PeerAuthError):
        three.channel(first, {"grant": "\ud800", "mac": "00"})
    assert three.channel(first, answer_to_first).grant == answer_to_first["grant"]


def test_hellos_and_envelopes_must_be_signed_and_well_formed():
    three, one, stranger = node(3), node(1), PeerAuth(b"another-secret-of-enough-length", 3, IDS, lambda: "abc")
    with pytest.raises(PeerAuthError, match="bad signature"):
        one.open(HELLO, stranger.hello(1).params)
    hello = three.hello(1)
    with pytest.raises(PeerAuthError, match="bad signature"):
        one.open("peer.message", hello.params)  # a hello's envelope does not open another method
    with pytest.raises(PeerAuthError, match="meant for node 2"):
        one.open(HELLO, three.hello(2).params)
    with pytest.raises(PeerAuthError, match="not another node"):
        node(1).open(HELLO, node(1).hello(1).params)  # from itself
    channel = connect(three, one)
    envelope = three.seal(channel, "peer.pull", {})
    for changed in ({"seq": -1}, {"seq": True}, {"to": "1"}, {"grant": 5}, {"extra": 1}):
        with pytest.raises(PeerAuthError):
            one.open("peer.pull", {**envelope, **changed})
    assert one.open("peer.pull", envelope)[0] == 3


def test_a_link_says_hello_again_when_the_peer_forgot_its_grant(tmp_path):
    """A real node forgets the link's grant after MAX_GRANTS_PER_PEER newer hellos from the same sender: the link's
    next request is refused with unknown_grant, and the link says hello again and gets its answer."""
    c = Cluster(tmp_path, size=2)
    try:
        c.start(2)
        c.wait_coordinator(2, among=[2])
        link = PeerLink(2, ("127.0.0.1", c.nodes[2].port), node(1, secret=TEST_SECRET.encode()), timeout_s=5.0)
        assert "entries" in link.call("peer.pull", Pull({}, 1).to_json())
        others = [RawPeer(c.nodes[2].port, 1, 2, {1, 2}) for _ in range(MAX_GRANTS_PER_PEER)]
        assert "entries" in link.call("peer.pull", Pull({}, 1).to_json())
        assert c.nodes[2].has_event("peer_refused", method="peer.pull")  # it was refused once, then said hello again
        for other in others:
            other.close()
        link.close()
    finally:
        c.stop()


def captured(link, method: str) -> list[dict]:
    """The whole requests of `method` a link carried toward its target (an unfinished last line left out)."""
    found = []
    for line in bytes(link.carried).split(b"\n"):
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if isinstance(request, dict) and request.get("method") == method:
            found.append(request)
    return found


def replayed(node, request: dict) -> dict:
    """The node's whole answer to a request sent again as it was captured."""
    client = node.raw()
    try:
        client.send(request)
        return client.read()
    finally:
        client.close()


def test_a_push_captured_on_one_link_is_refused_by_another_node_and_by_its_receiver_after_a_restart(tmp_path):
    """Finding 9 on real processes: a push captured on the 3 -> 1 link was accepted by node 2, and by node 1 after
    it restarted. Both are refused now (and by node 1 before its restart, as before)."""
    c = LinkedCluster(tmp_path)
    try:
        c.start()
        c.wait_coordinator(3)
        ClusterSeller(c).sell_one()
        push = wait_until(lambda: captured(c.links[(3, 1)], "peer.push"), what="a push on the link from node 3 to node 1")[-1]
        for target in (2, 1):
            answer = replayed(c.nodes[target], push)
            assert answer.get("error", {}).get("code") == UNAUTHENTICATED, (target, answer)
        c.nodes[1].stop()
        c.nodes[1].start()
        answer = replayed(c.nodes[1], push)
        assert answer.get("error", {}).get("code") == UNAUTHENTICATED, answer
    finally:
        c.stop()


SKEW_S = 3600


def test_nodes_whose_clocks_are_an_hour_off_take_part_and_no_second_coordinator_appears(tmp_path):
    """Finding 6: every envelope from or to a node more than 30 s off was refused, and it became a lasting second
    coordinator. Node 3 (the primary) an hour ahead and node 1 an hour behind: one coordinator, sales on every node."""
    c = Cluster(tmp_path)
    for node_id, offset in ((3, SKEW_S), (1, -SKEW_S)):
        c.nodes[node_id].launcher = [sys.executable, str(ROOT / "tests" / "skewed_node.py"), str(offset)]
    try:
        c.start()
        epoch = c.wait_coordinator(3)
        seller = ClusterSeller(c)
        for _ in range(10):
            seller.sell_one()
        assert min(seller.acknowledged.values()) >= 2, seller.acknowledged  # copies made across the skew

        deadline = time.monotonic() + 2.0  # two seconds of statuses: the one coordinator, no new election
        while time.monotonic() < deadline:
            statuses = [c.nodes[n].status() for n in (1, 2, 3)]
            assert [s["node_id"] for s in statuses if s["role"] == "coordinator"] == [3], statuses
            assert {s["epoch"] for s in statuses} == {epoch}, statuses
            time.sleep(0.1)
        c.nodes[3].kill9()
        assert c.wait_coordinator(2, among=[1, 2]) > epoch  # node 1, an hour behind, follows node 2
        seller.sell_one()
        assert seller.errors == []
        assert c.wait_converged(nodes=[1, 2])["ids"] >= set(seller.acknowledged)
        assert not c.nodes[1].has_event("peer_refused") and not c.nodes[2].has_event("peer_refused")
    finally:
        c.stop()


def test_peer_auth_is_pure():
    """wire/peer_auth.py takes events in and gives envelopes out: no thread, socket, clock or randomness of its own
    (its lock lives in wire/peer_link.py's PeerReceiver, its random ids come from the function it is given)."""
    from test_architecture import imported_modules, parse
    path = ROOT / "wire" / "peer_auth.py"
    found = [module for module, _ in imported_modules(parse(path), path)
             if module.split(".")[0] in {"threading", "socket", "time", "os", "random", "secrets", "datetime"}]
    assert found == [], f"wire/peer_auth.py imports {found}"
