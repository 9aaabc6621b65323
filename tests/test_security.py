"""Tokens, PIN hashes, the sign-in throttle and peer envelopes, with time passed in."""

import threading
import time

import pytest

from db.database import Database
from models.pins import hash_pin, verify_pin
from server.config import ConfigError, load_config
from server.login_throttle import LoginThrottle
from server.tokens import InvalidToken, TokenSigner
from wire.peer_auth import HELLO, PeerAuth, PeerAuthError


def test_pin_hashes_are_salted_scrypt_and_verify():
    first, second = hash_pin("1234"), hash_pin("1234")
    assert first.startswith("scrypt$") and first != second and "1234" not in first.split("$")[4:]
    assert verify_pin("1234", first) and verify_pin("1234", second)
    assert not verify_pin("4321", first)
    assert not verify_pin("1234", "garbage")


def test_tokens_verify_on_any_signer_with_the_same_secret_and_expire():
    issuer, other_node = TokenSigner(b"s" * 32, ttl_s=60), TokenSigner(b"s" * 32, ttl_s=60)
    token = issuer.issue("user-1", "seller", "Ana", now_s=1000)
    claims = other_node.verify(token, now_s=1059)
    assert (claims.user_id, claims.role, claims.name) == ("user-1", "seller", "Ana")
    with pytest.raises(InvalidToken, match="expired"):
        other_node.verify(token, now_s=1060)


def test_forged_or_altered_tokens_are_rejected():
    signer = TokenSigner(b"s" * 32)
    token = signer.issue("user-1", "seller", "Ana", now_s=0)
    version, payload, signature = token.split(".")
    forged_role = TokenSigner(b"another-secret!!").issue("user-1", "manager", "Ana", now_s=0)
    for bad in (forged_role, f"{version}.{payload}x.{signature}", f"{version}.{payload}.{signature[:-2]}", "x", None, 5, "a.b.c"):
        with pytest.raises(InvalidToken):
            signer.verify(bad, now_s=1)


def wrong(throttle: LoginThrottle, cpf: str, source: str, now: float) -> float:
    """One attempt with a wrong PIN: what begin() said (0: it was checked)."""
    wait_s = throttle.begin(cpf, source, now)
    if wait_s == 0:
        throttle.finish(cpf, source, False, now)
    return wait_s


def test_five_wrong_pins_throttle_the_cpf_from_that_address_only():
    """The sixth attempt waits the lock time without a PIN check; the same CPF from elsewhere is not locked out."""
    throttle = LoginThrottle(max_failures=5, window_s=900, lock_s=900, max_per_source=100)
    assert [wrong(throttle, "cpf", "a", t) for t in range(5)] == [0] * 5
    assert throttle.begin("cpf", "a", now=10) == pytest.approx(900)
    assert throttle.begin("cpf", "a", now=11) == pytest.approx(899)
    assert wrong(throttle, "cpf", "b", 11) == 0
    assert wrong(throttle, "other", "a", 11) == 0
    assert wrong(throttle, "cpf", "a", 910) == 0


def test_a_right_pin_starts_the_count_again_and_old_failures_leave_the_window():
    throttle = LoginThrottle(max_failures=3, window_s=100, lock_s=100, max_per_source=100)
    wrong(throttle, "cpf", "a", 0)
    wrong(throttle, "cpf", "a", 1)
    assert wrong(throttle, "cpf", "a", 150) == 0  # the first two fell out of the window
    assert throttle.begin("cpf", "a", now=151) == 0
    throttle.finish("cpf", "a", True, now=151)
    assert [wrong(throttle, "cpf", "a", t) for t in (152, 153, 154)] == [0, 0, 0]
    assert throttle.begin("cpf", "a", now=155) > 0


def test_attempts_being_checked_count_so_concurrent_guesses_cannot_slip_past():
    """With 5 attempts admitted and unsettled, a 6th is not admitted (it waits for them, here in vain)."""
    throttle = LoginThrottle(max_failures=5, window_s=900, lock_s=900, max_per_source=100, settle_wait_s=0.5)
    assert [throttle.begin("cpf", "a", now=0) for _ in range(5)] == [0] * 5
    started = time.monotonic()
    assert throttle.begin("cpf", "a", now=0) > 0
    assert time.monotonic() - started >= 0.4  # it waited for the five to settle before giving up


def test_an_address_spraying_many_cpfs_is_throttled_after_max_per_source_failures():
    throttle = LoginThrottle(max_failures=5, window_s=900, lock_s=900, max_per_source=20)
    assert [wrong(throttle, f"cpf-{n}", "a", n) for n in range(20)] == [0] * 20
    assert throttle.begin("cpf-20", "a", now=21) > 0
    assert wrong(throttle, "cpf-20", "b", 21) == 0


