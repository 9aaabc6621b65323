"""The one check for a whole number in decoded JSON (where True is an int too), and counts typed by people."""

from models.errors import ValidationError


def is_int(value: object) -> bool:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_whole(value: object, minimum: int = 0) -> bool:
    """True for an int (not a bool) >= minimum."""
    return is_int(value) and value >= minimum


def parse_count(text: str, field: str) -> int:
    """A count typed by a person: ASCII digits only, whole, at least 1."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValidationError(field, "must be a whole number from 1")
    return int(text)
