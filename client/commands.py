"""Script commands for chain administration, voids, PINs and the catalogue import (see client/cli.py).

Also the helpers every script command shares: signing in, finding a store, network or person from
what a person types (id, name, CPF or CNPJ, masked or bare), and printing rows as a table, JSON or CSV.
Messages are Portuguese; errors are raised as CommandError (exit 1) or UsageError (exit 2).
"""

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from client import imports, views
from client.api import Api
from client.config import ClientConfig
from client.connection import RemoteError, ServerUnreachable
from client.console import Console, Quit
from client.sale_queue import SaleQueue
from client.views import os_error
from models.documents import format_cnpj, format_cpf, parse_cnpj, parse_cpf
from models.errors import ValidationError
from models.names import fold
from models.people import ROLE_WORDS, SELLER, is_weak_pin, parse_name, parse_pin
from models.records import MAX_VOID_REASON, MIN_VOID_REASON, parse_uuid, parse_void_reason

IMPORT_FAILOVER_TIMEOUT_S = 60.0  # a batch may take seconds on a busy server; a resend only miscounts, but is slower
SHOWN_REFUSALS = 50  # on the terminal; the errors file has them all
NEW_PIN_TRIES = 3


class CommandError(Exception):
    """A user error in a script command, already in Portuguese (exit 1)."""


class UsageError(CommandError):
    """A command line that cannot work, found after parsing (exit 2)."""


@dataclass
class Context:
    """What a script command needs: the API, where to print, settings, clock, the seller's queue, ONSELL_NEW_PIN."""
    api: Api
    out: TextIO
    config: ClientConfig
    clock: object
    queue: SaleQueue | None = None
    new_pin_env: str | None = None


# -- shared helpers -------------------------------------------------------------------------

def credentials(config: ClientConfig) -> tuple[str, str]:
    """CPF and PIN from ONSELL_CPF / ONSELL_PIN, or asked on the terminal."""
    console = Console(stdout=sys.stderr)
    try:
        cpf = config.cpf or console.ask("CPF: ", parse_cpf, views.document_error("CPF"))
        pin = config.pin or console.ask("PIN: ", parse_pin, "PIN inválido.", secret=True)
    except Quit:
        raise CommandError("entrada encerrada antes do login.") from None
    try:  # a setting that cannot work: said as such, status 2
        cpf = parse_cpf(cpf)
    except ValidationError as exc:
        raise UsageError(f"ONSELL_CPF: {views.document_error('CPF')(exc)}") from None
    try:
        return cpf, parse_pin(pin)
    except ValidationError:
        raise UsageError("ONSELL_PIN: o PIN tem de 4 a 8 dígitos.") from None


def sign_in(api: Api, config: ClientConfig, queue: SaleQueue | None = None) -> tuple[dict, str]:
    """Sign in; a seller's queued sales get the new token. The user and the PIN used (change-pin needs it)."""
    cpf, pin = credentials(config)
    user = api.login(cpf, pin)
    if queue is not None and user["role"] == SELLER:
        queue.renew_token(user["cpf"], api.token)
    return user, pin


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def program_name() -> str:
    """How the person ran the client, for hints: `onsell` installed from a wheel, else `python -m client`."""
    return "onsell" if Path(sys.argv[0]).name == "onsell" else "python -m client"


def find_store(api: Api, key: str, stores: list[dict] | None = None) -> dict:
    """A store by id, CNPJ (masked or bare) or name (ignoring case and accents; refused when two stores share it)."""
    stores = stores if stores is not None else api.stores()
    for store in stores:
        if key in (store["id"], store["cnpj"]) or digits(key) == store["cnpj"]:
            return store
    named = one_named(stores, key, f"lojas chamadas {key}: informe o CNPJ (veja '{program_name()} stores')")
    if named is not None:
        return named
    raise CommandError(f"loja não encontrada: {key} (veja '{program_name()} stores')")


def find_network(api: Api, key: str) -> dict:
    """A network by id or name (ignoring case and accents)."""
    networks = api.networks()
    for network in networks:
        if key == network["id"]:
            return network
    named = one_named(networks, key, f"redes chamadas {key}: informe o id (veja '{program_name()} networks')")
    if named is not None:
        return named
    raise CommandError(f"rede não encontrada: {key} (veja '{program_name()} networks')")


