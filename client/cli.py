"""python -m client [command]: the interactive client, or one command for scripts.

Commands print their result on stdout (table, json or csv) and errors on
stderr, in Portuguese. Settings are read once at start (client/config.py, with
the defaults of runtime.settings); credentials come from ONSELL_CPF and
ONSELL_PIN when set, else they are asked on the terminal. Time comes from one
clock (runtime.clock), handed to everything that needs it. Exit status: see EXIT_*.
The administration, void, PIN and import commands live in client/commands.py.
"""

import argparse
import datetime as dt
import io
import pydoc
import re
import shutil
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from dotenv import load_dotenv

from client import commands as admin_commands
from client import views
from client.api import Api
from client.commands import (
    CommandError,
    Context,
    UsageError,
    argument_type,
    credentials,
    emit,
    find_network,
    find_person,
    find_store,
    program_name,
    sign_in,
    yes_no,
)
from client.config import ClientConfig, ClientConfigError, load_client_config
from client.connection import Connection, RemoteError, ServerUnreachable, TlsMismatch
from client.console import Console
from client.controllers import Interactive
from client.history import run_sales_import
from client.imports import SALES
from client.offline import OfflineRefused, Till, TillApi, offline_path, pending_notice, queued_notice, signin_window_hours
from client.prompts import parse_day
from client.sale_queue import QueueSender, SaleQueue
from models.dates import NOT_A_CALENDAR_DATE, check_range, today_in
from models.errors import ValidationError
from models.limits import DEFAULT_LIST_SIZE, DEFAULT_RANKING_SIZE, MAX_LIST_LIMIT, MAX_RANKING_LIMIT
from models.money import parse_typed_amount
from models.numbers import parse_count
from models.people import SELLER
from models.records import new_sale_id, parse_uuid
from runtime.clock import SystemClock
from runtime.settings import SettingError

EXIT_OK = 0
EXIT_ERROR = 1        # the server refused the request, or the input was invalid
EXIT_USAGE = 2        # wrong command line (argparse), or a setting that cannot work (client/config.py; TLS_CA that does not fit)
EXIT_UNREACHABLE = 3  # no server answered
EXIT_QUEUED = 4       # `sale`: no server answered; the sale waits in the seller's queue and goes out on a later start
RANKING_COLUMNS = ("posição", "nome", "id", "total", "vendas")  # `report best-seller/best-store --format csv`, rows or none
SALES_COLUMNS = ("data", "hora", "loja", "valor", "venda")  # `sales --format csv`, rows or none

REPORTS = {
    "best-store": ("best_store", None),
    "best-seller": ("best_seller", None),
    "seller-total": ("seller_total", "seller"),
    "store-total": ("store_total", "store"),
    "network-total": ("network_total", "network"),
}
OPTIONAL_FILTERS = ("seller", "store", "network", "limit", "period")  # a report given one it does not use says so (exit 2)
REPORT_OPTIONS = {"best-store": ("limit",), "best-seller": ("limit",), "seller-total": ("seller",), "store-total": ("store",),
                  "network-total": ("network",), "over-time": ("store", "network", "seller", "period"), "voids": ("limit",)}
PAGED_COMMANDS = {"report", "sales", "stores", "networks", "sellers", "users"}  # listings a terminal may page
VOIDS_REPORT = "voids"  # cancelled sales: client/commands.py
OVER_TIME_REPORT = "over-time"  # sales per day, week or month: reports.sales_by_period
PERIOD_NAMES = {"day": "day", "week": "week", "month": "month", "dia": "day", "semana": "week", "mes": "month", "mês": "month"}


_date = argument_type(parse_day, "data inválida: {text} (use dd/mm/aaaa ou AAAA-MM-DD)",
                      {NOT_A_CALENDAR_DATE: "data inexistente: {text} (esse dia não existe no calendário)"})
_limit = argument_type(lambda text: parse_count(text, "limit"), "quantidade inválida: {text} (um número inteiro a partir de 1)")
_amount = argument_type(parse_typed_amount, "valor inválido: {text} (de 0,01 a 1.000.000,00; exemplo: 10,50 ou 10.50)")


def _period(text: str) -> str:
    if text.lower() not in PERIOD_NAMES:
        raise ValidationError("period", "unknown")
    return PERIOD_NAMES[text.lower()]


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, "uso: " if prefix is None else prefix)