def test_many_right_sign_ins_at_once_are_admitted():
    """A store's tills behind one address signing in together, or one seller on two tills, are not throttled."""
    throttle = LoginThrottle(max_failures=5, window_s=900, lock_s=900, max_per_source=20)
    assert [throttle.begin(f"cpf-{n}", "store", now=0) for n in range(50)] == [0] * 50
    done = []

    def right_later():
        time.sleep(0.2)
        for _ in range(5):
            throttle.finish("same", "store", True, now=0)
    for _ in range(5):
        assert throttle.begin("same", "store", now=0) == 0
    threading.Thread(target=right_later).start()
    done.append(throttle.begin("same", "store", now=0))  # waits for the five to settle right, then goes
    assert done == [0]


@pytest.mark.parametrize("changed", [{"mac": "é" * 64}, {"grant": "\ud800"}, {"body": {"\ud800": 1}}])
def test_a_peer_envelope_with_text_no_node_writes_is_refused_not_an_internal_error(changed):
    """Non-ASCII MACs, lone surrogates: PeerAuthError (1001 on the wire), never an exception out of open()."""
    sender, receiver = (PeerAuth(b"a-cluster-secret-of-some-length", n, {1, 2}, lambda: "abc123") for n in (1, 2))
    hello = sender.hello(2)
    channel = sender.channel(hello, receiver.grant(*receiver.open(HELLO, hello.params)))
    envelope = {**sender.seal(channel, "peer.message", {"x": 1}), **changed}
    with pytest.raises(PeerAuthError):
        receiver.open("peer.message", envelope)


@pytest.mark.parametrize("secret", ["change-me-long-secret", "change-me-to-a-long-random-string"])
def test_the_documents_example_secrets_are_refused_at_start(tmp_path, secret):
    """Anyone can read the README: a cluster signed with its example secret is open to anyone."""
    with pytest.raises(ConfigError) as refused:
        load_config(1, env={"CLUSTER": "1=127.0.0.1:7001,2=127.0.0.1:7002", "CLUSTER_SECRET": secret, "DATA_DIR": str(tmp_path)})
    assert refused.value.key == "CLUSTER_SECRET"


def test_a_new_database_and_its_folder_are_readable_only_by_their_owner(tmp_path):
    path = tmp_path / "fresh" / "node-1.db"
    database = Database(path)
    try:
        database.write(lambda conn: conn.execute("CREATE TABLE t (x)"))
        assert (path.parent.stat().st_mode & 0o777, path.stat().st_mode & 0o777) == (0o700, 0o600)
        assert all(p.stat().st_mode & 0o077 == 0 for p in path.parent.iterdir())  # -wal and -shm too
    finally:
        database.close()


def test_cluster_status_lists_merges_for_a_managers_token_only(demo_server):
    """The merges list holds parts of CPFs: a seller's token, a forged one and none at all get the rest of the status."""
    from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, RawClient

    client = RawClient(demo_server.port)
    try:
        def status(token=None) -> dict:
            return client.call("cluster.status", {"token": token} if token else {})["result"]

        def token_of(cpf: str) -> str:
            return client.call("auth.login", {"cpf": cpf, "pin": DEMO_PIN})["result"]["token"]
        seller, manager = token_of(DEMO_SELLER_CPF), token_of(DEMO_MANAGER_CPF)
        forged = manager[:-4] + ("AAAA" if not manager.endswith("AAAA") else "BBBB")
        assert all("merges" not in status(t) and status(t)["role"] == "coordinator" for t in (None, seller, forged))
        assert status(manager)["merges"] == []
    finally:
        client.close()


def test_a_cpf_guessed_from_many_addresses_gets_a_growing_delay_capped_and_one_guess_at_a_time():
    """Past LOGIN_MAX_FAILURES wrong PINs on one CPF (more than one address can make), each attempt waits 1 s, 2 s,
    4 s... after the last failure, at most delay_max_s; the seller waits no longer than that, and gets in."""
    throttle = LoginThrottle(max_failures=5, window_s=900, lock_s=900, max_per_source=100, delay_max_s=8)
    assert [wrong(throttle, "cpf", f"10.0.0.{n}", 0) for n in range(6)] == [0] * 6  # one more than one address can make
    assert throttle.begin("cpf", "10.0.1.1", now=0.5) == pytest.approx(0.5)  # 1 s after the 6th failure
    now, waits = 1.0, []
    for n in range(6):
        assert wrong(throttle, "cpf", f"10.0.2.{n}", now) == 0
        waits.append(throttle.begin("cpf", "10.0.3.1", now))
        now += waits[-1]
    assert waits == [2, 4, 8, 8, 8, 8]
    assert throttle.begin("cpf", "seller-till", now) == 0  # the seller, once the (capped) delay is over
    throttle.finish("cpf", "seller-till", True, now)
    assert [wrong(throttle, "cpf", f"10.0.4.{n}", now) for n in range(6)] == [0] * 6  # a right PIN started it again


