"""Tokens, PIN hashes, the sign-in throttle and peer envelopes, with time passed in."""

import pytest

from db.database import Database
from server.config import ConfigError, load_config
from server.login_throttle import LoginThrottle
from server.pins import hash_pin, verify_pin
from server.tokens import InvalidToken, TokenSigner
from wire.peer_auth import PeerAuth, PeerAuthError


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


def test_five_failures_in_the_window_lock_the_cpf_for_the_lock_time():
    throttle = LoginThrottle(max_failures=5, window_s=900, lock_s=900)
    for t in range(4):
        assert not throttle.record_failure("cpf", now=t)
    assert throttle.locked_for("cpf", now=5) == 0
    assert throttle.record_failure("cpf", now=10)
    assert throttle.locked_for("cpf", now=11) == pytest.approx(899)
    assert throttle.locked_for("other", now=11) == 0
    assert throttle.locked_for("cpf", now=910) == 0


def test_failures_outside_the_window_or_before_a_success_do_not_count():
    throttle = LoginThrottle(max_failures=3, window_s=100, lock_s=100)
    throttle.record_failure("cpf", now=0)
    throttle.record_failure("cpf", now=1)
    assert not throttle.record_failure("cpf", now=150)  # the first two fell out of the window
    throttle.record_success("cpf")
    assert not throttle.record_failure("cpf", now=151)
    assert not throttle.record_failure("cpf", now=152)
    assert throttle.record_failure("cpf", now=153)


@pytest.mark.parametrize("changed", [{"mac": "é" * 64}, {"nonce": "\ud800"}, {"body": {"\ud800": 1}}])
def test_a_peer_envelope_with_text_no_node_writes_is_refused_not_an_internal_error(changed):
    """Non-ASCII MACs, lone surrogates: PeerAuthError (1001 on the wire), never an exception out of open()."""
    sender, receiver = (PeerAuth(b"a-cluster-secret-of-some-length", n, {1, 2}, lambda: 1_000_000) for n in (1, 2))
    envelope = {**sender.seal("peer.message", {"x": 1}), **changed}
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
