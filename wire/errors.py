"""The application's error catalogue: JSON-RPC codes 1001-1011 and -32602.

Controllers raise these; the dispatcher turns them into error objects whose
data.reason is the machine-readable name a client switches on.
"""

from wire.jsonrpc import INVALID_PARAMS, RpcError

UNAUTHENTICATED = 1001
FORBIDDEN = 1002
BAD_CREDENTIALS = 1003
UNKNOWN_USER = 1004
ALREADY_EXISTS = 1005
NOT_FOUND = 1006
CONFLICT = 1007
NOT_COORDINATOR = 1008
UNAVAILABLE = 1009
RATE_LIMITED = 1010
INACTIVE = 1011

REASONS = {
    UNAUTHENTICATED: "unauthenticated",
    FORBIDDEN: "forbidden",
    BAD_CREDENTIALS: "bad_credentials",
    UNKNOWN_USER: "unknown_user",
    ALREADY_EXISTS: "already_exists",
    NOT_FOUND: "not_found",
    CONFLICT: "conflict",
    NOT_COORDINATOR: "not_coordinator",
    UNAVAILABLE: "unavailable",
    RATE_LIMITED: "rate_limited",
    INACTIVE: "inactive",
}


def app_error(code: int, message: str, **data) -> RpcError:
    """An application error with data.reason set to the code's name, unless a more precise reason is given."""
    return RpcError(code, message, {"reason": REASONS[code], **data})


def invalid_params(field: str, reason: str) -> RpcError:
    """-32602 naming the offending parameter."""
    return RpcError(INVALID_PARAMS, f"Invalid params: {field} {reason}", {"field": field, "reason": reason})
