"""What the client prints: Portuguese messages, R$ money, dd/mm/aaaa dates, tables with bars."""

import datetime as dt
import errno
import re
from zoneinfo import ZoneInfo

from client.connection import RemoteError
from models.dates import NOT_A_CALENDAR_DATE, format_br_date
from models.documents import format_cnpj, format_cpf
from models.money import format_brl, thousands
from models.people import MANAGER, MIN_AGE_YEARS, OLDEST_BIRTH_YEAR, SELLER
from models.records import Total

BAR_WIDTH = 30
_PARTIAL_BLOCKS = " ▏▎▍▌▋▊▉"
ROLE_NAMES = {"seller": "vendedor", "manager": "gerente"}
FIELD_NAMES = {
    "cpf": "CPF", "pin": "PIN", "name": "nome", "birth_year": "ano de nascimento", "amount": "valor",
    "sold_on": "data da venda", "from": "data inicial", "to": "data final", "store_id": "loja",
    "seller_id": "vendedor", "network_id": "rede", "role": "perfil", "limit": "quantidade", "sale_id": "venda",
    "store_ids": "lojas", "user_id": "pessoa", "reason": "motivo", "old_pin": "PIN atual", "new_pin": "novo PIN",
    "cnpj": "CNPJ", "rows": "linhas",
}
REASON_MESSAGES = {
    "unauthenticated": "Sua sessão expirou. Entre novamente.",
    "forbidden": "Você não tem permissão para esta operação.",
    "bad_credentials": "CPF ou PIN incorretos.",
    "unknown_user": "Não há conta com este CPF.",
    "already_exists": "Já existe um cadastro com estes dados.",
    "not_found": "Não encontrado: confira o código informado.",
    "conflict": "Este código de venda já foi usado para outra venda.",
    "not_coordinator": "Este servidor não é o coordenador no momento. Tente novamente.",
    "unavailable": "O servidor está indisponível no momento. Tente novamente em instantes.",
    "rate_limited": "Muitas tentativas com PIN errado. Tente novamente mais tarde.",
    "no_quorum": "Não é possível criar contas agora: o servidor não alcança a maioria dos nós. As vendas continuam; "
                 "tente o cadastro mais tarde.",
}


def pending(count: int) -> str:
    """"1 pendente", "3 pendentes"."""
    return f"{count} pendente{'' if count == 1 else 's'}"


def pending_sales(count: int) -> str:
    """"1 venda pendente", "3 vendas pendentes"."""
    return f"{sales_count(count)} {pending(count).split()[1]}"


def pending_sent(count: int) -> str:
    """"1 venda pendente enviada", "3 vendas pendentes enviadas"."""
    return f"{pending_sales(count)} enviada{'' if count == 1 else 's'}"


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


def cnpj(digits: str) -> str:
    return format_cnpj(digits) if len(digits) == 14 else digits


def instant(iso: str) -> dt.datetime:
    """An aware datetime from the server's UTC timestamps ("2026-11-26T17:53:00.123456Z")."""
    moment = dt.datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def moment(iso: str, zone: ZoneInfo) -> str:
    """26/11/2026 14:53 in the chain's time zone."""
    return instant(iso).astimezone(zone).strftime("%d/%m/%Y %H:%M")


def recorded_time(sale: dict, zone: ZoneInfo) -> str:
    """When a sale was recorded, in the chain's time zone: "14:32" on its own sale date, else "27/11/2026 14:32"
    (a backdated sale, typed in days later)."""
    local = instant(sale["recorded_at"]).astimezone(zone)
    return local.strftime("%H:%M") if local.date().isoformat() == sale["sold_on"] else local.strftime("%d/%m/%Y %H:%M")


def yes_no(flag: bool) -> str:
    return "sim" if flag else "não"


def last_minutes(minutes: int) -> str:
    """"no último minuto", "nos últimos 30 minutos"."""
    return "no último minuto" if minutes == 1 else f"nos últimos {minutes} minutos"


DOCUMENT_LENGTHS = {"CPF": 11, "CNPJ": 14}
DOCUMENT_MASKS = {"CPF": "com ou sem pontos e traço", "CNPJ": "com ou sem pontos, barra e traço"}


