"""People: names, birth years, PINs and roles."""

import re

from models.errors import ValidationError
from models.numbers import is_int

SELLER = "seller"
MANAGER = "manager"
ROLES = (SELLER, MANAGER)
# How a chain's spreadsheet names a role (imports), in Portuguese or English.
ROLE_WORDS = {"vendedor": SELLER, "vendedora": SELLER, "seller": SELLER, "gerente": MANAGER, "manager": MANAGER}
PIN_PATTERN = re.compile(r"[0-9]{4,8}")  # ASCII digits only, matched whole (fullmatch: no trailing newline)
MAX_NAME_LENGTH = 100
OLDEST_BIRTH_YEAR = 1900
MIN_AGE_YEARS = 14  # the youngest a worker (apprentice) may be in Brazil


def parse_name(value: object, field: str = "name") -> str:
    """A person's or store's name: 2 to MAX_NAME_LENGTH printable characters, spaces folded."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    name = " ".join(value.split())
    if len(name) < 2 or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(field, f"must have 2 to {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise ValidationError(field, "must not contain control characters")
    return name


def parse_birth_year(value: object, current_year: int, field: str = "birth_year") -> int:
    """A birth year between OLDEST_BIRTH_YEAR and current_year - MIN_AGE_YEARS."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 4:
        value = int(value.strip())
    if not is_int(value):
        raise ValidationError(field, "must be a year such as 1990")
    if not OLDEST_BIRTH_YEAR <= value <= current_year - MIN_AGE_YEARS:
        raise ValidationError(field, f"must be between {OLDEST_BIRTH_YEAR} and {current_year - MIN_AGE_YEARS}")
    return value


def parse_pin(value: object, field: str = "pin") -> str:
    """A PIN of 4 to 8 digits, as a string (leading zeros matter)."""
    if not isinstance(value, str) or not PIN_PATTERN.fullmatch(value):
        raise ValidationError(field, "must be 4 to 8 digits")
    return value


def is_weak_pin(pin: str) -> bool:
    """One digit repeated (1111) or a run up or down (1234, 4321, 0123): the first PINs anyone tries."""
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:])}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def parse_new_pin(value: object, field: str = "pin") -> str:
    """A PIN being set (registration, reset, change, import): parse_pin, and not weak (reason "weak_pin")."""
    pin = parse_pin(value, field)
    if is_weak_pin(pin):
        raise ValidationError(field, "weak_pin")
    return pin


def parse_role(value: object, field: str = "role") -> str:
    """'seller' or 'manager'."""
    if value not in ROLES:
        raise ValidationError(field, "must be 'seller' or 'manager'")
    return value