# argparse's own error sentences, said in Portuguese (our argument types already speak it)
_ARGPARSE_ERRORS = [
    (re.compile(r"the following arguments are required: "), "faltam os argumentos: "),
    (re.compile(r"invalid choice: (.*) \(choose from (.*)\)"), r"opção inválida: \1 (escolha entre \2)"),
    (re.compile(r"unrecognized arguments: "), "argumentos não reconhecidos: "),
    (re.compile(r"expected one argument"), "falta o valor"),
    (re.compile(r"invalid \w+ value: "), "valor inválido: "),
    (re.compile(r"^argument "), "argumento "),
]


class PortugueseParser(argparse.ArgumentParser):
    """argparse whose own words (usage, sections, -h, errors) are Portuguese too; subcommands inherit it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "argumentos"
        self._optionals.title = "opções"
        self.add_argument("-h", "--help", action="help", help="mostra esta ajuda e sai")

    def error(self, message: str):
        for pattern, words in _ARGPARSE_ERRORS:
            message = pattern.sub(words, message)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: erro: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = PortugueseParser(prog=program_name(), description="Cliente do onsell (registro de vendas).")
    parser.add_argument("--servers", metavar="LISTA", help="lista de servidores id=host:porta,... (padrão: CLUSTER)")
    parser.add_argument("--no-pager", action="store_true",
                        help="listas longas de uma vez, sem paginar (no terminal, as listas longas são paginadas)")
    commands = parser.add_subparsers(dest="command", metavar="COMANDO")
    sale = commands.add_parser("sale", help="registra uma venda (vendedor)")
    sale.add_argument("--store", required=True, metavar="LOJA", help="código (id) ou CNPJ da loja")
    sale.add_argument("--amount", required=True, type=_amount, metavar="VALOR", help="valor, por exemplo 10.50")
    sale.add_argument("--date", type=_date, metavar="DATA", help="data da venda (padrão: hoje)")
    sale.add_argument("--sale-id", metavar="VENDA", help="código da venda (UUID) para reenviar a mesma venda com segurança")
    report = commands.add_parser("report", help="relatórios (gerente)")
    report.add_argument("name", metavar="RELATÓRIO", choices=sorted([*REPORTS, VOIDS_REPORT, OVER_TIME_REPORT]),
                        help=", ".join(REPORTS) + f", {OVER_TIME_REPORT} (vendas por dia, semana ou mês) ou {VOIDS_REPORT} "
                        "(vendas canceladas)")
    report.add_argument("--seller", metavar="VENDEDOR", help="CPF, id ou nome do vendedor (seller-total; over-time)")
    report.add_argument("--store", metavar="LOJA", help="id ou CNPJ da loja (store-total; over-time)")
    report.add_argument("--network", metavar="REDE", help="id ou nome da rede (network-total; over-time)")
    report.add_argument("--detail", action="store_true", help="network-total e seller-total: o total de cada loja também")
    report.add_argument("--period", default=None, type=argument_type(_period, "período inválido: {text} (use day, week ou month)"),
                        metavar="PERÍODO", help="over-time: day, week ou month (dia, semana, mês; padrão: day)")
    report.add_argument("--from", dest="start", type=_date, metavar="DATA", help="data inicial")
    report.add_argument("--to", dest="end", type=_date, metavar="DATA", help="data final")
    report.add_argument("--replica", action="store_true",
                        help="o relatório pode vir de um servidor seguidor em dia, aliviando o coordenador "
                        "(sem esta opção, responde o coordenador)")
    report.add_argument("--limit", type=_limit, default=None, metavar="N",
                        help=f"posições no ranking (1 a {MAX_RANKING_LIMIT}, padrão: {DEFAULT_RANKING_SIZE}); "
                        f"voids: vendas (1 a {MAX_LIST_LIMIT}, padrão: {DEFAULT_LIST_SIZE})")
    sales = commands.add_parser("sales", help="lista vendas: as suas (vendedor) ou as de um vendedor (gerente, com --seller)")
    sales.add_argument("--seller", metavar="VENDEDOR", help="CPF, id ou nome do vendedor (gerente)")
    sales.add_argument("--from", dest="start", type=_date, metavar="DATA", help="data inicial (padrão: hoje)")
    sales.add_argument("--to", dest="end", type=_date, metavar="DATA", help="data final (padrão: hoje)")
    sales.add_argument("--limit", type=_limit, default=DEFAULT_LIST_SIZE, metavar="N",
                       help=f"quantas vendas, das mais recentes (1 a {MAX_LIST_LIMIT}, padrão: {DEFAULT_LIST_SIZE})")
    listing = [report, sales]
    for name, text in (("stores", "lista as lojas"), ("networks", "lista as redes"), ("sellers", "lista os vendedores (gerente)")):
        listing.append(commands.add_parser(name, help=text))
    commands.add_parser("status", help="situação de cada nó do cluster")
    listing += admin_commands.add_parsers(commands)
    for sub in listing:
        sub.add_argument("--format", choices=("table", "json", "csv"), default="table", help="formato da saída (padrão: table)")
        # also after the command; SUPPRESS keeps the value given before it
        sub.add_argument("--no-pager", action="store_true", default=argparse.SUPPRESS, help="listas longas de uma vez, sem paginar")
    return parser


def run_command(args, api: Api, out, queue: SaleQueue | None, config: ClientConfig, clock, new_pin_env: str | None = None) -> int:
    if args.command == "status":
        out.write(views.cluster_table(api.status()) + "\n")
        return EXIT_OK
    if args.command == "stores":
        stores = api.stores()
        rows = [{"id": s["id"], "loja": s["name"], "rede": s["network"]["name"], "cnpj": s["cnpj"], "aberta": yes_no(s.get("open"))}
                for s in stores]
        emit(rows, args.format, {"stores": stores}, out)
        return EXIT_OK
    if args.command == "networks":
        networks = api.networks()
        emit([{"id": n["id"], "rede": n["name"]} for n in networks], args.format, {"networks": networks}, out)
        return EXIT_OK
    if args.command == "sale":
        return record_sale(args, api, out, queue, config, clock)
    context = Context(api, out, config, clock, queue, new_pin_env)
    if args.command == "import" and args.kind == SALES:
        return run_sales_import(args.file, context, sys.stderr)
    if args.command in admin_commands.ADMIN_COMMANDS:
        return admin_commands.run(args, context)
    check_report_args(args)  # a wrong command line is said before signing in
    sign_in(api, config, queue)
    if args.command == "report" and args.name == VOIDS_REPORT:
        return admin_commands.run_voids_report(args, context)
    if args.command == "sales":
        return list_sales(args, api, out, config, clock, queue)
    if args.command == "report" and args.name == OVER_TIME_REPORT:
        return run_over_time(args, api, out)
    if args.command == "sellers":
        sellers = api.sellers()
        emit([{"id": s["id"], "vendedor": s["name"], "cpf": s["cpf"]} for s in sellers], args.format, {"sellers": sellers}, out)
        return EXIT_OK
    return run_report(args, api, out)


def list_sales(args, api: Api, out, config: ClientConfig, clock, queue: SaleQueue | None = None) -> int:
    """`sales`: a seller's own sales, or (a manager, --seller) one seller's: to find a sale's code before voiding it."""
    today = today_in(config.timezone, clock.now())
    start = args.start or today
    end = args.end or max(today, start)  # --from alone runs to today, as the reports' --from does
    check_range_or_fail(start, end)
    if api.user["role"] == SELLER:
        if args.seller:
            raise CommandError("--seller é só para gerentes; um vendedor vê as próprias vendas.")
        result = api.my_sales(start, end, args.limit)
    else:
        if not args.seller:
            raise UsageError(f"informe --seller (CPF, id ou nome; veja '{program_name()} sellers').")
        result = api.seller_sales(find_person(api, args.seller)["id"], start, end, args.limit)
    stores = {s["id"]: s["name"] for s in api.stores()}
    money = views.wire_money if args.format == "table" else str  # csv: "10.50", as the reports' csv
    rows = [dict(zip(SALES_COLUMNS, (views.date(s["sold_on"]), views.recorded_time(s, config.timezone),
                                     stores.get(s["store_id"], s["store_id"]), money(s["amount"]), s["sale_id"])))
            for s in result["sales"]]
    emit(rows, args.format, result, out, SALES_COLUMNS)
    if args.format == "table":
        out.write(f"Total {views.period(start, end)}: {views.total_text(result)}\n")
        queued = queued_notice(queue, api.user["cpf"], start, end, "listing") if api.user["role"] == SELLER else ""
        out.write(queued + "\n" if queued else "")
    return EXIT_OK


