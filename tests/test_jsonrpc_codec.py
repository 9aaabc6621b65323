"""The pure line codec: framing, parsing, encoding. No sockets."""

import json

from hypothesis import given
from hypothesis import strategies as st

from wire import jsonrpc
from wire.jsonrpc import Invalid, LineDecoder, LineTooLong, Request, decode_message, decode_response

LINES = [b'{"jsonrpc":"2.0","id":1,"method":"ping"}', b'[{"jsonrpc":"2.0","method":"x"}]', "{\"a\":\"ção\"}".encode()]


def test_decoder_fed_byte_by_byte_gives_the_same_lines():
    decoder = LineDecoder(1024)
    stream = b"\n".join(LINES) + b"\n"
    out = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
    assert out == LINES


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=40))
def test_decoder_in_odd_chunks_gives_the_same_lines(cuts):
    stream = b"\r\n".join(LINES) + b"\n\n"
    decoder, out, position = LineDecoder(1024), [], 0
    for size in cuts * 10:
        out += decoder.feed(stream[position : position + size])
        position += size
    out += decoder.feed(stream[position:])
    assert out == LINES


class _CountingBuffer(bytearray):
    """A decoder's buffer that counts the bytes its newline searches read."""

    searched = 0

    def find(self, sub, start=0, *rest):
        _CountingBuffer.searched += len(self) - start
        return super().find(sub, start, *rest)


def test_a_long_line_sent_a_few_bytes_at_a_time_is_searched_once_not_once_per_piece():
    """A client dribbling a line (LineDecoder before: every feed searched the whole buffer again, a quadratic CPU cost)."""
    decoder = LineDecoder(1 << 20)
    decoder._buffer = _CountingBuffer()
    _CountingBuffer.searched = 0
    line = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * 20_000 + b'"}}'
    out = []
    for i in range(0, len(line), 3):
        out += decoder.feed(line[i:i + 3])
    out += decoder.feed(b"\n" + line + b"\n")
    assert out == [line, line]
    assert _CountingBuffer.searched <= 4 * len(line), _CountingBuffer.searched  # a few times each byte (before: ~len²/6)


def test_a_line_over_the_limit_fails_the_decoder_even_before_its_newline():
    decoder = LineDecoder(10)
    assert decoder.feed(b"12345") == []
    assert decoder.feed(b"678901") == [LineTooLong(10)]
    assert decoder.feed(b"\n{}\n") == []  # nothing more after a framing error


def test_a_complete_line_over_the_limit_after_good_lines():
    out = LineDecoder(5).feed(b"abc\n1234567\nxyz\n")
    assert out == [b"abc", LineTooLong(5)]


def test_requests_notifications_and_defaults():
    message = decode_message(b'{"jsonrpc":"2.0","id":"a","method":"ping"}')
    assert message.items == [Request("ping", {}, "a", False)] and not message.is_batch
    note = decode_message(b'{"jsonrpc":"2.0","method":"ping","params":{"x":1}}').items[0]
    assert note.is_notification and note.params == {"x": 1}
    null_id = decode_message(b'{"jsonrpc":"2.0","id":null,"method":"ping"}').items[0]
    assert not null_id.is_notification and null_id.id is None


def _error(line: bytes) -> Invalid:
    [item] = decode_message(line).items
    assert isinstance(item, Invalid)
    return item


def test_invalid_messages_give_the_right_codes():
    assert _error(b"{not json").error.code == jsonrpc.PARSE_ERROR
    assert _error(b"\xff\xfe").error.code == jsonrpc.PARSE_ERROR
    assert _error(b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":NaN}}').error.code == jsonrpc.PARSE_ERROR
    assert _error(b"[]").error.code == jsonrpc.INVALID_REQUEST
    assert _error(b"42").error.code == jsonrpc.INVALID_REQUEST
    assert _error(b'{"id":1,"method":"ping"}').error.code == jsonrpc.INVALID_REQUEST
    missing = _error(b'{"jsonrpc":"2.0","id":7}')
    assert missing.error.code == jsonrpc.INVALID_REQUEST and missing.id == 7
    assert _error(b'{"jsonrpc":"2.0","id":1,"method":5}').error.code == jsonrpc.INVALID_REQUEST
    assert _error(b'{"jsonrpc":"2.0","id":{},"method":"ping"}').error.code == jsonrpc.INVALID_REQUEST
    assert _error(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}').error.code == jsonrpc.INVALID_PARAMS


def test_batch_items_are_decoded_one_by_one():
    message = decode_message(b'[{"jsonrpc":"2.0","id":1,"method":"a"}, 1, {"jsonrpc":"2.0","method":"b"}]')
    assert message.is_batch
    assert isinstance(message.items[0], Request) and isinstance(message.items[1], Invalid)
    assert message.items[2].is_notification


@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data):
    for line in LineDecoder(100).feed(data + b"\n"):
        if isinstance(line, bytes):
            assert decode_message(line).items


def test_encoding_round_trip():
    line = jsonrpc.encode_request("sales.record", {"amount": "10.50"}, 3)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["id"] == 3
    assert "id" not in json.loads(jsonrpc.encode_request("ping", {}))
    ok = decode_response(jsonrpc.encode(jsonrpc.success(3, {"x": "ç"})))
    assert ok.id == 3 and ok.result == {"x": "ç"} and ok.error is None
    bad = decode_response(jsonrpc.encode(jsonrpc.failure(4, jsonrpc.RpcError(1001, "no", {"reason": "unauthenticated"}))))
    assert bad.error.code == 1001 and bad.error.data == {"reason": "unauthenticated"}
