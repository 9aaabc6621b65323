"""JSON-RPC 2.0 over newline-delimited JSON: a pure codec (sans-I/O).

Rules:
- Bytes go in through LineDecoder.feed(); complete lines come out. A line is
  one JSON value terminated by "\\n" ("\\r\\n" is tolerated; blank lines are
  skipped). A line longer than max_line_bytes yields LineTooLong and the
  decoder refuses further input: framing errors end the connection.
- decode_message() turns one line into Requests and Invalid items, never
  raising. A batch (JSON array) yields one item per element; an empty batch is
  one Invalid. Requests without "id" are notifications and get no response.
- encode_*() give bytes ready for the socket, each one line ending in "\\n".
No sockets, threads or clocks here; the server and the client both use it.
"""

import json
import math
from dataclasses import dataclass, field
from typing import Any

from models.numbers import is_int

JSONRPC_VERSION = "2.0"
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

_NO_ID = object()  # a request without "id" is a notification


class RpcError(Exception):
    """A JSON-RPC error object: code, message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True)
class LineTooLong:
    """The peer sent a line over the limit; the connection must be closed."""

    limit: int


@dataclass(frozen=True)
class Request:
    """A well-formed request or notification."""

    method: str
    params: dict
    id: Any = None
    is_notification: bool = False


@dataclass(frozen=True)
class Invalid:
    """An element that is not a valid request; it is answered with `error`."""

    error: RpcError
    id: Any = None


@dataclass(frozen=True)
class Message:
    """What one line held: its items, and whether it was a batch."""

    items: list = field(default_factory=list)
    is_batch: bool = False


@dataclass(frozen=True)
class Response:
    """A response read by a client: `error` is None on success."""

    id: Any
    result: Any = None
    error: RpcError | None = None


class LineDecoder:
    """Splits a byte stream into lines, enforcing a maximum line size."""

    def __init__(self, max_line_bytes: int):
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._searched = 0  # bytes at the start of the buffer known to hold no newline
        self.failed = False

    def feed(self, data: bytes) -> list:
        """Return the complete lines (bytes) in data, or LineTooLong once over the limit. Each byte is searched for a
        newline once: a line sent a few bytes at a time costs its length, not its length squared."""
        if self.failed:
            return []
        self._buffer += data
        out: list = []
        while True:
            end = self._buffer.find(b"\n", self._searched)
            if end < 0:
                self._searched = len(self._buffer)
                break
            line = bytes(self._buffer[:end]).removesuffix(b"\r")
            del self._buffer[: end + 1]
            self._searched = 0
            if len(line) > self.max_line_bytes:
                return self._fail(out)
            if line.strip():
                out.append(line)
        if len(self._buffer) > self.max_line_bytes:
            return self._fail(out)
        return out

    def _fail(self, out: list) -> list:
        self.failed = True
        self._buffer.clear()
        self._searched = 0
        out.append(LineTooLong(self.max_line_bytes))
        return out

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished line waiting for its newline."""
        return len(self._buffer)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


# Built once (json.loads/json.dumps with options build a new decoder or encoder on every call); neither holds state.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def _encodable(text: str) -> bool:
    """False for a string holding a lone surrogate (JSON's "\\ud800" decodes to one): it has no UTF-8 form."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid_id(value: Any) -> bool:
    """null, a string with a UTF-8 form, an integer, or a finite number (1e400 parses as infinity, not JSON)."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and _encodable(value) or isinstance(value, float) and math.isfinite(value)


def _decode_item(item: Any) -> Request | Invalid:
    if not isinstance(item, dict):
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: expected a JSON object", {"reason": "not_an_object"}))
    request_id = item.get("id", _NO_ID)
    if request_id is not _NO_ID and not _valid_id(request_id):
        return Invalid(RpcError(INVALID_REQUEST, "Invalid Request: id must be a string, number or null",
                                {"field": "id", "reason": "bad_id"}))
    answer_id = None if request_id is _NO_ID else request_id
    if item.get("jsonrpc") != JSONRPC_VERSION:
        return Invalid(RpcError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"',
                                {"field": "jsonrpc", "reason": "bad_version"}), answer_id)
    method = item.get("method")
    if not isinstance(method, str) or not method or not _encodable(method):
        return Invalid(RpcError(INVALID_REQUEST, 'Invalid Request: "method" must be a non-empty string',
                                {"field": "method", "reason": "missing_method"}), answer_id)
    params = item.get("params", {})
    if not isinstance(params, dict):
        return Invalid(RpcError(INVALID_PARAMS, "Invalid params: params must be an object",
                                {"field": "params", "reason": "not_an_object"}), answer_id)
    return Request(method, params, answer_id, request_id is _NO_ID)


def decode_message(line: bytes) -> Message:
    """Parse one line into request items; parse errors become one Invalid item."""
    try:
        value = _DECODER.decode(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Message([Invalid(RpcError(PARSE_ERROR, "Parse error: the line is not valid UTF-8 JSON", {"reason": "parse_error"}))])
    if isinstance(value, list):
        if not value:
            return Message([Invalid(RpcError(INVALID_REQUEST, "Invalid Request: empty batch", {"reason": "empty_batch"}))])
        return Message([_decode_item(v) for v in value], is_batch=True)
    return Message([_decode_item(value)])


def success(request_id: Any, result: Any) -> dict:
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result}


def failure(request_id: Any, error: RpcError) -> dict:
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": error.to_json()}


def encode(value: Any) -> bytes:
    """One compact JSON line, UTF-8, ending in a newline. A string that has no UTF-8 form (a lone surrogate echoed
    from a request) is written escaped instead: encoding never fails."""
    try:
        return _ENCODER.encode(value).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(value).encode("ascii") + b"\n"


def encode_request(method: str, params: dict, request_id: Any = _NO_ID) -> bytes:
    """A request line; without request_id, a notification."""
    request = {"jsonrpc": JSONRPC_VERSION, "method": method, "params": params}
    if request_id is not _NO_ID:
        request["id"] = request_id
    return encode(request)


def decode_response(line: bytes) -> Response:
    """Parse a response line; raise RpcError(PARSE_ERROR) if it is not one."""
    try:
        value = _DECODER.decode(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RpcError(PARSE_ERROR, "the server sent a line that is not JSON") from None
    if not isinstance(value, dict) or value.get("jsonrpc") != JSONRPC_VERSION or ("result" in value) == ("error" in value):
        raise RpcError(INVALID_REQUEST, "the server sent something that is not a JSON-RPC response")
    if "error" in value:
        error = value["error"] if isinstance(value["error"], dict) else {}
        code = error.get("code") if is_int(error.get("code")) else INTERNAL_ERROR
        return Response(value.get("id"), error=RpcError(code, str(error.get("message", "")), error.get("data")))
    return Response(value.get("id"), result=value["result"])
