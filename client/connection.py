"""The client's connection to an onsell cluster, with failover.

Rules:
- It talks to the coordinator. The first node tried is the last coordinator
  it saw, else the highest id (the primary). A `not_coordinator` answer names
  the coordinator to try next; one that names none (an election is under way)
  sends it round the other nodes.
- When every node refuses the connection at once, twice in a row, nothing is
  listening anywhere: ServerUnreachable at once, not after the failover timeout.
- On a refused, closed or silent connection, or `not_coordinator`, or
  `unavailable`, it sends the same request again (a kept-open socket that
  broke gets one fresh try on the same node first: the server may only have
  closed it as idle), to the coordinator it finds,
  until the failover timeout has passed (CLIENT_FAILOVER_TIMEOUT_MS, see
  runtime/settings.py); then ServerUnreachable. A
  repeated request is harmless: a sale carries its sale_id, so it is recorded
  once however often it is sent.
- When the coordinator it talks to changes, on_notice gets one Portuguese
  line: a temporary coordinator, or the primary back.
- Between tries it pauses RETRY_PAUSE_S, spread at random by RETRY_JITTER: a
  thousand tills that lost their coordinator at the same moment do not knock on
  the next one in step. Connects time out after CONNECT_TIMEOUT_S, so a lost
  SYN costs a fresh attempt, not TCP's back-off.
- Time, and the pause between tries, come from the clock it is given
  (runtime.clock), so tests drive both with a FakeClock.
- With a TLS context (client/config.py, from TLS_CA) every connection is TLS
  and the node's certificate must chain to that CA and name the host of its
  CLUSTER entry. When no node could be used and at least one was refused for
  its certificate, or a node answers that it speaks only TLS, retrying cannot
  help: TlsMismatch at once, with one Portuguese line.
- call_follower (reports from followers, only when the client is told to)
  sends to a follower instead: a node other than the last coordinator seen,
  picked at random and kept on a socket of its own while it answers. When it
  refuses (`not_coordinator`: it lags, or lacks min_position; `unavailable`)
  or cannot be reached, the same request goes to the coordinator through
  call(), silently: the person sees the coordinator's answer and nothing else.
"""

import itertools
import random
import ssl
from typing import Any, Callable

from models.cluster import format_address, parse_cluster
from models.errors import ValidationError
from runtime.clock import SystemClock
from runtime.settings import default_int
from wire.jsonrpc import RpcError
from wire.line_socket import CertificateRejected, ConnectionRefused, LineBroken, LineSocket

CONNECT_TIMEOUT_S = 1.0
CALL_TIMEOUT_S = 15.0
RETRY_PAUSE_S = 0.05
ALL_REFUSED_ROUNDS = 2  # rounds in which every node refused the connection before giving up at once (a blip gets one more)
RETRY_JITTER = (0.5, 1.5)  # the pause is RETRY_PAUSE_S times a random factor in this range
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
ANY_NODE_METHODS = ("ping", "cluster.status")  # answered by every node, coordinator or not


class ServerUnreachable(Exception):
    """No coordinator answered within the failover timeout; str() says what was tried."""


class NobodyListening(LineBroken):
    """Every node refused the connection at once: nothing listens at any address."""


class TlsMismatch(ServerUnreachable):
    """This client's TLS settings do not fit the nodes' (a certificate that TLS_CA does not vouch for, or a node that
    speaks only TLS while this client has no TLS_CA); str() is one Portuguese line."""


class RemoteError(Exception):
    """The server answered with a JSON-RPC error."""

    def __init__(self, error: RpcError):
        super().__init__(error.message)
        self.code = error.code
        self.message = error.message
        self.data = error.data if isinstance(error.data, dict) else {}
        self.reason = self.data.get("reason", "")


