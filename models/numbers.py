"""The one check for a whole number in decoded JSON (where True is an int too)."""


def is_whole(value: object, minimum: int = 0) -> bool:
    """True for an int (not a bool) >= minimum."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
