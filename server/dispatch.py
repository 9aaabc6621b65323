"""From a request line to a response line: method lookup, params, token and role, errors.

Every method declares its parameters (name, parser, required) and the role it
needs. Unknown methods get -32601 and unknown parameters -32602: nothing is
silently ignored. A controller's unexpected exception is logged with its
traceback here and answered with a bare -32603; no traceback ever goes out.

A report (Method.replica_read) takes `min_position` besides its own params and
passes read_gate instead of the coordinator's gate: a follower in sync may
answer it (on the runner read_gate gives); its answer gets `as_of`. Any method
that committed a write through the ledger answers `position` besides its own
fields: the change log's position right after that commit (what a client sends
back as min_position).
"""

import logging
from dataclasses import dataclass
from typing import Any, Callable

from db.database import DatabaseUnavailable
from models.errors import ValidationError
from models.numbers import is_whole
from runtime.events import event
from server.tokens import InvalidToken, TokenSigner
from wire import jsonrpc
from wire.errors import FORBIDDEN, UNAUTHENTICATED, UNAVAILABLE, app_error, invalid_params
from wire.jsonrpc import Invalid, RpcError
from wire.peer_auth import UNKNOWN_GRANT, PeerAuthError

log = logging.getLogger("onsell.rpc")

PUBLIC = None
ANY_ROLE = "any"
TOKEN_OPTIONAL = "optional"  # public, but a valid token (checked like any other) tells the handler who asks
PEER = "peer"  # another node of the cluster: params are an envelope signed with the cluster secret
TOKEN_PARAM = "token"
MIN_POSITION_PARAM = "min_position"  # a report's: answer only holding at least this position (server.cluster read_gate)


@dataclass(frozen=True)
class Param:
    """One named parameter: its parser (raising ValidationError) and the handler's keyword."""

    name: str
    parse: Callable[[Any], Any]
    required: bool = True
    keyword: str = ""

    @property
    def arg(self) -> str:
        return self.keyword or self.name


@dataclass(frozen=True)
class Method:
    """A callable method: handler(caller, **params) -> result dict."""

    name: str
    handler: Callable[..., Any]
    params: tuple[Param, ...] = ()
    role: str | None = PUBLIC
    coordinator_only: bool = True  # on any other node: not_coordinator (see Dispatcher.gate)
    wants_source: bool = False  # the handler gets source= (the caller's address; "" in-process)
    replica_read: bool = False  # a report: read_gate instead of gate (a follower in sync answers it), min_position, as_of