def one_named(items: list[dict], key: str, several: str) -> dict | None:
    """The item whose name is `key` ignoring case; if none, ignoring accents and spaces too ("atacadao" for
    "ATACADÃO", as the menus' search finds it). None when no item has it; CommandError "há N {several}" when more
    than one does."""
    named = [item for item in items if item["name"].casefold() == key.strip().casefold()]
    named = named or [item for item in items if fold(item["name"]) == fold(key)]
    if len(named) > 1:
        raise CommandError(f"há {len(named)} {several}")
    return named[0] if named else None


def find_person(api: Api, key: str) -> dict:
    """A person by id, CPF (masked or bare) or whole name (ignoring case and accents; refused when two people share
    it), from users.list."""
    try:
        cpf = parse_cpf(key.strip())
    except ValidationError:
        cpf = None
    users = api.users()
    for user in users:
        if key.strip() == user["id"] or cpf == user["cpf"]:
            return user
    named = None if cpf else one_named(users, key, f"pessoas chamadas {key}: informe o CPF (veja '{program_name()} users')")
    if named is not None:
        return named
    shown = format_cpf(cpf) if cpf else key
    raise CommandError(f"pessoa não encontrada: {shown} (veja '{program_name()} users')")


MASKED_COLUMNS = {"cpf": format_cpf, "cnpj": format_cnpj}
ID_COLUMN = "id"  # a table for people leaves ids out; csv and json keep them for other programs


def emit(rows: list[dict], fmt: str, raw, out, columns: tuple[str, ...] = ()) -> None:
    """Print rows as an aligned table, CSV (with header), or the raw JSON result. CPFs and CNPJs are masked in tables
    and CSV; the `id` column is only in CSV (and the JSON). columns: the CSV header when there are no rows (without
    them, no rows print nothing)."""
    if fmt == "json":
        out.write(json.dumps(raw, ensure_ascii=False, indent=2) + "\n")
        return
    rows = [{key: MASKED_COLUMNS[key](value) if key in MASKED_COLUMNS and value else value
             for key, value in row.items() if fmt == "csv" or key != ID_COLUMN} for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else list(columns), lineterminator="\n")
        if writer.fieldnames:
            writer.writeheader()
        writer.writerows(rows)
        out.write(buffer.getvalue())
    else:
        out.write((views.table(list(rows[0]), [list(map(str, r.values())) for r in rows]) if rows else "(nada)") + "\n")


def yes_no(value) -> str:
    return "-" if value is None else ("sim" if value else "não")


WEAK_PIN = "PIN fraco: evite um dígito repetido ou uma sequência (1111, 1234, 4321)."


# -- command line ---------------------------------------------------------------------------

def argument_type(parse, message: str, reasons: dict[str, str] | None = None):
    """An argparse type from one of models' parsers: `message` (Portuguese, with {text}) when the parser refuses, or
    reasons[the parser's reason] where one is given for it."""
    def convert(text: str):
        try:
            return parse(text)
        except ValidationError as exc:
            said = (reasons or {}).get(exc.reason, message)
            raise argparse.ArgumentTypeError(said.format(text=repr(text))) from None
    return convert


_name_arg = argument_type(parse_name, "nome inválido: {text} (de 2 a 100 caracteres)")
_cnpj_arg = argument_type(parse_cnpj, "CNPJ inválido: {text}")
_sale_id_arg = argument_type(lambda text: parse_uuid(text.strip(), "sale_id"),
                             "código de venda inválido: {text} (o código que 'sales' mostra)")
_reason_arg = argument_type(parse_void_reason, f"motivo inválido: de {MIN_VOID_REASON} a {MAX_VOID_REASON} caracteres")