def document_error(kind: str):
    """For Console.ask: what was wrong with a typed CPF or CNPJ (kind), from parse_cpf's or parse_cnpj's reason.
    All its digits typed but the check digits wrong is a typo somewhere, not a missing digit."""
    def explain(error) -> str:
        if getattr(error, "reason", "") == "invalid check digits":
            return f"{kind} inválido: os dígitos verificadores não conferem (confira o número digitado)."
        return f"{kind} inválido: digite os {DOCUMENT_LENGTHS[kind]} dígitos ({DOCUMENT_MASKS[kind]})."
    return explain


OS_ERRORS = {
    errno.ENOENT: "arquivo não encontrado",
    errno.EACCES: "sem permissão",
    errno.EPERM: "sem permissão",
    errno.EISDIR: "é uma pasta, não um arquivo",
    errno.ENOTDIR: "uma parte do caminho não é uma pasta",
    errno.ENOSPC: "disco cheio",
    errno.EROFS: "disco somente para leitura",
    errno.ENAMETOOLONG: "nome de arquivo longo demais",
}


def os_error(exc: OSError) -> str:
    """What went wrong with a file, in Portuguese (the system's strerror is English)."""
    return OS_ERRORS.get(exc.errno, f"erro do sistema (código {exc.errno})" if exc.errno else "erro de leitura ou gravação")


def date_error(otherwise: str):
    """For Console.ask: a day that does not exist (31/02) said as such; any other mistake gets `otherwise`."""
    def explain(error) -> str:
        if getattr(error, "reason", "") == NOT_A_CALENDAR_DATE:
            return "Data inválida: esse dia não existe no calendário (confira o dia e o mês)."
        return otherwise
    return explain


def birth_year_error(current_year: int) -> str:
    youngest = current_year - MIN_AGE_YEARS
    return (f"Ano inválido: de {OLDEST_BIRTH_YEAR} a {youngest} (é preciso ter ao menos {MIN_AGE_YEARS} anos), "
            "ou Enter para voltar.")


# Errors whose meaning depends on more than data.reason (docs/protocol.md, "Administration" and "Voids")
INACTIVE_STORE = "Esta loja está fechada e não aceita vendas."
INACTIVE_ACCOUNT = "Esta conta está desativada. Fale com um gerente."
WEAK_PIN = "PIN fraco: evite sequências (1234, 4321) e dígitos repetidos (1111)."
PIN_NOT_SET = "Seu PIN ainda não foi definido: peça a um gerente."
FORBIDDEN_REASONS = {
    "not_your_sale": "Só é possível cancelar as suas próprias vendas.",
    "void_window_passed": "O prazo para cancelar esta venda já passou: peça a um gerente.",
    "last_active_manager": "Não é possível desativar o último gerente ativo.",
    "own_account": "Você não pode desativar a sua própria conta: peça a outro gerente.",
}
FORBIDDEN_STORE = "Você não está autorizado a vender nesta loja."
ROLE_ONLY = {SELLER: "Você não tem permissão: só vendedores fazem isto (uma venda é registrada por quem vendeu).",
             MANAGER: "Você não tem permissão: só gerentes fazem isto."}  # a method of the other role (data.required_role)