@dataclass
class Dispatcher:
    methods: dict[str, Method]
    tokens: TokenSigner
    wall_clock_s: Callable[[], float]
    gate: Callable[[], None]  # raises not_coordinator (or waits) when this node may not serve clients
    peer_auth: Any = None  # opens the envelopes of PEER methods; None: not in a cluster
    accounts: Callable[[Any], Any] | None = None  # token claims -> the caller as the account is now (server.accounts)
    observer: Any = None  # counts each answered call of a known method (server.metrics.NodeMetrics); None: nothing counted
    read_gate: Callable[[int], tuple] | None = None  # min_position -> (as_of, runner or None), or raises as gate does; None: gate
    writes: Any = None  # server.ledger.Ledger: tracking(call) -> (result, position of its last commit or None)

    @classmethod
    def build(cls, method_lists: list[list[Method]], tokens: TokenSigner, wall_clock_s: Callable[[], float],
              gate: Callable[[], None], peer_auth=None, accounts=None, read_gate=None, writes=None) -> "Dispatcher":
        methods: dict[str, Method] = {}
        for method in (m for group in method_lists for m in group):
            if method.name in methods:
                raise ValueError(f"method {method.name} registered twice")
            methods[method.name] = method
        return cls(methods, tokens, wall_clock_s, gate, peer_auth, accounts, read_gate=read_gate, writes=writes)

    def handle_line(self, line: bytes, source: str = "") -> bytes | None:
        """The response line for one request line, or None when nothing is owed (notifications).
        `source` is the caller's address (the sign-in throttle counts per address)."""
        message = jsonrpc.decode_message(line)
        responses = [r for r in (self._answer(item, source) for item in message.items) if r is not None]
        if not responses:
            return None
        return jsonrpc.encode(responses if message.is_batch else responses[0])

    def _answer(self, item, source: str) -> dict | None:
        """One element's answer, whatever happens to the others of its batch."""
        if isinstance(item, Invalid):
            return jsonrpc.failure(item.id, item.error)
        try:
            result = self.call(item.method, item.params, source)
        except RpcError as error:
            return None if item.is_notification else jsonrpc.failure(item.id, error)
        except Exception:  # a bug outside a handler (call() covers those): this element's answer, not the batch's
            log.exception("internal error answering %s", item.method)
            error = RpcError(jsonrpc.INTERNAL_ERROR, "Internal error", {"reason": "internal_error"})
            return None if item.is_notification else jsonrpc.failure(item.id, error)
        return None if item.is_notification else jsonrpc.success(item.id, result)

    def call(self, name: str, params: dict, source: str = "") -> Any:
        """Run one method with raw params; raises RpcError for every failure."""
        if self.observer is None or name not in self.methods:
            return self._call(name, params, source)
        started = self.observer.begin()
        try:
            result = self._call(name, params, source)
        except RpcError as error:
            self.observer.observe_call(name, started, None, error.code)
            raise
        self.observer.observe_call(name, started, result, None)
        return result

    def _call(self, name: str, params: dict, source: str) -> Any:
        method = self.methods.get(name)
        if method is None:
            raise RpcError(jsonrpc.METHOD_NOT_FOUND, f"Method not found: {name}", {"reason": "method_not_found", "method": name})
        as_of, runner = None, None
        if method.role == PEER:
            caller, kwargs = self._open_envelope(method, params)
        else:
            if method.replica_read and self.read_gate is not None:
                as_of, runner = self.read_gate(_min_position(params))
            elif method.coordinator_only:
                self.gate()
            caller = self._authenticate(method, params)
            kwargs = self._parse_params(method, params)
            if method.wants_source:
                kwargs["source"] = source
        try:
            if caller is not None and method.role not in (PEER, TOKEN_OPTIONAL) and self.accounts is not None:
                caller = self.accounts(caller)
            if runner is not None:  # a follower's report, on its own threads
                result = runner(lambda: method.handler(caller, **kwargs))
            elif self.writes is None or method.role == PEER:
                result = method.handler(caller, **kwargs)
            else:
                result, position = self.writes.tracking(lambda: method.handler(caller, **kwargs))
                if position is not None and isinstance(result, dict):
                    result = {**result, "position": position}
            return result if as_of is None or not isinstance(result, dict) else {**result, "as_of": as_of}
        except RpcError:
            raise
        except ValidationError as exc:
            raise invalid_params(exc.field, exc.reason) from None
        except DatabaseUnavailable as exc:
            log.error("%s failed: %s", name, exc)
            raise app_error(UNAVAILABLE, "The service cannot store or read data right now; try again") from None
        except Exception:
            log.exception("internal error in %s", name)
            raise RpcError(jsonrpc.INTERNAL_ERROR, "Internal error", {"reason": "internal_error"}) from None

    def _open_envelope(self, method: Method, params: dict) -> tuple[int, dict]:
        try:
            if self.peer_auth is None:
                raise PeerAuthError("this node is not in a cluster")
            sender, body = self.peer_auth.open(method.name, params)
        except PeerAuthError as exc:
            log.warning("%s", event("peer_refused", f"refused {method.name}: {exc}", method=method.name).line())
            if exc.unknown_grant:
                raise app_error(UNAUTHENTICATED, "Say hello again: this node does not know that grant", reason=UNKNOWN_GRANT) from None
            raise app_error(UNAUTHENTICATED, "Peer messages must be signed with the cluster secret") from None
        return sender, {"body": body}

    def _authenticate(self, method: Method, params: dict):
        if method.role is PUBLIC:
            return None
        token = params.get(TOKEN_PARAM)
        if token is None:
            if method.role == TOKEN_OPTIONAL:
                return None
            raise app_error(UNAUTHENTICATED, "Sign in first: this method needs a token")
        if method.role == TOKEN_OPTIONAL:  # a public method: a token that does not hold only makes the caller anonymous
            try:
                claims = self.tokens.verify(token, self.wall_clock_s())
                return self.accounts(claims) if self.accounts is not None else claims
            except (InvalidToken, RpcError, DatabaseUnavailable):
                return None
        try:
            claims = self.tokens.verify(token, self.wall_clock_s())
        except InvalidToken as exc:
            raise app_error(UNAUTHENTICATED, f"Sign in again: {exc}", detail=exc.detail) from None
        if method.role not in (ANY_ROLE, TOKEN_OPTIONAL) and claims.role != method.role:
            raise app_error(FORBIDDEN, f"Only a {method.role} may call {method.name}", required_role=method.role)
        return claims

    @staticmethod
    def _parse_params(method: Method, params: dict) -> dict:
        known = {p.name for p in method.params} | {TOKEN_PARAM}  # a token is accepted (and unused) anywhere
        if method.replica_read:
            known.add(MIN_POSITION_PARAM)  # read by read_gate, not by the handler
        unknown = sorted(set(params) - known)
        if unknown:
            raise invalid_params(unknown[0], "unknown parameter")
        kwargs = {}
        for param in method.params:
            if param.name not in params or params[param.name] is None:
                if param.required:
                    raise invalid_params(param.name, "is required")
                continue
            try:
                kwargs[param.arg] = param.parse(params[param.name])
            except ValidationError as exc:
                raise invalid_params(param.name, exc.reason) from None
        return kwargs


def _min_position(params) -> int:
    """A report's min_position: a whole number (0 when absent); -32602 otherwise."""
    value = params.get(MIN_POSITION_PARAM) if isinstance(params, dict) else None
    if value is None:
        return 0
    if not is_whole(value):
        raise invalid_params(MIN_POSITION_PARAM, "must be a whole number, 0 or more")
    return value