def record_sale(args, api: Api, out, queue: SaleQueue | None, config: ClientConfig, clock) -> int:
    """Record one sale; when no server answers, keep it in the queue and exit with EXIT_QUEUED."""
    sale_id = args.sale_id or new_sale_id(clock.wall_ns())
    sold_on = args.date or today_in(config.timezone, clock.now())
    try:
        try:
            sign_in(api, config, queue)
        except RemoteError as error:
            waiting = queue.count(api.attempt[0]) if queue is not None and isinstance(api, TillApi) and api.attempt else 0
            if not waiting:
                raise
            # refused (the PIN changed meanwhile?): what waits for this seller stays, and they are told
            print(f"onsell: {views.remote_error(error)}\nonsell: {pending_notice(waiting, 'refused')}", file=sys.stderr)
            return EXIT_ERROR
        if queue is not None and queue.count():
            sent = queue.send_pending(api.connection)  # what earlier runs could not send goes first
            if sent:
                print(f"onsell: {views.pending_sent(sent)}", file=sys.stderr)
        store = find_store(api, args.store)
        result = api.record_sale(sale_id, store["id"], args.amount, sold_on)
    except TlsMismatch:
        raise  # not a server that is down: a setting to fix, so the sale is not kept as if it were
    except ServerUnreachable:
        if queue is None:
            raise
        return queue_offline(api, queue, args, sale_id, sold_on, config)
    sale = result["sale"]
    note = " (já estava registrada)" if result["duplicate"] else ""
    if result.get("voided"):  # a resent sale that was cancelled meanwhile: it counts nowhere
        note = " (já estava registrada e foi cancelada: não conta nos totais)"
    out.write(f"Venda registrada{note}: {views.wire_money(sale['amount'])} em {store['name']}, "
              f"{views.date(sale['sold_on'])} (código {sale['sale_id']})\n")
    return EXIT_OK