TAKEN_FIELDS = {
    "cnpj": "Já existe uma loja com este CNPJ.",
    "name": "Já existe uma rede com este nome.",
    "cpf": "Já existe uma conta com este CPF.",
}
NOT_FOUND_FIELDS = {
    "sale_id": "Nenhuma venda com este código.",
    "store_id": "Loja não encontrada.",
    "network_id": "Rede não encontrada.",
    "user_id": "Pessoa não encontrada.",
    "seller_id": "Vendedor não encontrado.",
}
# 1001's data.detail: why a token is no longer accepted
UNAUTHENTICATED_DETAILS = {
    "account_deactivated": "Sua conta foi desativada. Fale com um gerente.",
    "credentials_changed": "Seu PIN ou seu acesso mudou: entre novamente.",
    "expired": "Sua sessão expirou. Entre novamente.",
    "invalid": "Sua sessão não é válida. Entre novamente.",
}
INVALID, UNAUTHENTICATED, FORBIDDEN, BAD_CREDENTIALS, ALREADY_EXISTS, NOT_FOUND, INACTIVE = -32602, 1001, 1002, 1003, 1005, 1006, 1011
# The server's reasons for an invalid param are English (models/): the common ones said in Portuguese
_INVALID_DETAILS = [
    (re.compile(r"must have (\d+) to (\d+) characters"), r"deve ter de \1 a \2 caracteres"),
    (re.compile(r"must be (\d+) to (\d+) digits"), r"deve ter de \1 a \2 dígitos"),
    (re.compile(r"must have (\d+) digits"), r"deve ter \1 dígitos"),
    (re.compile(r"invalid check digits"), "dígitos verificadores inválidos"),
    (re.compile(r"must be at most ([\d.]+)"), lambda m: f"no máximo {wire_money(m.group(1))}"),
    (re.compile(r"must be greater than zero"), "deve ser maior que zero"),
    (re.compile(r"must not be after 'to'"), "não pode ser depois da data final"),
    (re.compile(r"must not be in the future"), "não pode estar no futuro"),
    (re.compile(r"must not be more than (\d+) days back"), r"no máximo \1 dias atrás"),
    (re.compile(r"must leave at most (\d+) periods in the range"),
     r"o período tem pontos demais para o agrupamento (no máximo \1): agrupe por semana ou mês, ou escolha um período menor"),
]


def rate_limited(data: dict) -> str:
    """A throttled sign-in (a wait of seconds when a CPF is guessed from many places, minutes when locked) or
    registration."""
    seconds = data["retry_after_s"]
    if seconds < 60:
        wait = f"{seconds} {'segundo' if seconds == 1 else 'segundos'}"
    else:
        minutes = round(seconds / 60)
        wait = f"{minutes} {'minuto' if minutes == 1 else 'minutos'}"
    what = "Muitos cadastros a partir deste endereço" if data.get("limit") == "registrations" else "Muitas tentativas com PIN errado"
    return f"{what}. Tente novamente em {wait}."


def remote_error(error: RemoteError) -> str:
    """One Portuguese sentence for an error answer from the server."""
    data, field = error.data, error.data.get("field")
    if error.reason == "rate_limited" and "retry_after_s" in data:
        return rate_limited(data)
    if error.code == UNAUTHENTICATED or error.reason == "unauthenticated":
        return UNAUTHENTICATED_DETAILS.get(data.get("detail"), REASON_MESSAGES["unauthenticated"])
    if error.code == INACTIVE or error.reason == "inactive":
        return INACTIVE_STORE if field == "store_id" else INACTIVE_ACCOUNT
    if error.reason == "weak_pin":
        return WEAK_PIN
    if error.code == FORBIDDEN:
        if error.reason in FORBIDDEN_REASONS:
            return FORBIDDEN_REASONS[error.reason]
        if field == "store_id":
            return FORBIDDEN_STORE
        if data.get("required_role") in ROLE_ONLY:
            return ROLE_ONLY[data["required_role"]]
        return REASON_MESSAGES["forbidden"]  # a reason newer than this client
    if error.code == BAD_CREDENTIALS and data.get("pin_not_set"):
        return PIN_NOT_SET
    if error.code == ALREADY_EXISTS and field in TAKEN_FIELDS:
        return TAKEN_FIELDS[field]
    if error.code == NOT_FOUND and field in NOT_FOUND_FIELDS:
        return NOT_FOUND_FIELDS[field]
    if error.reason in REASON_MESSAGES:
        return REASON_MESSAGES[error.reason]
    if field:
        detail = _invalid_detail(str(data.get("reason", "")))
        return f"Dado inválido ({FIELD_NAMES.get(field, field)}){': ' + detail if detail else ''}."
    return "O servidor recusou o pedido." if error.code == INVALID else f"O servidor recusou o pedido (código {error.code})."


def _invalid_detail(reason: str) -> str:
    """The Portuguese for a known English reason; "" for others (an English phrase would break the Portuguese line)."""
    for pattern, portuguese in _INVALID_DETAILS:
        match = pattern.search(reason)
        if match:
            return match.expand(portuguese) if isinstance(portuguese, str) else portuguese(match)
    return ""


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
        [f"{i}º", e[key]["name"], wire_money(e["total"]), thousands(e["count"]), money(Total(t, e["count"]).average_cents),
         bar(t, max(totals))]
        for i, (e, t) in enumerate(zip(entries, totals), start=1)
    ]
    return table(["#", title, "Total", "Vendas", "Ticket médio", ""], rows, right={0, 2, 3, 4})


