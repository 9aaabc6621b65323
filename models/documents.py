"""Brazilian documents: CPF (people) and CNPJ (companies), with check digits.

Both accept the masked form (123.456.789-09, 12.345.678/0001-95) or bare digits
and normalise to bare digits. Sequences of one repeated digit pass the check
digit arithmetic but are not issued, so they are rejected too.
"""

import re

from models.errors import ValidationError

_CPF_MASKED = re.compile(r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}")  # matched whole
_CNPJ_MASKED = re.compile(r"[0-9]{2}\.[0-9]{3}\.[0-9]{3}/[0-9]{4}-[0-9]{2}")  # matched whole


def _check_digit(digits: str, weights: list[int]) -> int:
    remainder = sum(int(d) * w for d, w in zip(digits, weights)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_check_digits(first_nine: str) -> str:
    """The two check digits of a CPF whose first nine digits are given."""
    first = _check_digit(first_nine, list(range(10, 1, -1)))
    second = _check_digit(first_nine + str(first), list(range(11, 1, -1)))
    return f"{first}{second}"


def cnpj_check_digits(first_twelve: str) -> str:
    """The two check digits of a CNPJ whose first twelve digits are given."""
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    first = _check_digit(first_twelve, weights)
    second = _check_digit(first_twelve + str(first), [6] + weights)
    return f"{first}{second}"


def _digits_only(value: object, field: str, masked: re.Pattern, length: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string of digits")
    text = value.strip()
    if masked.fullmatch(text):
        text = re.sub(r"\D", "", text)
    if not (len(text) == length and text.isascii() and text.isdigit()):
        raise ValidationError(field, f"must have {length} digits")
    if text == text[0] * length:
        raise ValidationError(field, "invalid check digits")
    return text


def parse_cpf(value: object, field: str = "cpf") -> str:
    """Return the 11 digits of a valid CPF, masked or not; raise otherwise."""
    digits = _digits_only(value, field, _CPF_MASKED, 11)
    if cpf_check_digits(digits[:9]) != digits[9:]:
        raise ValidationError(field, "invalid check digits")
    return digits


def parse_cnpj(value: object, field: str = "cnpj") -> str:
    """Return the 14 digits of a valid CNPJ, masked or not; raise otherwise."""
    digits = _digits_only(value, field, _CNPJ_MASKED, 14)
    if cnpj_check_digits(digits[:12]) != digits[12:]:
        raise ValidationError(field, "invalid check digits")
    return digits


def format_cpf(digits: str) -> str:
    """123.456.789-09 from 12345678909."""
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def format_cnpj(digits: str) -> str:
    """12.345.678/0001-95 from 12345678000195."""
    return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"