def queue_offline(api: Api, queue: SaleQueue, args, sale_id: str, sold_on: dt.date, config: ClientConfig) -> int:
    """No server answered: keep the sale for a later start, with the token when the seller got to sign in, else only when
    this till's verifier takes the PIN (client/offline.py): a sale that could never be sent is not queued."""
    if api.user is None:
        cpf, pin = api.attempt if isinstance(api, TillApi) and api.attempt else credentials(config)
        try:
            if not isinstance(api, TillApi):
                raise OfflineRefused("este caixa não guarda entradas para usar sem servidor.")
            api.login_offline(cpf, pin)
        except OfflineRefused as refusal:
            raise CommandError(f"nenhum servidor respondeu, e a venda NÃO foi guardada: {refusal}") from None
    store = offline_store(api, args.store)
    queue.add(sale_id, api.user["cpf"], api.token or "", store["id"], store["name"], args.amount, sold_on)
    print(f"onsell: venda guardada: será enviada quando o servidor voltar ({views.pending(queue.count())}, código {sale_id})",
          file=sys.stderr)
    return EXIT_QUEUED


def offline_store(api: Api, key: str) -> dict:
    """The store named by `key` (id, CNPJ or name) in the list cached at the last contact with a server, where the
    seller may sell; only an id when no list was ever cached."""
    stores = api.cached_stores() if isinstance(api, TillApi) else None
    if stores is None:
        try:
            store_id = parse_uuid(key, "store")
        except ValidationError:
            raise CommandError("nenhum servidor respondeu, e este caixa ainda não tem a lista de lojas: informe a loja pelo "
                               "código (id).") from None
        return {"id": store_id, "name": store_id}
    store = find_store(api, key, stores)
    allowed = set((api.user or {}).get("store_ids") or [])  # [] means any store
    if not store.get("open", True) or (allowed and store["id"] not in allowed):
        raise CommandError(f"a venda NÃO foi guardada: {store['name']} não aceita vendas suas (fechada ou não é uma das suas lojas).")
    return store


def check_range_or_fail(start: dt.date | None, end: dt.date | None) -> None:
    try:
        check_range(start, end)
    except ValidationError:
        raise UsageError("--from é depois de --to.") from None