def period(start: dt.date | None, end: dt.date | None) -> str:
    if start and end:
        return f"de {date(start)} a {date(end)}" if start != end else f"em {date(start)}"
    if start:
        return f"desde {date(start)}"
    if end:
        return f"até {date(end)}"
    return "em todo o período"


def sales_count(count: int) -> str:
    """"1 venda", "12.345 vendas"."""
    return counted(count, "venda", "vendas")


def counted(count: int, one: str, many: str) -> str:
    """A count and its word as it agrees with it: "1 criado", "12.345 já existiam"."""
    return f"{thousands(count)} {one if count == 1 else many}"


def total_text(result: dict) -> str:
    """"R$ 25,01 em 4 vendas, ticket médio R$ 6,25" from a wire total {total, count}."""
    total = Total(cents_of(result["total"]), result["count"])
    text = f"{money(total.total_cents)} em {sales_count(total.count)}"
    return text + (f", ticket médio {money(total.average_cents)}" if total.count else "")


TOTAL_AGAIN_AFTER_ROWS = 15  # a list longer than this shows its total above and below it, where the eye ends


def total_again_below(rows: int) -> bool:
    return rows > TOTAL_AGAIN_AFTER_ROWS


def total_line(what: str, result: dict, start, end) -> str:
    return f"{what} {period(start, end)}: {total_text(result)}."


MONTHS = ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez")
WEEKDAYS = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")


def bucket_label(period_kind: str, first: dt.date, last: dt.date) -> str:
    """How one point of a series is named: "qui 29/01/2026", "02/03 a 08/03/2026", "mar/2026"."""
    if period_kind == "day":
        return f"{WEEKDAYS[first.weekday()]} {date(first)}"
    whole_month = first.day == 1 and (last + dt.timedelta(days=1)).day == 1
    if period_kind == "month" and whole_month:
        return f"{MONTHS[first.month - 1]}/{first.year}"
    return f"{first:%d/%m} a {date(last)}" if first != last else date(first)


def change_against(current_cents: int, previous_cents: int) -> str:
    """"▲ 12,4%", "▼ 3,0%" or "= 0,0%" against the previous period; a phrase when it had no sales."""
    if previous_cents <= 0:
        return "sem vendas no período anterior"
    tenths = round((current_cents - previous_cents) * 1000 / previous_cents)
    if tenths > 10 * 1000:  # over ten times the period before: a percentage of thousands says less than this
        return f"▲ mais de 10 vezes o período anterior ({current_cents // previous_cents}×)"
    arrow = "▲" if tenths > 0 else "▼" if tenths < 0 else "="
    return f"{arrow} {abs(tenths) // 10},{abs(tenths) % 10}%"


def series_chart(result: dict) -> str:
    """A reports.sales_by_period answer as a table with one bar per period, the whole and the change against the
    period before."""
    kind = result["period"]
    points = [(dt.date.fromisoformat(p["start"]), dt.date.fromisoformat(p["end"]), p) for p in result["series"]]
    totals = [cents_of(p["total"]) for _, _, p in points]
    title = {"day": "Dia", "week": "Semana", "month": "Mês"}[kind]
    rows = [[bucket_label(kind, first, last), wire_money(p["total"]), thousands(p["count"]),
             wire_money(p["average"]) if p["count"] else "-", bar(t, max(totals, default=0))]
            for (first, last, p), t in zip(points, totals)]
    previous = result["previous"]
    start, end = dt.date.fromisoformat(result["from"]), dt.date.fromisoformat(result["to"])
    lines = [table([title, "Total", "Vendas", "Ticket médio", ""], rows, right={1, 2, 3}),
             f"Total {period(start, end)}: {total_text(result)}.",
             f"Período anterior ({period(dt.date.fromisoformat(previous['from']), dt.date.fromisoformat(previous['to']))}): "
             f"{total_text(previous)}; variação: {change_against(cents_of(result['total']), cents_of(previous['total']))}."]
    return "\n".join(lines)


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


