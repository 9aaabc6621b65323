"""What the client prints: Portuguese messages, R$ money, dd/mm/aaaa dates, tables with bars."""

import datetime as dt

from client.connection import RemoteError
from models.dates import format_br_date
from models.documents import format_cpf
from models.money import format_brl

BAR_WIDTH = 30
_PARTIAL_BLOCKS = " ▏▎▍▌▋▊▉"
ROLE_NAMES = {"seller": "vendedor", "manager": "gerente"}
FIELD_NAMES = {
    "cpf": "CPF", "pin": "PIN", "name": "nome", "birth_year": "ano de nascimento", "amount": "valor",
    "sold_on": "data da venda", "from": "data inicial", "to": "data final", "store_id": "loja",
    "seller_id": "vendedor", "network_id": "rede", "role": "perfil", "limit": "quantidade", "sale_id": "venda",
}
REASON_MESSAGES = {
    "unauthenticated": "Sua sessão expirou. Entre novamente.",
    "forbidden": "Você não tem permissão para esta operação.",
    "bad_credentials": "CPF ou PIN incorretos.",
    "unknown_user": "Não há conta com este CPF.",
    "already_exists": "Já existe uma conta com este CPF.",
    "not_found": "Não encontrado: confira o código informado.",
    "conflict": "Este código de venda já foi usado para outra venda.",
    "not_coordinator": "Este servidor não é o coordenador no momento. Tente novamente.",
    "unavailable": "O servidor está indisponível no momento. Tente novamente em instantes.",
    "rate_limited": "Muitas tentativas com PIN errado. Tente novamente mais tarde.",
}


def money(cents: int) -> str:
    return format_brl(cents)


def cents_of(amount: str) -> int:
    """Cents from a wire amount the server sent ("1234.50", also "0.00")."""
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0") or 0)


def wire_money(amount: str) -> str:
    """R$ 1.234,50 from the wire's "1234.50"."""
    return format_brl(cents_of(amount))


def date(iso: str | dt.date) -> str:
    return format_br_date(dt.date.fromisoformat(iso) if isinstance(iso, str) else iso)


def cpf(digits: str) -> str:
    return format_cpf(digits)


def remote_error(error: RemoteError) -> str:
    """One Portuguese sentence for an error answer from the server."""
    if error.reason == "rate_limited" and "retry_after_s" in error.data:
        minutes = max(1, round(error.data["retry_after_s"] / 60))
        return f"Muitas tentativas com PIN errado. Tente novamente em {minutes} minuto(s)."
    if error.reason in REASON_MESSAGES:
        return REASON_MESSAGES[error.reason]
    field = error.data.get("field")
    if field:
        return f"Dado inválido ({FIELD_NAMES.get(field, field)}): {error.data.get('reason', error.message)}."
    return f"O servidor recusou o pedido: {error.message}"


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of block characters, proportional to value/largest."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = round(value * width * 8 / largest)
    return "█" * (eighths // 8) + (_PARTIAL_BLOCKS[eighths % 8] if eighths % 8 else "")


def table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """An aligned text table; columns in `right` are right-aligned."""
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def ranking(kind: str, entries: list[dict]) -> str:
    """The ranking of stores or sellers as a table with one bar per row."""
    if not entries:
        return "Nenhuma venda no período."
    key, title = ("store", "Loja") if kind == "store" else ("seller", "Vendedor(a)")
    totals = [cents_of(e["total"]) for e in entries]
    rows = [
        [f"{i}º", e[key]["name"], wire_money(e["total"]), str(e["count"]), bar(t, max(totals))]
        for i, (e, t) in enumerate(zip(entries, totals), start=1)
    ]
    return table(["#", title, "Total", "Vendas", ""], rows, right={0, 2, 3})


def period(start: dt.date | None, end: dt.date | None) -> str:
    if start and end:
        return f"de {date(start)} a {date(end)}" if start != end else f"em {date(start)}"
    if start:
        return f"desde {date(start)}"
    if end:
        return f"até {date(end)}"
    return "em todo o período"


def total_line(what: str, result: dict, start, end) -> str:
    return f"{what} {period(start, end)}: {wire_money(result['total'])} em {result['count']} venda(s)."


ROLE_IN_CLUSTER = {"coordinator": "coordenador", "follower": "seguidor", "down": "fora do ar",
                   "candidate": "em eleição", "unknown": "desconhecido"}


def cluster_table(status: dict) -> str:
    """One line per node: id, address, role, epoch, replication position, how far behind the coordinator."""
    rows = []
    for node in status["nodes"]:
        role = ROLE_IN_CLUSTER.get(node["role"], node["role"]) if node.get("alive") else "fora do ar"
        rows.append([str(node["id"]), node["address"], role, _or_dash(node.get("epoch")), _or_dash(node.get("position")),
                     _or_dash(node.get("behind"))])
    coordinator = f"nó {status['coordinator_id']}" if status.get("coordinator_id") else "em eleição"
    title = f"Visto pelo nó {status['node_id']}; coordenador: {coordinator}"
    table_text = table(["Nó", "Endereço", "Papel", "Época", "Posição", "Atraso"], rows, right={0, 3, 4, 5})
    merges = status.get("merges") or []
    notes = [f"CPF {m['cpf']} cadastrado duas vezes: contas unificadas." for m in merges]
    return "\n".join([title, table_text, *notes])


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def pending_table(pending) -> str:
    """The seller's queued sales, oldest first."""
    rows = [[date(p.sold_on), p.store_name, money(p.amount_cents), "recusada: " + p.refused if p.refused else "aguardando envio"]
            for p in pending]
    return table(["Data", "Loja", "Valor", "Situação"], rows, right={2})


def sales_table(sales: list[dict], store_names: dict[str, str]) -> str:
    rows = [[date(s["sold_on"]), store_names.get(s["store_id"], s["store_id"]), wire_money(s["amount"])] for s in sales]
    return table(["Data", "Loja", "Valor"], rows, right={2})