def check_report_args(args) -> None:
    """What a `report` or `sales` command line lacks or has too much of (exit 2), before anyone signs in."""
    if args.command not in ("report", "sales"):
        return
    check_range_or_fail(args.start, args.end)
    maximum = MAX_RANKING_LIMIT if args.command == "report" and args.name in ("best-store", "best-seller") else MAX_LIST_LIMIT
    if args.limit is not None and args.limit > maximum:
        raise UsageError(f"--limit vai de 1 a {maximum}.")
    if args.command != "report":
        return
    if args.name == VOIDS_REPORT:
        admin_commands.check_voids_report_args(args)
    if args.name == OVER_TIME_REPORT and sum(1 for name in ("store", "network", "seller") if getattr(args, name)) > 1:
        raise UsageError("informe no máximo um de --store, --network e --seller.")
    if args.detail and args.name not in ("network-total", "seller-total"):
        raise UsageError("--detail é só para network-total e seller-total.")
    extra = [f"--{name}" for name in OPTIONAL_FILTERS if getattr(args, name) not in (None, False)
             and name not in REPORT_OPTIONS.get(args.name, ())]
    if extra and args.name != VOIDS_REPORT:  # voids says it in its own words (client/commands.py)
        allowed = ", ".join(f"--{name}" for name in REPORT_OPTIONS.get(args.name, ())) or "nenhuma destas"
        raise UsageError(f"report {args.name} não aceita {', '.join(extra)} (aceita: {allowed}, além de --from, --to e --format).")
    needs = REPORTS.get(args.name, (None, None))[1]
    if needs is not None and not getattr(args, needs):
        listing = "sellers" if needs == "seller" else f"{needs}s"
        what = {"seller": "CPF, id ou nome do vendedor", "store": "id, CNPJ ou nome da loja", "network": "id ou nome da rede"}[needs]
        raise UsageError(f"informe --{needs}: {what} (veja '{program_name()} {listing}').")


def run_report(args, api: Api, out) -> int:
    method, needs = REPORTS[args.name]
    params = {}
    if needs == "seller":
        params["seller_id"] = find_person(api, args.seller)["id"]
    elif needs == "store":
        params["store_id"] = find_store(api, args.store)["id"]
    elif needs == "network":
        params["network_id"] = find_network(api, args.network)["id"]
    else:
        params["limit"] = args.limit or DEFAULT_RANKING_SIZE
    if args.detail and needs in ("seller", "network"):
        params["detail"] = True
    result = api.report(method, args.start, args.end, **params)
    if needs is None:
        kind = "store" if method == "best_store" else "seller"
        rows = [dict(zip(RANKING_COLUMNS, (i, e[kind]["name"], e[kind]["id"], e["total"], e["count"])))
                for i, e in enumerate(result["ranking"], start=1)]
        if args.format == "table":
            out.write(views.ranking(kind, result["ranking"]) + "\n")
        else:
            emit(rows, args.format, result, out, RANKING_COLUMNS)
    else:
        subject = result[needs]
        rows = [{needs: subject["name"], "id": subject["id"], "de": args.start.isoformat() if args.start else "",
                 "até": args.end.isoformat() if args.end else "", "total": result["total"], "vendas": result["count"]}]
        if args.detail and args.format == "csv":  # one row per store, each with the whole for reference
            rows = [{**rows[0], "loja": e["store"]["name"], "loja_id": e["store"]["id"], "total_loja": e["total"],
                     "vendas_loja": e["count"]} for e in result.get("stores", [])] or rows
        if args.format == "table":
            line = views.total_line(subject["name"], result, args.start, args.end)
            out.write(line + "\n")
            if "stores" in result:
                again = views.total_again_below(len(result["stores"]))
                out.write(views.ranking("store", result["stores"]) + "\n" + (line + "\n" if again else ""))
        else:
            emit(rows, args.format, result, out)
    return EXIT_OK


def run_over_time(args, api: Api, out) -> int:
    """`report over-time`: the chain's sales (or one store's, network's or seller's) per day, week or month, as bars."""
    params = {}
    if args.store:
        params["store_id"] = find_store(api, args.store)["id"]
    elif args.network:
        params["network_id"] = find_network(api, args.network)["id"]
    elif args.seller:
        params["seller_id"] = find_person(api, args.seller)["id"]
    result = api.report("sales_by_period", args.start, args.end, period=args.period or "day", **params)
    if args.format == "table":
        subject = next((result[k]["name"] for k in ("store", "network", "seller") if k in result), "Toda a rede de lojas")
        out.write(f"{subject}\n{views.series_chart(result)}\n")
    else:
        rows = [{"início": p["start"], "fim": p["end"], "total": p["total"], "vendas": p["count"], "ticket_médio": p["average"]}
                for p in result["series"]]
        emit(rows, args.format, result, out)
    return EXIT_OK