def add_parsers(commands) -> list[argparse.ArgumentParser]:
    """The administration, void, PIN and import commands; returns those that list things (they get --format)."""
    network = commands.add_parser("network", help="cria ou renomeia uma rede (gerente)")
    actions = network.add_subparsers(dest="action", required=True, metavar="AÇÃO")
    actions.add_parser("create", help="cria uma rede").add_argument("name", metavar="NOME", type=_name_arg)
    rename = actions.add_parser("rename", help="renomeia uma rede")
    rename.add_argument("network", metavar="REDE", help="id ou nome da rede")
    rename.add_argument("name", metavar="NOVO_NOME", type=_name_arg)

    store = commands.add_parser("store", help="cria, altera, fecha ou reabre uma loja (gerente)")
    actions = store.add_subparsers(dest="action", required=True, metavar="AÇÃO")
    create = actions.add_parser("create", help="cria uma loja")
    create.add_argument("--name", required=True, type=_name_arg, metavar="NOME", help="nome da loja")
    create.add_argument("--cnpj", required=True, type=_cnpj_arg, metavar="CNPJ", help="CNPJ, com ou sem pontuação")
    create.add_argument("--network", required=True, metavar="REDE", help="id ou nome da rede")
    update = actions.add_parser("update", help="muda o nome ou a rede de uma loja (as vendas passadas mudam de rede junto)")
    update.add_argument("store", metavar="LOJA", help="id ou CNPJ da loja")
    update.add_argument("--name", type=_name_arg, metavar="NOME", help="novo nome")
    update.add_argument("--network", metavar="REDE", help="id ou nome da nova rede")
    for action, text in (("close", "fecha uma loja (não aceita mais vendas)"), ("reopen", "reabre uma loja fechada")):
        actions.add_parser(action, help=text).add_argument("store", metavar="LOJA", help="id ou CNPJ da loja")

    users = commands.add_parser("users", help="lista as pessoas cadastradas, ativas ou não (gerente)")
    users.add_argument("--role", choices=sorted(ROLE_WORDS), help="só vendedores ou só gerentes")

    user = commands.add_parser("user", help="desativa, reativa, redefine o PIN ou escolhe as lojas de uma pessoa (gerente)")
    actions = user.add_subparsers(dest="action", required=True, metavar="AÇÃO")
    for action, text in (("deactivate", "desativa o acesso (as vendas continuam nos relatórios)"), ("reactivate", "reativa o acesso"),
                         ("reset-pin", "define um novo PIN (de ONSELL_NEW_PIN, ou perguntado duas vezes)"),
                         ("assign-stores", "lojas onde um vendedor pode vender (nenhuma: qualquer loja)")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("person", metavar="PESSOA", help="CPF (com ou sem pontuação), id ou nome completo")
        if action == "assign-stores":
            sub.add_argument("stores", metavar="LOJA", nargs="*", help="id ou CNPJ de cada loja")

    void = commands.add_parser("void", help="cancela uma venda (vendedor: as suas, no prazo; gerente: qualquer uma)")
    void.add_argument("sale_id", metavar="VENDA", type=_sale_id_arg, help="código (id) da venda")
    void.add_argument("--reason", required=True, type=_reason_arg, metavar="MOTIVO",
                      help=f"motivo ({MIN_VOID_REASON} a {MAX_VOID_REASON} caracteres)")

    commands.add_parser("change-pin", help="troca o seu PIN (novo PIN de ONSELL_NEW_PIN, ou perguntado duas vezes)")

    load = commands.add_parser("import", help="importa lojas, pessoas ou vendas de um arquivo CSV (gerente)",
                               description=f"lojas: {imports.EXPECTED_HEADER['stores']}; pessoas: {imports.EXPECTED_HEADER['users']} "
                                           f"(pin opcional); vendas: {imports.EXPECTED_HEADER['sales']} (id opcional; valor 1234,56 "
                                           "ou 1234.56; data dd/mm/aaaa ou AAAA-MM-DD). Separador ; ou , e cabeçalho na primeira linha.")
    load.add_argument("kind", choices=(*imports.KINDS, imports.SALES), metavar="{stores,users,sales}",
                      help="stores (lojas), users (pessoas) ou sales (histórico de vendas)")
    load.add_argument("file", metavar="ARQUIVO", type=Path, help="arquivo .csv (UTF-8, ou o CSV do Excel no Windows)")
    return [users]


ADMIN_COMMANDS = ("network", "store", "users", "user", "void", "change-pin", "import")


def run(args, ctx: Context) -> int:
    """Run one of ADMIN_COMMANDS (signing in first); the exit status."""
    if args.command == "import":
        return run_import(args.kind, args.file, ctx)
    user, pin = sign_in(ctx.api, ctx.config, ctx.queue)
    if args.command == "change-pin":
        return _change_pin(ctx, user, pin)
    return {"network": _network, "store": _store, "users": _users, "user": _user, "void": _void}[args.command](args, ctx)


def _network(args, ctx: Context) -> int:
    api, out = ctx.api, ctx.out
    if args.action == "create":
        network = api.create_network(args.name)
        out.write(f"Rede criada: {network['name']} (id {network['id']})\n")
    else:
        old = find_network(api, args.network)
        network = api.rename_network(old["id"], args.name)
        out.write(f"Rede renomeada: {old['name']} → {network['name']} (id {network['id']})\n")
    return 0


def _store_line(store: dict, state: bool = True) -> str:
    closed = ", fechada" if state and store.get("open") is False else ""
    return f"{store['name']}, CNPJ {format_cnpj(store['cnpj'])}, rede {store['network']['name']}{closed} (id {store['id']})"


def _store(args, ctx: Context) -> int:
    api, out = ctx.api, ctx.out
    if args.action == "create":
        network = find_network(api, args.network)
        out.write(f"Loja criada: {_store_line(api.create_store(args.name, args.cnpj, network['id']))}\n")
        return 0
    store = find_store(api, args.store)
    if args.action == "update":
        if args.name is None and args.network is None:
            raise UsageError("informe --name, --network ou os dois.")
        network_id = find_network(api, args.network)["id"] if args.network is not None else None
        updated = api.update_store(store["id"], name=args.name, network_id=network_id)
        out.write(f"Loja alterada: {_store_line(updated)}\n")
        if updated["network"]["id"] != store["network"]["id"]:
            out.write(f"As vendas da loja, também as passadas, agora contam na rede {updated['network']['name']}.\n")
    elif args.action == "close":
        closed = api.close_store(store["id"])
        if store.get("open") is False:  # as it was before: closing again changes nothing
            out.write(f"A loja já estava fechada: {_store_line(closed, state=False)}\n")
        else:
            out.write(f"Loja fechada: {_store_line(closed, state=False)}; não aceita vendas, "
                      "as vendas passadas continuam nos relatórios.\n")
    else:
        reopened = api.reopen_store(store["id"])
        already = "A loja já estava aberta" if store.get("open") is True else "Loja reaberta"
        out.write(f"{already}: {_store_line(reopened)}\n")
    return 0


def _store_names(ids: list[str], stores: list[dict]) -> str:
    names = {s["id"]: s["name"] for s in stores}
    return ", ".join(names.get(i, i) for i in ids) if ids else "qualquer loja"


def _users(args, ctx: Context) -> int:
    people = ctx.api.users(ROLE_WORDS[args.role] if args.role else None)
    stores = ctx.api.stores()
    rows = [{"id": u["id"], "nome": u["name"], "cpf": u["cpf"], "perfil": views.ROLE_NAMES.get(u["role"], u["role"]),
             "ativo": yes_no(u.get("active")), "pin": yes_no(u.get("has_pin")), "lojas": _store_names(u.get("store_ids") or [], stores)}
            for u in people]
    emit(rows, args.format, {"users": people}, ctx.out)
    return 0


def _person(user: dict) -> str:
    return f"{user['name']} (CPF {format_cpf(user['cpf'])})"


def _user(args, ctx: Context) -> int:
    api, out = ctx.api, ctx.out
    person = find_person(api, args.person)
    if args.action == "deactivate":
        out.write(f"Acesso desativado: {_person(api.deactivate_user(person['id']))}; as vendas continuam nos relatórios.\n")
    elif args.action == "reactivate":
        out.write(f"Acesso reativado: {_person(api.reactivate_user(person['id']))}\n")
    elif args.action == "reset-pin":
        user = api.reset_pin(person["id"], new_pin(ctx))
        out.write(f"PIN redefinido: {_person(user)}; as sessões abertas dessa pessoa foram encerradas.\n")
    else:
        stores = api.stores()
        store_ids = list(dict.fromkeys(find_store(api, key, stores)["id"] for key in args.stores))
        user = api.assign_stores(person["id"], store_ids)
        out.write(f"Lojas de {_person(user)}: {_store_names(user.get('store_ids', store_ids), stores)}\n")
    return 0


def new_pin(ctx: Context) -> str:
    """The new PIN: ONSELL_NEW_PIN, else asked twice on the terminal (prompts on stderr, as for sign-in)."""
    if ctx.new_pin_env is not None:
        try:
            return imports.check_pin(ctx.new_pin_env.strip())
        except imports.RowError as exc:
            raise CommandError(f"ONSELL_NEW_PIN: {exc}") from None
    console = Console(stdout=sys.stderr)
    try:
        for _ in range(NEW_PIN_TRIES):
            first = console.ask("Novo PIN: ", parse_pin, "O PIN tem de 4 a 8 dígitos.", secret=True)
            if is_weak_pin(first):
                console.say(WEAK_PIN)
                continue
            if console.ask("Repita o novo PIN: ", parse_pin, "O PIN tem de 4 a 8 dígitos.", secret=True) == first:
                return first
            console.say("Os PINs não conferem.")
    except Quit:
        raise CommandError("entrada encerrada antes do novo PIN.") from None
    raise CommandError("novo PIN não informado.")


def _change_pin(ctx: Context, user: dict, old_pin: str) -> int:
    pin = new_pin(ctx)
    if pin == old_pin:
        raise CommandError("o novo PIN é igual ao atual.")
    token = ctx.api.change_pin(old_pin, pin)
    if ctx.queue is not None and user["role"] == SELLER:
        ctx.queue.renew_token(user["cpf"], token)  # the old token is refused from now on
    ctx.out.write("PIN alterado. Use o novo PIN no próximo acesso.\n")
    return 0


def _void(args, ctx: Context) -> int:
    result = ctx.api.void_sale(args.sale_id, args.reason)
    sale = result["void"]["sale"]
    store = next((s["name"] for s in ctx.api.stores() if s["id"] == sale["store_id"]), sale["store_id"])
    note = " (já estava cancelada)" if result.get("duplicate") else ""
    ctx.out.write(f"Venda cancelada{note}: {views.wire_money(sale['amount'])} em {store}, {views.date(sale['sold_on'])} "
                  f"(código {sale['sale_id']})\n")
    return 0


VOIDS_REPORT_FILTERS = (("seller", "--seller"), ("store", "--store"), ("network", "--network"))


def check_voids_report_args(args) -> None:
    """`report voids` filters by the date of cancellation only: a seller, store or network would be ignored."""
    given = [flag for attr, flag in VOIDS_REPORT_FILTERS if getattr(args, attr, None) is not None]
    if given:
        raise UsageError(f"report voids não aceita {', '.join(given)}: só --from, --to (datas de cancelamento), --limit e --format.")


def run_voids_report(args, ctx: Context) -> int:
    """`report voids`: the cancelled sales, newest first; --from/--to are days of cancellation."""
    check_voids_report_args(args)
    voids = ctx.api.voids(args.start, args.end, **({"limit": args.limit} if args.limit is not None else {}))
    stores = {s["id"]: s["name"] for s in ctx.api.stores()}
    sellers = {u["id"]: u["name"] for u in ctx.api.users()} if voids else {}
    # A void can reach a node before its sale: then `sale` holds only the sale_id (docs/protocol.md, Merges).
    raw = [(v, v["sale"]) for v in voids]
    if args.format == "table":
        rows = [{"Cancelada em": views.moment(v["voided_at"], ctx.config.timezone),
                 "Data da venda": views.date(s["sold_on"]) if s.get("sold_on") else "-",
                 "Vendedor(a)": sellers.get(s.get("seller_id"), s.get("seller_id") or "-"),
                 "Loja": stores.get(s.get("store_id"), s.get("store_id") or "-"),
                 "Valor": views.wire_money(s["amount"]) if s.get("amount") else "-",
                 "Cancelada por": v["voided_by"]["name"], "Motivo": v["reason"], "Venda": views.short_code(s["sale_id"])} for v, s in raw]
        ctx.out.write((views.table(list(rows[0]), [list(r.values()) for r in rows], right={4}) if rows
                       else "Nenhuma venda cancelada no período.") + "\n")
    else:
        rows = [{"cancelada_em": v["voided_at"], "venda": s["sale_id"], "data_venda": s.get("sold_on", ""),
                 "vendedor": sellers.get(s.get("seller_id"), ""), "vendedor_id": s.get("seller_id", ""),
                 "loja": stores.get(s.get("store_id"), ""), "loja_id": s.get("store_id", ""), "valor": s.get("amount", ""),
                 "cancelada_por": v["voided_by"]["name"], "motivo": v["reason"]} for v, s in raw]
        emit(rows, args.format, {"voids": voids}, ctx.out)
    return 0


# -- import ---------------------------------------------------------------------------------

def run_import(kind: str, path: Path, ctx: Context, err: TextIO | None = None) -> int:
    """Check the file, send its good rows in batches, print the summary and the refused lines; 0 when none was refused."""
    err = err or sys.stderr
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"não foi possível ler {path}: {os_error(exc)}") from None
    try:
        parsed = imports.parse_file(kind, data, ctx.clock.now().astimezone(ctx.config.timezone).year)
    except imports.ImportFileError as exc:
        raise CommandError(f"{path}: {exc}") from None
    counts = {"created": 0, "exists": 0, "refused": len(parsed.refused)}
    refused = list(parsed.refused)
    interrupted = None
    if parsed.good:
        sign_in(ctx.api, ctx.config, ctx.queue)
        try:
            _send_batches(ctx.api, kind, parsed.good, counts, refused, err)
        except (RemoteError, ServerUnreachable, CommandError) as exc:
            if not counts["created"] + counts["exists"] + len(refused) - len(parsed.refused):
                raise  # nothing went in: the error says it all
            interrupted = exc  # what went in and what was refused so far are still reported, then the error
    counts["refused"] = len(refused)
    ctx.out.write(imports.summary(counts) + "\n")
    ctx.out.flush()
    report_refusals(parsed, refused, path, err)
    if interrupted is not None:
        raise interrupted
    return 0 if not refused else 1


