"""Authenticating messages between nodes with the cluster secret, without comparing clocks.

Pure rules: no clock, socket, thread or randomness inside (fresh random ids come from the function passed in);
the caller serialises the calls on one receiver (open, grant) and on one Channel (seal).

A link opens with a handshake. The sender's `peer.hello` carries a fresh nonce; the receiver answers with a
grant, a random id it makes for that sender and keeps in memory, signed together with the nonce (so the answer
is the receiver's, to this hello). Every later envelope on the link is {from, to, grant, seq, body, mac} with
mac = HMAC-SHA256 over the method and those fields; a receiver accepts it only when it names this node, carries
a grant this node gave that sender since it started, and a seq higher than any it accepted under that grant:
- without the secret nothing can be forged;
- a message captured on one link is refused by every other node (`to`; the grant is unknown there);
- a replay is refused (its seq is not higher), also after the receiver restarts (every earlier grant is unknown);
- no clocks are compared: a node whose clock is hours off takes part like any other.
A receiver keeps MAX_GRANTS_PER_PEER grants per sender, forgetting the least recently used; an envelope under a
forgotten grant is refused with `unknown_grant` set, and the sender says hello again.
"""

import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from models.numbers import is_whole

HELLO = "peer.hello"
UNKNOWN_GRANT = "unknown_grant"  # data.reason of the refusal that tells the sender to say hello again
ENVELOPE_KEYS = {"from", "to", "grant", "seq", "body", "mac"}
MAX_GRANTS_PER_PEER = 8  # two links per peer (election, replication), and room for their reconnections
MAX_ID_CHARS = 64  # nonces and grants: hex made by new_id


class PeerAuthError(Exception):
    """The envelope is not from a node of this cluster, or not for this node now; str() says why (for the log).
    unknown_grant: the sender's grant is not (or no longer) known here, so it should say hello again."""

    def __init__(self, message: str, unknown_grant: bool = False):
        super().__init__(message)
        self.unknown_grant = unknown_grant


@dataclass
class Channel:
    """The sending side of one link once its hello was answered: the grant, and the last seq used under it."""

    peer: int
    grant: str
    seq: int = 0


@dataclass(frozen=True)
class Hello:
    """A hello to send (its params) and the nonce its answer must be signed with."""

    peer: int
    params: dict
    nonce: str


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isascii() and value.isalnum()


def _canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class PeerAuth:
    def __init__(self, secret: bytes, node_id: int, cluster_ids: set[int], new_id: Callable[[], str]):
        self._key = hashlib.sha256(b"onsell-peer:" + secret).digest()  # distinct from the token key
        self.node_id = node_id
        self.cluster_ids = cluster_ids
        self.new_id = new_id
        self._grants: dict[int, OrderedDict[str, int]] = {n: OrderedDict() for n in cluster_ids if n != node_id}

    def _mac(self, fields: dict) -> str:
        return hmac.new(self._key, _canonical(fields), hashlib.sha256).hexdigest()

    def _envelope(self, method: str, to: int, grant: str, seq: int, body) -> dict:
        fields = {"from": self.node_id, "to": to, "grant": grant, "seq": seq, "body": body}
        return {**fields, "mac": self._mac({"method": method, **fields})}

    # -- sending -----------------------------------------------------------------------------
    def hello(self, peer: int) -> Hello:
        """The handshake that opens a link to `peer`."""
        nonce = self.new_id()
        return Hello(peer, self._envelope(HELLO, peer, "", 0, {"nonce": nonce}), nonce)

    def channel(self, hello: Hello, answer: Any) -> Channel:
        """The channel that the peer's answer to `hello` grants; PeerAuthError when the answer is not the peer's own."""
        if not (isinstance(answer, dict) and set(answer) == {"grant", "mac"} and _is_id(answer["grant"])
                and isinstance(answer["mac"], str) and answer["mac"].isascii()):
            raise PeerAuthError(f"node {hello.peer} answered the hello with something else than a grant")
        expected = self._grant_mac(hello.peer, self.node_id, hello.nonce, answer["grant"])
        if not hmac.compare_digest(answer["mac"], expected):
            raise PeerAuthError(f"node {hello.peer}'s grant is not signed with the cluster secret")
        return Channel(hello.peer, answer["grant"])

    def seal(self, channel: Channel, method: str, body) -> dict:
        """The envelope carrying `body` as the params of `method` on this channel (the next seq)."""
        channel.seq += 1
        return self._envelope(method, channel.peer, channel.grant, channel.seq, body)

    # -- receiving ---------------------------------------------------------------------------
    def open(self, method: str, params: Any) -> tuple[int, Any]:
        """(sender id, body) of a genuine envelope for this node; PeerAuthError otherwise.
        A hello's body is checked here and answered with grant()."""
        if not isinstance(params, dict) or set(params) != ENVELOPE_KEYS:
            raise PeerAuthError("not a peer envelope")
        sender, to, grant, seq, body, mac = (params[k] for k in ("from", "to", "grant", "seq", "body", "mac"))
        if not (is_whole(sender) and sender in self._grants):
            raise PeerAuthError(f"sender {sender!r} is not another node of CLUSTER")
        if not (is_whole(to) and is_whole(seq) and isinstance(grant, str) and (grant == "" or _is_id(grant))
                and isinstance(mac, str) and mac.isascii()):
            raise PeerAuthError("malformed envelope")
        try:
            expected = self._mac({"method": method, "from": sender, "to": to, "grant": grant, "seq": seq, "body": body})
        except (UnicodeEncodeError, ValueError, TypeError):  # a body a node could not have written
            raise PeerAuthError("malformed envelope") from None
        if not hmac.compare_digest(mac, expected):
            raise PeerAuthError(f"bad signature (claims to be node {sender})")
        if to != self.node_id:
            raise PeerAuthError(f"message from node {sender} is meant for node {to}")
        if method == HELLO:
            if grant or seq or not (isinstance(body, dict) and set(body) == {"nonce"} and _is_id(body["nonce"])):
                raise PeerAuthError("malformed hello")
            return sender, body
        grants = self._grants[sender]
        if grant not in grants:
            raise PeerAuthError(f"message from node {sender} under a grant this node did not give it (or forgot)",
                                unknown_grant=True)
        if seq <= grants[grant]:
            raise PeerAuthError(f"replayed message from node {sender} (seq {seq}, already at {grants[grant]})")
        grants[grant] = seq
        grants.move_to_end(grant)
        return sender, body

    def grant(self, sender: int, hello_body: dict) -> dict:
        """The answer to a hello that open() accepted from `sender`: a new grant, signed with the hello's nonce."""
        grant = self.new_id()
        grants = self._grants[sender]
        grants[grant] = 0
        while len(grants) > MAX_GRANTS_PER_PEER:
            grants.popitem(last=False)
        return {"grant": grant, "mac": self._grant_mac(self.node_id, sender, hello_body["nonce"], grant)}

    def _grant_mac(self, giver: int, receiver: int, nonce: str, grant: str) -> str:
        return self._mac({"method": "peer.grant", "from": giver, "to": receiver, "nonce": nonce, "grant": grant})