def _let_ctrl_c_stop() -> None:
    """A person at a terminal stops with Ctrl+C, even when what started the client ignored SIGINT (a script's job in
    the background does, and a program started so inherits it): then Python would never raise KeyboardInterrupt."""
    if sys.stdin.isatty() and threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None, env: dict | None = None, clock=None) -> int:
    """Run the client; settings from env (default os.environ), time from clock (default the system's)."""
    args = build_parser().parse_args(argv)
    _let_ctrl_c_stop()
    try:
        config = load_client_config(env, args.servers)
    except ClientConfigError as exc:  # as a node refuses to start: one line naming the key
        print(f"onsell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        window_hours = signin_window_hours(env)
    except SettingError as exc:
        print(f"onsell: configuração inválida: OFFLINE_SIGNIN_HOURS deve ser um número inteiro de horas, 0 ou mais ({exc.reason}).",
              file=sys.stderr)
        return EXIT_USAGE
    clock = clock or SystemClock()
    console = Console()
    connection = Connection(config.servers, config.failover_timeout_s, clock=clock, tls_context=config.tls,
                            on_notice=lambda text: print(f"** {text}", file=sys.stderr if args.command else sys.stdout, flush=True))
    queue = open_queue(config.queue_path, clock)
    till = open_till(config.queue_path, window_hours, clock)
    api = TillApi(connection, till)
    api.replica = config.reports_from_followers or getattr(args, "replica", False)
    sender = None
    try:
        if args.command is None:
            interactive = Interactive(api, console, config.timezone, clock=clock, queue=queue)
            if queue is not None:  # what earlier runs could not send goes now, and is said when it went
                sender = interactive.sender = QueueSender(queue, config.servers, config.failover_timeout_s, clock, config.tls,
                                                          on_sent=interactive.say_sent).start()
            return interactive.run()
        if not (args.command in PAGED_COMMANDS and not args.no_pager and sys.stdout.isatty()):
            return run_command(args, api, sys.stdout, queue, config, clock, config.new_pin)
        out = io.StringIO()
        try:
            return run_command(args, api, out, queue, config, clock, config.new_pin)
        finally:
            page(out.getvalue())
    except UsageError as exc:
        print(f"onsell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"onsell: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except RemoteError as exc:
        print(f"onsell: {views.remote_error(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except TlsMismatch as exc:
        print(f"onsell: conexão segura recusada: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerUnreachable as exc:
        print(f"onsell: não foi possível falar com o servidor: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as exc:  # a bug: one line for the person, never a traceback
        print(f"onsell: erro inesperado no cliente ({exc.__class__.__name__}: {exc})", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if sender is not None:
            sender.stop()
        api.remember_stores_once()  # a run that reached a server leaves the store list for one with none
        connection.close()
        if queue is not None:
            queue.close()
        if till is not None:
            till.close()


def page(text: str) -> None:
    """A listing longer than the terminal through the system's pager (PAGER, else less or more); else as it is."""
    if len(text.splitlines()) > shutil.get_terminal_size().lines - 2:
        pydoc.pager(text)
    else:
        sys.stdout.write(text)


def open_queue(path: Path, clock) -> SaleQueue | None:
    """The seller's queue file, or None (with a warning) when it cannot be opened."""
    try:
        return SaleQueue(path, clock)
    except (OSError, sqlite3.Error) as exc:
        print(f"onsell: aviso: fila de vendas indisponível ({path}: {exc}); vendas não poderão esperar pelo servidor",
              file=sys.stderr)
        return None


def open_till(queue_path: Path, window_hours: int, clock) -> Till | None:
    """The till's verifiers and store list (beside the queue), or None (with a warning) when they cannot be opened."""
    path = offline_path(queue_path)
    try:
        return Till(path, window_hours, clock)
    except (OSError, sqlite3.Error) as exc:
        print(f"onsell: aviso: dados para uso sem servidor indisponíveis ({path}: {exc}); sem servidor, ninguém entra",
              file=sys.stderr)
        return None


def run() -> None:
    """Console script entry point (`onsell`, `python -m client`): a .env in the working directory is read first."""
    load_dotenv(Path.cwd() / ".env", override=False)
    sys.exit(main())
