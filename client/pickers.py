"""Choosing one person, store or network from lists that may hold thousands (docs/samples: 5,000 people, 500 stores).

Up to LIST_LIMIT candidates are a numbered menu like any other. With more, the person is asked first for a CPF or
CNPJ (masked or bare), which goes straight to its owner, or for part of the name (case and accents ignored, words in
any order); only the matches are numbered then. 0 in that list goes back to the search; Enter at the search goes back
to the menu.
"""

import re
from dataclasses import dataclass
from typing import Callable

from client import views
from client.console import Console
from models.documents import parse_cnpj, parse_cpf
from models.errors import ValidationError
from models.names import fold

LIST_LIMIT = 15  # a numbered list longer than this scrolls off a till's screen
MATCHES_SHOWN = 15
_PARSERS = {"CPF": parse_cpf, "CNPJ": parse_cnpj}


def person_label(user: dict) -> str:
    state = "" if user.get("active", True) else ", desativado(a)"
    return f"{user['name']} ({views.cpf(user['cpf'])}, {views.ROLE_NAMES.get(user['role'], user['role'])}{state})"


def store_label(store: dict) -> str:
    return f"{store['name']} ({store['network']['name']}, {views.store_state(store)})"


@dataclass(frozen=True)
class Kind:
    """How candidates of one kind are shown and found."""
    label: Callable[[dict], str]
    document: str | None = None  # "CPF" or "CNPJ": the candidate's field of that name in lower case
    text: Callable[[dict], str] = lambda item: item["name"]  # what part of a name is looked for in

    def prompt(self, enter: str = "voltar") -> str:
        what = f"{self.document} ou parte do nome" if self.document else "Parte do nome"
        return f"{what} (Enter para {enter}): "


PERSON = Kind(person_label, "CPF")
LISTED_SELLER = Kind(lambda s: f"{s['name']} ({views.cpf(s['cpf'])})", "CPF")  # sellers.list: {id, name, cpf}
STORE = Kind(store_label, "CNPJ", lambda s: f"{s['name']} {s['network']['name']}")
SALE_STORE = Kind(lambda s: f"{s['name']} ({s['network']['name']})", "CNPJ", STORE.text)  # open ones only: no state
NETWORK = Kind(lambda n: n["name"])


def pick(console: Console, title: str, items: list[dict], kind: Kind, enter: str = "voltar") -> dict | None:
    """One of items, or None (the person went back; `enter` says what Enter at the search does)."""
    if len(items) <= LIST_LIMIT:
        index = console.choose(title, [kind.label(item) for item in items])
        return None if index is None else items[index]
    console.say(title)
    while True:
        query = console.ask_optional(kind.prompt(enter), lambda answer: answer, "")
        if query is None:
            return None
        exact, matches, problem = search(items, query, kind)
        if exact is not None:
            return exact
        if problem:
            console.say(problem)
            continue
        shown = matches[:MATCHES_SHOWN]
        heading = f'{len(matches)} {"resultado" if len(matches) == 1 else "resultados"} para "{query}"'
        if len(matches) > len(shown):
            heading += f"; os {len(shown)} primeiros, digite mais do nome para ver outros"
        index = console.choose(f"{heading} (0 volta à busca):", [kind.label(item) for item in shown])
        if index is not None:
            return shown[index]


def search(items: list[dict], query: str, kind: Kind) -> tuple[dict | None, list[dict], str]:
    """(the one item a whole CPF/CNPJ names, the items a part of a name or of a number matches, what went wrong)."""
    digits = "".join(c for c in query if c.isdigit())
    if kind.document and digits and not any(c.isalpha() for c in query):
        field = kind.document.lower()
        if len(digits) == views.DOCUMENT_LENGTHS[kind.document]:
            try:
                number = _PARSERS[kind.document](digits)
            except ValidationError as exc:
                return None, [], views.document_error(kind.document)(exc)
            found = next((item for item in items if item.get(field) == number), None)
            shown = views.cpf(number) if kind.document == "CPF" else views.cnpj(number)
            return found, [], "" if found else f"O {kind.document} {shown} não está entre as opções desta lista."
        matches = [item for item in items if digits in item.get(field, "")]
    else:
        words = fold(query).split()
        matches = [item for item in items if all(word in fold(kind.text(item)) for word in words)]
    if not matches:
        other = f" ou o {kind.document}" if kind.document else ""
        return None, [], f'Nada encontrado para "{query}". Tente outra parte do nome{other}.'
    return None, matches, ""


def pick_many(console: Console, items: list[dict], kind: Kind, what: str = "das lojas") -> list[dict] | None:
    """Several of items (stores): a list of numbers for a short list, else one search after another until Enter.
    None when the person went back without choosing any."""
    if len(items) <= LIST_LIMIT:
        for number, item in enumerate(items, start=1):
            console.say(f"  {number}) {kind.label(item)}")
        chosen = console.ask_optional(f"Números {what}, separados por vírgula (exemplo: 1, 3; Enter para voltar): ",
                                      lambda a: parse_numbers(a, len(items)), f"Digite números de 1 a {len(items)}, separados por vírgula.")
        return None if chosen is None else [items[i] for i in chosen]
    picked: list[dict] = []
    while True:
        chosen = f"{len(picked)} {'escolhida' if len(picked) == 1 else 'escolhidas'}"
        title = f"Mais uma loja ({chosen} até agora):" if picked else "Primeira loja:"
        item = pick(console, title, [i for i in items if i not in picked], kind, "terminar" if picked else "voltar")
        if item is None:
            return picked or None
        picked.append(item)
        console.say(f"Incluída: {kind.label(item)}.")


def parse_numbers(text: str, count: int) -> list[int]:
    """Indexes (0-based) from "1, 3 5": each between 1 and count, repeats dropped, order kept."""
    parts = [p for p in re.split(r"[,;\s]+", text) if p]
    if not parts or not all(p.isdigit() and 1 <= int(p) <= count for p in parts):
        raise ValidationError("numbers", "not a list of options")
    return list(dict.fromkeys(int(p) - 1 for p in parts))
