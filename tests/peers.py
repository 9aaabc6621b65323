"""Speaking as a node over a raw socket, for tests that send signed peer requests of their own making."""

import itertools

from support import TEST_SECRET, RawClient

from wire.peer_auth import HELLO, PeerAuth


def counting_ids(prefix: str = "id"):
    """new_id for a PeerAuth in tests: distinct, predictable ids."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


class RawPeer:
    """A raw connection to node `to` speaking as node `sender` with the cluster secret: the hello, then sealed calls."""

    def __init__(self, port: int, sender: int, to: int, cluster_ids: set[int], secret: str = TEST_SECRET):
        self.auth = PeerAuth(secret.encode(), sender, cluster_ids, counting_ids(f"raw{sender}x"))
        self.raw = RawClient(port)
        hello = self.auth.hello(to)
        answer = self.raw.call(HELLO, hello.params)
        assert "result" in answer, f"node {to} refused the hello: {answer}"
        self.channel = self.auth.channel(hello, answer["result"])

    def call(self, method: str, body) -> dict:
        """The whole answer (result or error) to one sealed request."""
        return self.raw.call(method, self.auth.seal(self.channel, method, body))

    def close(self) -> None:
        self.raw.close()
