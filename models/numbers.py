"""The one check for a whole number in decoded JSON (where True is an int too)."""


def is_int(value: object) -> bool:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_whole(value: object, minimum: int = 0) -> bool:
    """True for an int (not a bool) >= minimum."""
    return is_int(value) and value >= minimum