class Connection:
    def __init__(self, servers: dict[int, tuple[str, int]], failover_timeout_s: float | None = None,
                 on_notice: Callable[[str], None] | None = None, call_timeout_s: float = CALL_TIMEOUT_S, clock=None,
                 rng: random.Random | None = None, tls_context: ssl.SSLContext | None = None):
        """failover_timeout_s: None for the default of CLIENT_FAILOVER_TIMEOUT_MS; clock: a runtime.clock clock
        (SystemClock by default); rng: what spreads the pauses between tries (tests seed it); tls_context: the
        client's TLS context (None: plaintext)."""
        self.tls_context = tls_context
        self.rng = rng or random.Random()
        if failover_timeout_s is None:
            failover_timeout_s = default_int("CLIENT_FAILOVER_TIMEOUT_MS") / 1000
        self.clock = clock or SystemClock()
        self.servers = dict(servers)  # grows with the nodes that not_coordinator answers point to
        self.primary_id = max(servers)
        self.failover_timeout_s = failover_timeout_s
        self.call_timeout_s = call_timeout_s
        self.on_notice = on_notice or (lambda text: None)
        self.node_id: int | None = None  # the node the socket is open to
        self.coordinator_id: int | None = None  # the last node that served a coordinator-only method
        self._line: LineSocket | None = None
        self._preferred: int | None = None
        self._avoid: int | None = None
        self._ids = itertools.count(1)
        self._follower: tuple[int, LineSocket] | None = None  # call_follower's node and socket

    def call(self, method: str, params: dict | None = None, failover_timeout_s: float | None = None) -> Any:
        """The method's result; RemoteError for an error answer, ServerUnreachable when no coordinator answered in time."""
        deadline = self.clock.monotonic_s() + (self.failover_timeout_s if failover_timeout_s is None else failover_timeout_s)
        request_id = next(self._ids)
        last_problem = "nenhum servidor respondeu"
        refused_rounds = 0
        while True:
            reused = self._line is not None
            connecting = True
            try:
                line = self._connected()
                connecting = False
                remaining = max(deadline - self.clock.monotonic_s(), CONNECT_TIMEOUT_S)
                response = line.request(method, params or {}, request_id, min(self.call_timeout_s, remaining))
            except LineBroken as exc:
                # finding a node says it in Portuguese; a socket's own words are English (for logs), so a person reads which node
                last_problem = str(exc) if connecting else f"o nó {self.node_id} não respondeu a tempo ou fechou a conexão"
                if reused:
                    self.close()  # perhaps only closed as idle: the same node gets one fresh try first
                    continue
                self._drop()
                refused_rounds = refused_rounds + 1 if isinstance(exc, NobodyListening) else 0
                if refused_rounds >= ALL_REFUSED_ROUNDS:  # nothing listens anywhere: no use waiting out the timeout
                    raise ServerUnreachable(last_problem) from None
            else:
                error = response.error
                reason = error.data.get("reason") if error is not None and isinstance(error.data, dict) else None
                if reason == "tls_required":
                    where = format_address(self.servers[self.node_id])
                    self._drop()
                    raise TlsMismatch(f"o servidor em {where} só aceita conexões seguras (TLS): defina TLS_CA com o certificado "
                                      "da autoridade (CA) dos servidores.")
                if error is None or reason not in ("not_coordinator", "unavailable"):
                    if method not in ANY_NODE_METHODS:
                        self._served_by(self.node_id)
                    if error is not None:
                        raise RemoteError(error)
                    return response.result
                last_problem = f"nó {self.node_id}: {reason}"
                hint = error.data.get("coordinator") if reason == "not_coordinator" else None
                self._drop(prefer=self._learn(hint))
            if self.clock.monotonic_s() >= deadline:
                raise ServerUnreachable(last_problem)
            self.clock.sleep(RETRY_PAUSE_S * self.rng.uniform(*RETRY_JITTER))

    def call_follower(self, method: str, params: dict | None = None) -> Any:
        """A read that a follower in sync may answer: one try at a follower, else call() (see the module's rules)."""
        follower = self._follower_line()
        if follower is None:
            return self.call(method, params)
        node_id, line = follower
        timeout_s = min(self.call_timeout_s, self.failover_timeout_s)
        try:
            response = line.request(method, params or {}, next(self._ids), timeout_s)
        except LineBroken:
            response = None
        error = response.error if response is not None else None
        reason = error.data.get("reason") if error is not None and isinstance(error.data, dict) else None
        if response is None or reason in ("not_coordinator", "unavailable", "tls_required"):
            self._drop_follower()
            return self.call(method, params)  # the coordinator answers whatever the follower could not
        if error is not None:
            raise RemoteError(error)
        return response.result

    def _follower_line(self) -> tuple[int, LineSocket] | None:
        """The follower's socket (opened to a node picked at random among those not the coordinator); None when no such
        node is known, or the one picked cannot be reached."""
        if self._follower is not None and self._follower[0] != self.coordinator_id:
            return self._follower
        self._drop_follower()
        others = sorted(n for n in self.servers if n != self.coordinator_id)
        if self.coordinator_id is None or not others:
            return None
        node_id = self.rng.choice(others)
        try:
            self._follower = (node_id, LineSocket(self.servers[node_id], CONNECT_TIMEOUT_S, MAX_RESPONSE_BYTES, self.tls_context))
        except LineBroken:
            return None
        return self._follower

    def _drop_follower(self) -> None:
        if self._follower is not None:
            self._follower[1].close()
            self._follower = None

    def sibling(self) -> "Connection":
        """Another connection to the same cluster with the same settings, first trying the coordinator this one found (a
        client that keeps two requests at the server at once); it tells no notices: this one does."""
        other = Connection(self.servers, self.failover_timeout_s, call_timeout_s=self.call_timeout_s, clock=self.clock,
                           tls_context=self.tls_context)
        other.coordinator_id = self.coordinator_id
        return other

    def close(self) -> None:
        self._drop_follower()
        if self._line is not None:
            self._line.close()
            self._line = None

    # -- finding the coordinator -------------------------------------------------------------
    def _order(self) -> list[int]:
        """Nodes to try: the hinted one, the last coordinator, then highest id first; the node that just failed last."""
        first = [n for n in (self._preferred, self.coordinator_id) if n in self.servers]
        order = list(dict.fromkeys(first + sorted(self.servers, reverse=True)))
        return [n for n in order if n != self._avoid] + [n for n in order if n == self._avoid]

    def _connected(self) -> LineSocket:
        if self._line is not None:
            return self._line
        tried, untrusted, refused = [], None, 0
        for node_id in self._order():
            try:
                self._line = LineSocket(self.servers[node_id], CONNECT_TIMEOUT_S, MAX_RESPONSE_BYTES, self.tls_context)
            except CertificateRejected:
                untrusted = untrusted or format_address(self.servers[node_id])
                tried.append(format_address(self.servers[node_id]))
                continue
            except LineBroken as exc:
                tried.append(format_address(self.servers[node_id]))
                refused += isinstance(exc, ConnectionRefused)
                continue
            self.node_id = node_id
            return self._line
        if untrusted:  # OpenSSL's reason is English: the address and what to check say it in Portuguese
            raise TlsMismatch(f"o certificado do servidor em {untrusted} não foi aceito: não confere com a autoridade (CA) de "
                              "TLS_CA ou não tem o nome do servidor")
        problem = "nenhum servidor respondeu (" + ", ".join(tried) + ")"
        raise NobodyListening(problem) if refused == len(tried) else LineBroken(problem)

    def _learn(self, hint) -> int | None:
        """The hinted coordinator's id, adding its address when this client did not know that node."""
        if not isinstance(hint, dict) or not isinstance(hint.get("id"), int):
            return None
        if hint["id"] not in self.servers and isinstance(hint.get("address"), str):
            try:
                self.servers.update(parse_cluster(f"{hint['id']}={hint['address']}"))
            except ValidationError:
                return None
            self.primary_id = max(self.servers)
        return hint["id"]

    def _drop(self, prefer: int | None = None) -> None:
        """Close the socket; next time start with the node `prefer`, or else try this node last."""
        self._preferred = prefer if prefer in self.servers else None
        self._avoid = None if self._preferred else self.node_id
        self.close()

    def _served_by(self, node_id: int | None) -> None:
        if node_id is None or node_id == self.coordinator_id:
            return
        previous, self.coordinator_id = self.coordinator_id, node_id
        self._preferred = self._avoid = None
        if node_id != self.primary_id:
            self.on_notice(f"Servidor principal indisponível: conectado ao coordenador temporário (nó {node_id})")
        elif previous is not None:
            self.on_notice(f"Servidor principal de volta: conectado ao nó {node_id}")
