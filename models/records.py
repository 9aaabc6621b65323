"""The stored things, as small frozen dataclasses: networks, stores, users, sales."""

import datetime as dt
import uuid
from dataclasses import dataclass

from models.errors import ValidationError


def new_id() -> str:
    """A fresh random UUID string: ids never collide across nodes."""
    return str(uuid.uuid4())


def parse_uuid(value: object, field: str) -> str:
    """The canonical lower-case form of a UUID string; raise otherwise."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a UUID string")
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


@dataclass(frozen=True)
class User:
    id: str
    cpf: str
    name: str
    birth_year: int
    role: str


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
