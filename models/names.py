"""How people read and order names (of people, stores, networks): case and accents do not count, and a number in a
name counts by its value ("Loja 57" before "Loja 187"; "João" beside "Joao", not after "José")."""

import re
import unicodedata

_NUMBERS = re.compile(r"(\d+)")


def fold(text: str) -> str:
    """Lower case, without accents, spaces folded: "  São  JOÃO" -> "sao joao"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def name_order(name: str) -> tuple:
    """The key that puts names in the order a Brazilian reader expects: folded, its numbers by value, and the name as
    written last (so that names equal once folded keep one order)."""
    parts = _NUMBERS.split(fold(name))  # text, number, text, ...: a number meets a number, text meets text
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), name