def _send_batches(api: Api, kind: str, good: list, counts: dict, refused: list, err: TextIO) -> None:
    connection = api.connection
    saved = connection.failover_timeout_s
    connection.failover_timeout_s = max(saved, IMPORT_FAILOVER_TIMEOUT_S)
    sent = 0
    try:
        for batch in imports.batches(good):
            results = api.import_rows(kind, [item.row for item in batch])
            if not isinstance(results, list) or len(results) != len(batch):
                raise CommandError(f"resposta inesperada do servidor: {len(batch)} linhas enviadas, "
                                   f"{len(results) if isinstance(results, list) else 0} resultados")
            for item, result in zip(batch, results):
                status = result.get("status")
                if status in ("created", "exists"):
                    counts[status] += 1
                else:
                    refused.append(imports.Refused(item.number, imports.server_reason(result), item.fields))
            sent += len(batch)
            if err.isatty():
                err.write(f"\r{sent} de {len(good)} linhas enviadas")
                err.flush()
    except (RemoteError, ServerUnreachable, CommandError):
        if sent:  # running the same file again is safe: what went in comes back as "já existiam"
            err.write(f"onsell: importação interrompida depois de {sent} de {len(good)} linhas; rode de novo o mesmo arquivo\n")
        raise
    finally:
        connection.failover_timeout_s = saved
        if sent and err.isatty():
            err.write("\n")


def report_refusals(parsed: imports.ParsedFile, refused: list, path: Path, err: TextIO, fix_hint: str = "") -> None:
    """The refused lines on `err` and in FILE.erros.csv; fix_hint (when some were refused): how to bring them in."""
    target = imports.errors_path(path)
    if not refused:
        try:
            target.unlink(missing_ok=True)  # a stale errors file would describe an older run
        except OSError as exc:
            err.write(f"onsell: aviso: não foi possível apagar {target}, que é de uma importação anterior: {os_error(exc)}\n")
        return
    for item in sorted(refused, key=lambda r: r.number)[:SHOWN_REFUSALS]:
        err.write(f"linha {item.number}: {item.reason}\n")
    if len(refused) > SHOWN_REFUSALS:
        err.write(f"… e mais {len(refused) - SHOWN_REFUSALS} linhas recusadas\n")
    try:
        target.write_text(imports.errors_csv(parsed, refused), encoding="utf-8", newline="")
        err.write(f"linhas recusadas gravadas em {target}\n")
        if fix_hint:
            err.write(fix_hint.format(errors=target.name, original=path.name) + "\n")
    except OSError as exc:
        err.write(f"onsell: não foi possível gravar {target}: {os_error(exc)}\n")

