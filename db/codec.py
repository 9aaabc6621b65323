"""How the sales tables store values compactly (migration 6), and back.

Inside a node a sale is stored with its id as 16 bytes, its seller and store as
small local integer keys (db.local_keys), its day as a day number (days since
1970-01-01) and its recording time as milliseconds since the epoch (UTC). The
rest of the program, and the wire, see UUID text, ISO dates and ISO times: only
db/ converts, here.
"""

import datetime as dt
import uuid

_EPOCH = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_EPOCH_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def uuid_bytes(text: str) -> bytes:
    """A UUID's 16 bytes from its text (any form uuid.UUID reads; the canonical one, the common case, fast)."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        try:
            return bytes.fromhex(text.replace("-", ""))
        except ValueError:
            pass
    return uuid.UUID(text).bytes


def uuid_text(stored: bytes) -> str:
    """The canonical lower-case text of a UUID kept as 16 bytes."""
    if len(stored) != 16:
        raise ValueError("a UUID is 16 bytes")
    h = stored.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def day_number(day: dt.date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


def day_of(number: int) -> dt.date:
    return dt.date.fromordinal(number + _EPOCH_ORDINAL)


def iso_day(number: int) -> str:
    return day_of(number).isoformat()


def time_ms(iso_time: str) -> int:
    """An ISO timestamp (runtime.clock.iso_utc, or any offset) as milliseconds since the epoch."""
    instant = dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.timezone.utc)
    return (instant - _EPOCH_TIME) // dt.timedelta(milliseconds=1)


def iso_time(ms: int) -> str:
    """Milliseconds since the epoch as runtime.clock.iso_utc writes times (2026-11-26T17:53:00.123000Z)."""
    return (_EPOCH_TIME + dt.timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def id_hash(stored: bytes) -> int:
    """A 32-bit hash of a UUID kept as 16 bytes: its first four (random in uuid4, SHA-1 in uuid5), for digests."""
    return int.from_bytes(stored[:4], "big")
