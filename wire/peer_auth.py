"""Authenticating messages between nodes with the cluster secret (pure apart from the clock passed in).

Every peer request's params are an envelope {from, sent_ms, nonce, body, mac}
where mac = HMAC-SHA256(secret, canonical JSON of method, from, sent_ms, nonce
and body). A node accepts an envelope only from another node of CLUSTER, with
a valid mac, sent within REPLAY_WINDOW_MS of its own clock, and with a nonce
it has not seen in that window: without the secret nothing can be forged, and
a captured message cannot be replayed.
"""

import hashlib
import hmac
import json
import os
import threading
from collections import OrderedDict
from typing import Callable

from models.numbers import is_whole

REPLAY_WINDOW_MS = 30_000
ENVELOPE_KEYS = {"from", "sent_ms", "nonce", "body", "mac"}


class PeerAuthError(Exception):
    """The envelope is not from a node of this cluster; str() says why (for the log)."""


def _canonical(method: str, sender: int, sent_ms: int, nonce: str, body) -> bytes:
    return json.dumps({"method": method, "from": sender, "sent_ms": sent_ms, "nonce": nonce, "body": body},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class PeerAuth:
    def __init__(self, secret: bytes, node_id: int, cluster_ids: set[int], wall_ms: Callable[[], int]):
        self._key = hashlib.sha256(b"onsell-peer:" + secret).digest()  # distinct from the token key
        self.node_id = node_id
        self.cluster_ids = cluster_ids
        self.wall_ms = wall_ms
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def seal(self, method: str, body) -> dict:
        """The envelope carrying `body` as params of `method` from this node."""
        sent_ms, nonce = self.wall_ms(), os.urandom(12).hex()
        mac = hmac.new(self._key, _canonical(method, self.node_id, sent_ms, nonce, body), hashlib.sha256).hexdigest()
        return {"from": self.node_id, "sent_ms": sent_ms, "nonce": nonce, "body": body, "mac": mac}

    def open(self, method: str, params: dict):
        """(sender id, body) of a genuine envelope; PeerAuthError otherwise."""
        if set(params) != ENVELOPE_KEYS:
            raise PeerAuthError("not a peer envelope")
        sender, sent_ms, nonce, mac = params["from"], params["sent_ms"], params["nonce"], params["mac"]
        if not (is_whole(sender) and sender in self.cluster_ids and sender != self.node_id):
            raise PeerAuthError(f"sender {sender!r} is not another node of CLUSTER")
        if not (is_whole(sent_ms) and isinstance(nonce, str) and len(nonce) <= 64 and nonce.isascii()
                and isinstance(mac, str) and mac.isascii()):
            raise PeerAuthError("malformed envelope")
        try:
            signed = _canonical(method, sender, sent_ms, nonce, params["body"])
        except (UnicodeEncodeError, ValueError, TypeError):  # a body a node could not have written
            raise PeerAuthError("malformed envelope") from None
        expected = hmac.new(self._key, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            raise PeerAuthError(f"bad signature (claims to be node {sender})")
        now = self.wall_ms()
        if abs(now - sent_ms) > REPLAY_WINDOW_MS:
            raise PeerAuthError(f"message from node {sender} is {abs(now - sent_ms)} ms away from this clock")
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - REPLAY_WINDOW_MS:
                self._seen.popitem(last=False)
            if nonce in self._seen:
                raise PeerAuthError(f"replayed message from node {sender}")
            self._seen[nonce] = now
        return sender, params["body"]
