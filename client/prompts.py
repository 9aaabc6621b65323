"""Typed answers shared by the seller's and the manager's menus: void reasons, sale codes, days, new PINs.

Where an empty answer has no meaning of its own, it goes back to the menu, and the prompt says so ("Enter para voltar").
"""

import datetime as dt
import re
import uuid

from client import views
from client.console import Console
from client.pickers import parse_numbers  # noqa: F401  (re-exported: client.admin's callers find it here too)
from models.dates import parse_br_date, parse_iso_date
from models.errors import ValidationError
from models.people import is_weak_pin, parse_pin
from models.records import MAX_VOID_REASON, MIN_VOID_REASON, parse_void_reason

MIN_REASON_LENGTH, MAX_REASON_LENGTH = MIN_VOID_REASON, MAX_VOID_REASON  # checked here too, so a typo costs no round trip
VOIDS_REPORT_LIMIT = 100  # reports.voids' default: the newest hundred are what a manager reads on screen
MAX_LISTED_SALES = 1000  # the largest limit of sales.mine and sales.list
BACK = "Enter para voltar"
DAY_QUESTION = "Dia da venda (dd/mm/aaaa; Enter para hoje): "
DAY_ERROR = "Data inválida: use dd/mm/aaaa (exemplo: 05/11/2026), AAAA-MM-DD, ou deixe em branco para hoje."
REASON_QUESTION = f"Motivo do cancelamento ({MIN_REASON_LENGTH} a {MAX_REASON_LENGTH} caracteres; {BACK}): "
REASON_ERROR = f"Escreva o motivo com {MIN_REASON_LENGTH} a {MAX_REASON_LENGTH} caracteres, ou Enter para voltar."
NAME_ERROR = "Digite o nome (de 2 a 100 caracteres), ou Enter para voltar."
PIN_ERROR = "O PIN tem de 4 a 8 dígitos."
NOTHING_CANCELLED = "Nada foi cancelado."


parse_reason = parse_void_reason  # the server's own rule (models.records)


def ask_reason(console: Console) -> str | None:
    """The reason for a void; None (Enter) goes back."""
    return console.ask_optional(REASON_QUESTION, parse_reason, REASON_ERROR)


def parse_sale_code(text: str) -> str:
    """A sale id (UUID) as typed or pasted: quotes, braces, spaces and letter case do not matter."""
    cleaned = re.sub(r"[\s\"'{}]", "", text)
    try:
        return str(uuid.UUID(cleaned))
    except ValueError:
        raise ValidationError("sale_id", "not a UUID") from None


def parse_day(text: str) -> dt.date:
    """A day as a person types it (dd/mm/aaaa) or as scripts and the wire write it (AAAA-MM-DD)."""
    return parse_iso_date(text.strip(), "date") if "-" in text else parse_br_date(text, "date")


def ask_new_pin(console: Console, prompt: str = "Escolha um PIN (4 a 8 dígitos): ", allow_back: bool = False,
                typed: str | None = None) -> str | None:
    """A PIN typed twice the same way. A weak one is asked again at once, by the server's own rule (models.people),
    rather than after the round trip; the server still checks. With allow_back, Enter at the first question gives None
    (the prompt should say so). `typed`: a PIN the person already typed (at sign-in), so only its repetition is asked."""
    while True:
        if typed is not None:
            pin, typed = typed, None
        elif allow_back:
            pin = console.ask_optional(prompt, parse_pin, f"{PIN_ERROR} Enter para voltar.", secret=True)
            if pin is None:
                return None
        else:
            pin = console.ask(prompt, parse_pin, PIN_ERROR, secret=True)
        if is_weak_pin(pin):
            console.say(views.WEAK_PIN)
            continue
        again = console.ask("Repita o PIN: ", lambda a: a, "", secret=True)
        if again == pin:
            return pin
        console.say("Os PINs não conferem. Vamos de novo.")


def ask_new_document(console: Console, prompt: str, parse, error: str, taken_by, describe) -> str | None:
    """A CPF or CNPJ for a new record, asked again while taken_by(document) finds one that has it (said at once,
    before the rest of the record is typed); None (Enter) goes back."""
    while True:
        document = console.ask_optional(prompt, parse, error)
        if document is None:
            return None
        taken = taken_by(document)
        if taken is None:
            return document
        console.say(describe(taken))