def sales_table(sales: list[dict], store_names: dict[str, str], zone: ZoneInfo, with_codes: bool = False) -> str:
    """A seller's sales with the time each was recorded; with_codes adds the sale code, which a manager needs to cancel
    a sale."""
    rows = [[date(s["sold_on"]), recorded_time(s, zone), store_names.get(s["store_id"], s["store_id"]), wire_money(s["amount"])]
            + ([s["sale_id"]] if with_codes else []) for s in sales]
    return table(["Data", "Hora", "Loja", "Valor"] + (["Código"] if with_codes else []), rows, right={3})


def short_code(sale_id: str) -> str:
    """The first 8 characters of a sale's code: enough to tell a day's sales apart on screen (scripts' csv/json and
    `sales` keep the whole code, which `void` takes)."""
    return sale_id[:8]


def sale_choices(sales: list[dict], store_names: dict[str, str], zone: ZoneInfo) -> tuple[str, list[str]]:
    """One seller's sales as a numbered menu (Console.choose) that reads as a table: the heading (two lines) and one
    label per sale, columns aligned under the heading whatever the width of the option numbers ("  9) " or "  10) ")."""
    rows = [[recorded_time(s, zone), store_names.get(s["store_id"], "loja desconhecida"), wire_money(s["amount"]), short_code(s["sale_id"])]
            for s in sales]
    header, dashes, *lines = table(["Hora do registro", "Loja", "Valor", "Código"], rows, right={2}).split("\n")
    digits = len(str(len(sales)))
    labels = [" " * (digits - len(str(number))) + line for number, line in enumerate(lines, start=1)]
    indent = " " * (2 + digits + 2)  # as wide as "  N) "
    return f"{indent}{header}\n{indent}{dashes}", labels


def store_state(store: dict) -> str:
    return "aberta" if store.get("open", True) else "fechada"


def stores_table(stores: list[dict]) -> str:
    rows = [[s["name"], s["network"]["name"], cnpj(s["cnpj"]), store_state(s)] for s in stores]
    return table(["Loja", "Rede", "CNPJ", "Situação"], rows) if rows else "Nenhuma loja cadastrada."


def store_list(store_ids: list[str], store_names: dict[str, str]) -> str:
    """Where a seller may sell: "qualquer loja" for [], else the stores' names."""
    return ", ".join(store_names.get(i, i) for i in store_ids) if store_ids else "qualquer loja"


def users_table(users: list[dict], store_names: dict[str, str]) -> str:
    rows = [[u["name"], cpf(u["cpf"]), ROLE_NAMES.get(u["role"], u["role"]), yes_no(u.get("active", True)),
             yes_no(u.get("has_pin", True)), store_list(u.get("store_ids") or [], store_names) if u["role"] == "seller" else "-"]
            for u in users]
    return table(["Nome", "CPF", "Perfil", "Ativo", "PIN definido", "Lojas"], rows) if rows else "Nenhuma pessoa cadastrada."


def voids_table(voids: list[dict], seller_names: dict[str, str], store_names: dict[str, str], zone: ZoneInfo) -> str:
    """The voids report, newest void first: the sale (its date, seller, store, amount), then when it was cancelled,
    by whom and why."""
    if not voids:
        return "Nenhuma venda cancelada no período."
    rows = []
    for v in voids:
        sale = v["sale"]  # only {sale_id} on a node the voided sale has not reached yet
        seller, store = sale.get("seller_id"), sale.get("store_id")
        rows.append([date(sale["sold_on"]) if sale.get("sold_on") else "-", seller_names.get(seller, seller or "-"),
                     store_names.get(store, store or "-"), wire_money(sale["amount"]) if "amount" in sale else "-",
                     moment(v["voided_at"], zone), voided_by_name(v), v["reason"]])
    return table(["Venda de", "Vendedor(a)", "Loja", "Valor", "Cancelada em", "Cancelada por", "Motivo"], rows, right={3})


def voided_by_name(void: dict) -> str:
    """Who cancelled a sale: voided_by is {id, name} (docs/protocol.md); a bare value is shown as it is."""
    by = void.get("voided_by")
    return by.get("name", "-") if isinstance(by, dict) else str(by or "-")
