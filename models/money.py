"""Money as integer cents. Never a float.

The wire form is a decimal string with at most two places ("1234.50"); JSON
numbers are refused because a float cannot hold every amount exactly. The
typed form (client) also accepts the Brazilian style: "10,50", "R$ 1.234,56".
A sale is worth at least one cent and at most MAX_SALE_CENTS.
"""

import re

from models.errors import ValidationError

MAX_SALE_CENTS = 100_000_000  # R$ 1.000.000,00
_WIRE_AMOUNT = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,2}))?")  # matched whole: no sign, no spaces, no newline
_PLAIN_TYPED_AMOUNT = re.compile(r"([0-9]+)(?:[.,]([0-9]{1,2}))?")  # matched whole: "1234", "1234,5", "1234.56"


def _check_range(cents: int, field: str) -> int:
    if cents <= 0:
        raise ValidationError(field, "must be greater than zero")
    if cents > MAX_SALE_CENTS:
        raise ValidationError(field, f"must be at most {format_cents(MAX_SALE_CENTS)}")
    return cents


def parse_amount(value: object, field: str = "amount") -> int:
    """Cents from a wire amount such as "10.50"; rejects floats, 0, negatives, >2 places."""
    if not isinstance(value, str):
        raise ValidationError(field, 'must be a decimal string such as "10.50"')
    match = _WIRE_AMOUNT.fullmatch(value)
    if not match:
        raise ValidationError(field, 'must be a decimal string such as "10.50" (at most two decimal places)')
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    return _check_range(int(whole) * 100 + int(fraction), field)


def parse_typed_amount(text: str, field: str = "amount") -> int:
    """Cents from what a person types: "10,50", "10.50", "R$ 1.234,56" (its spaces may be non-breaking), "1234"."""
    plain = _PLAIN_TYPED_AMOUNT.fullmatch(text)
    if plain:  # no R$, spaces or thousands separator (what a file mostly holds): _typed_amount says the same, slower
        whole, fraction = plain.groups()
        return _check_range(int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0), field)
    return _typed_amount(text, field)


def _typed_amount(text: str, field: str) -> int:
    """parse_typed_amount's rules, for every form."""
    cleaned = "".join(text.split()).upper().removeprefix("R$")  # every space, also the non-breaking one a spreadsheet writes
    if not re.fullmatch(r"[0-9.,]+", cleaned):
        raise ValidationError(field, "not an amount")
    separators = [c for c in cleaned if c in ".,"]
    decimal_sep = None
    if len(set(separators)) == 2:
        decimal_sep = separators[-1]  # "1.234,56" and "1,234.56": the last one is decimal
    elif separators == [","] or separators == ["."] and len(cleaned.partition(".")[2]) != 3:
        decimal_sep = separators[0]  # "10,5", "10.50"; a lone comma is always decimal; "1.234" is grouping
    whole, _, fraction = cleaned.rpartition(decimal_sep) if decimal_sep else (cleaned, "", "")
    if decimal_sep and cleaned.count(decimal_sep) != 1 or len(fraction) > 2:
        raise ValidationError(field, "at most two decimal places")
    groups = re.split(r"[.,]", whole)
    if not groups[0] or len(groups) > 1 and (len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        raise ValidationError(field, "not an amount")
    return _check_range(int("".join(groups)) * 100 + int(fraction.ljust(2, "0")), field)


def format_cents(cents: int) -> str:
    """The wire form: 123450 -> "1234.50"."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def format_brl(cents: int) -> str:
    """The screen form: 123450 -> "R$ 1.234,56"."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}R$ {thousands(cents // 100)},{cents % 100:02d}"


def thousands(number: float) -> str:
    """1.234.567 (Brazilian thousands separator), rounded to a whole number."""
    return f"{number:,.0f}".replace(",", ".")