def test_a_delayed_cpf_checks_one_attempt_at_a_time():
    throttle = LoginThrottle(max_failures=2, window_s=900, lock_s=900, max_per_source=100, delay_max_s=8)
    assert [throttle.begin("cpf", f"a{n}", now=0) for n in range(3)] == [0, 0, 0]  # up to max_failures + 1 at once
    assert throttle.begin("cpf", "a3", now=0) > 0  # not while those are being checked
    for n in range(3):
        throttle.finish("cpf", f"a{n}", False, now=0)
    assert throttle.begin("cpf", "a4", now=1) == 0
    assert throttle.begin("cpf", "a5", now=100) > 0  # a4 is still being checked


def test_registrations_are_limited_per_address_within_the_window():
    throttle = LoginThrottle(window_s=900, max_registrations=3)
    assert [throttle.admit_registration("a", now=t) for t in (0, 10, 20)] == [0, 0, 0]
    assert throttle.admit_registration("a", now=30) == pytest.approx(870)  # until the first leaves the window
    assert throttle.admit_registration("b", now=30) == 0
    assert throttle.admit_registration("a", now=901) == 0


def test_a_snapshot_carries_failures_and_locks_as_ages_to_a_node_with_another_monotonic_clock():
    coordinator = LoginThrottle(max_failures=2, window_s=900, lock_s=600, max_per_source=100)
    for t in (100, 101):
        wrong(coordinator, "cpf", "a", t)
    assert coordinator.begin("cpf", "a", now=102) == 600  # locked at 102 for 600 s
    wrong(coordinator, "other", "b", 150)
    coordinator.admit_registration("c", now=150)
    follower = LoginThrottle(max_failures=2, window_s=900, lock_s=600, max_per_source=100, max_registrations=1)
    follower.replace(coordinator.snapshot(now=200), now=5_000)  # 200 there is 5,000 here
    assert follower.begin("cpf", "a", now=5_000) == pytest.approx(502)
    assert wrong(follower, "other", "b", 5_000) == 0
    assert follower.begin("other", "b", now=5_001) == 600  # its two failures: the one shipped and this one
    assert follower.admit_registration("c", now=5_000) > 0
    assert follower.admit_registration("c", now=5_000 + 900 - 50) == 0  # the shipped one left the window


def test_a_merge_keeps_the_longer_history_and_the_later_lock_and_bad_snapshots_change_nothing():
    first, second = (LoginThrottle(max_failures=3, window_s=900, lock_s=600, max_per_source=100) for _ in range(2))
    wrong(first, "cpf", "a", 0)
    for t in (0, 1):
        wrong(second, "cpf", "a", t)
    first.merge(second.snapshot(now=2), now=2)
    assert wrong(first, "cpf", "a", 3) == 0 and first.begin("cpf", "a", now=4) == 600
    before = first.snapshot(now=5)
    for bad in (None, {"failures": []}, {"failures": [{"key": ["pair", "x"], "ages": [1]}], "locks": []},
                {"failures": [{"key": ["pair", "x", "y"], "ages": [-1]}], "locks": []},
                {"failures": [], "locks": [{"key": ["source", "y"], "left": float("inf")}]},
                {"failures": [{"key": ["nope", "y"], "ages": [1]}], "locks": []}):
        with pytest.raises(ValueError):
            first.replace(bad, now=5)
    assert first.snapshot(now=5) == before


def test_a_snapshot_too_large_for_a_request_line_ships_the_locks_and_the_latest_failures():
    """MAX_LINE_BYTES bounds what a node takes: a storm's snapshot keeps to half of it, the most pressing keys first."""
    import json

    from runtime.clock import FakeClock
    from server.throttle_sync import ThrottleSync
    throttle = LoginThrottle(max_failures=1, window_s=900, lock_s=900, max_per_source=10_000)
    for n in range(2000):
        wrong(throttle, f"cpf-{n}", f"10.0.{n // 250}.{n % 250}", now=n / 10)
    assert throttle.begin("cpf-0", "10.0.0.0", now=200) == 900  # one lock
    sync = ThrottleSync(throttle, {}, lambda: True, FakeClock(monotonic_s=200.0), max_line_bytes=20_000)
    assert len(throttle.snapshot(now=200)["failures"]) > 2000  # all of them would be about 200 KB
    snapshot = sync._snapshot()
    assert len(json.dumps(snapshot, separators=(",", ":"))) <= 10_000 and 10 < len(snapshot["failures"]) < 2000
    assert [lock["key"] for lock in snapshot["locks"]] == [["pair", "cpf-0", "10.0.0.0"]]
    shipped = {tuple(item["key"]) for item in snapshot["failures"]}
    assert ("pair", "cpf-1999", "10.0.7.249") in shipped and ("pair", "cpf-1", "10.0.0.1") not in shipped
