"""The stored things, as small frozen dataclasses: networks, stores, users, sales."""

import datetime as dt
import hashlib
import os
import re
import uuid
from dataclasses import dataclass

from models.errors import ValidationError


def new_id() -> str:
    """A fresh random UUID string: ids never collide across nodes."""
    return str(uuid.uuid4())


def new_sale_id(now_ns: int) -> str:
    """A fresh UUID whose first 48 bits are the Unix time in ms (RFC 9562 version 7); now_ns: a clock's wall_ns().

    Sale ids made in time order are inserted near each other in the sales index,
    so a commit writes few pages; the other 74 bits are random, so ids made on
    different tills still never collide."""
    ms = now_ns // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


_CATALOGUE_NAMESPACE = uuid.UUID("a3c5e1f0-7b2d-4e8a-9c61-2f4d8b0e5a17")
_SALE_NAME_PREFIX = _CATALOGUE_NAMESPACE.bytes + b"sale:"


def network_id_for(name: str) -> str:
    """A network's id, derived from its name at creation (ignoring case): the same network created on
    two sides of a partition is one record when they meet."""
    return str(uuid.uuid5(_CATALOGUE_NAMESPACE, "network:" + name.casefold()))


def store_id_for(cnpj: str) -> str:
    """A store's id, derived from its CNPJ (bare digits), for the same reason."""
    return str(uuid.uuid5(_CATALOGUE_NAMESPACE, "store:" + cnpj))


def imported_sale_id(seller: str, store: str, cents: int, day: str, line: int) -> str:
    """The id of an imported sale that came without one: from its content and its line in the file, so importing the
    same file again finds every sale already there (and two equal sales on two lines stay two). `seller` and `store`
    as the file names them, normalised (CPF or CNPJ digits, or the id).
    It is uuid.uuid5(_CATALOGUE_NAMESPACE, "sale:...") written out, three times as fast (an import derives millions)."""
    digest = bytearray(hashlib.sha1(_SALE_NAME_PREFIX + f"{seller}|{store}|{cents}|{day}|{line}".encode(), usedforsecurity=False).digest())
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    text = digest[:16].hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def parse_uuid(value: object, field: str) -> str:
    """The canonical lower-case form of a UUID string; raise otherwise."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a UUID string")
    if _CANONICAL_UUID.fullmatch(value):
        return value  # already canonical: the common case, and a hot path when replicas catch up
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValidationError(field, "must be a UUID string") from None


@dataclass(frozen=True)
class Network:
    id: str
    name: str


@dataclass(frozen=True)
class Store:
    id: str
    name: str
    cnpj: str
    network: Network
    open: bool = True


@dataclass(frozen=True)
class User:
    id: str
    cpf: str
    name: str
    birth_year: int
    role: str
    active: bool = True
    has_pin: bool = True
    store_ids: tuple[str, ...] = ()  # where a seller may sell; () = any store


@dataclass(frozen=True)
class Sale:
    sale_id: str
    seller_id: str
    store_id: str
    amount_cents: int
    sold_on: dt.date
    recorded_at: str = ""
    origin_node: int = 0
    origin_epoch: int = 0
    origin_seq: int = 0

    def same_content(self, other: "Sale", compare_date: bool = True) -> bool:
        """True when a retry carries what was stored (the date only when the retry gave one)."""
        return (
            self.seller_id == other.seller_id
            and self.store_id == other.store_id
            and self.amount_cents == other.amount_cents
            and (not compare_date or self.sold_on == other.sold_on)
        )


@dataclass(frozen=True)
class Total:
    """A sum of sales: total in cents and how many."""

    total_cents: int = 0
    count: int = 0

    @property
    def average_cents(self) -> int:
        """The average ticket, rounded half away from zero to the cent; 0 with no sales."""
        if self.count <= 0:
            return 0
        half_up = (2 * abs(self.total_cents) + self.count) // (2 * self.count)
        return half_up if self.total_cents >= 0 else -half_up


MIN_VOID_REASON = 3
MAX_VOID_REASON = 200


def parse_void_reason(value: object, field: str = "reason") -> str:
    """Why a sale is voided: 3 to 200 printable characters, spaces folded."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    reason = " ".join(value.split())
    if not MIN_VOID_REASON <= len(reason) <= MAX_VOID_REASON:
        raise ValidationError(field, f"must have {MIN_VOID_REASON} to {MAX_VOID_REASON} characters")
    if not reason.isprintable():
        raise ValidationError(field, "must not contain control characters")
    return reason
