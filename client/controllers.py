"""The interactive flows: sign-in (with registration), the seller's menu and the manager's menu
(whose administration submenus live in client/admin.py). People and stores are chosen with client/pickers.py,
which searches first when a list is too long for a screen; typed questions go back to the menu on Enter wherever
an empty answer means nothing else, and on "sair" (console.Leave) everywhere, which at a menu is the menu's own way
out. A seller's stores are asked for again before each sale.

Each menu action runs inside guard(): a server error or an unreachable server
becomes one Portuguese line and the menu comes back; nothing is lost and no
traceback is shown.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from client import views
from client.admin import Administration
from client.api import Api
from client.connection import RemoteError, ServerUnreachable
from client.console import Back, Console, Leave, Quit, SignedOut
from client.offline import failover_within, queued_notice
from client.offline_session import OfflineSession
from client.pickers import LISTED_SELLER, SALE_STORE, pick
from client.prompts import (
    BACK,
    MAX_LISTED_SALES,
    NAME_ERROR,
    NOTHING_CANCELLED,
    ask_new_document,
    ask_new_pin,
    ask_reason,
    parse_day,
)
from client.sale_queue import QueueSender, SaleQueue
from models.dates import MAX_BACKDATE_DAYS, check_range, today_in
from models.documents import parse_cpf
from models.errors import ValidationError
from models.limits import DEFAULT_RANKING_SIZE, MAX_RANKING_LIMIT
from models.money import parse_typed_amount
from models.people import MANAGER, SELLER, parse_birth_year, parse_name, parse_pin
from models.records import new_sale_id
from runtime.clock import SystemClock

STORE_REFRESH_TIMEOUT_S = 1.5  # a seller's store list is asked again before each sale; with no server, the cached one
AMOUNT_QUESTION = f"Valor da venda (exemplo: 10,50; {BACK}): "
AMOUNT_ERROR = "Valor inválido: use, por exemplo, 10,50 (de R$ 0,01 a R$ 1.000.000,00), ou Enter para voltar."


class Interactive(OfflineSession):
    def __init__(self, api: Api, console: Console, timezone: ZoneInfo, clock=None, queue: SaleQueue | None = None,
                 sender: QueueSender | None = None):
        self.api = api
        self.console = console
        self.timezone = timezone
        self.clock = clock or SystemClock()  # a runtime.clock clock: "today", the current year, new sale ids
        self.queue = queue
        self.sender = sender
        self._stores: list[dict] | None = None
        self.admin = Administration(self)

    # -- the whole program ---------------------------------------------------------------
    def run(self) -> int:
        say = self.console.say
        say("=== onsell: registro de vendas ===")
        try:
            while True:
                try:
                    user = self.sign_in()
                except Back:  # Ctrl+C at a question of the sign-in (registering, say): back to the CPF, nobody signed in
                    say("(voltando ao início)")
                    continue
                except KeyboardInterrupt:  # while waiting for the server: back to the CPF
                    say("\nInterrompido.")
                    continue
                if user is None:
                    continue
                say(f"\nOlá, {user['name']}! Perfil: {views.ROLE_NAMES.get(user['role'], user['role'])}.")
                try:
                    self.seller_menu() if user["role"] == SELLER else self.manager_menu()
                except SignedOut:
                    self.warn_pending(user["cpf"], "signed_out")
                    self.api.logout()
                    say("Sessão encerrada.\n")
        except Quit:
            self.warn_pending()
            say("\nAté logo!")
        return 0

    def guard(self, action) -> bool:
        """Run an action; on a server error show one line and return False. Ctrl+C inside it comes back here."""
        try:
            action()
            return True
        except Back:
            self.console.say("(voltando ao menu)")
        except KeyboardInterrupt:  # not at a prompt: while waiting for the server
            self.console.say("Operação interrompida. Se era uma venda, confira em \"Minhas vendas\" antes de registrá-la de novo.")
        except RemoteError as error:
            self.console.say(views.remote_error(error))
            if error.reason == "unauthenticated":
                raise SignedOut() from None
        except ServerUnreachable as error:
            self.console.say(f"Não foi possível falar com o servidor: {error}. Tente novamente.")
        return False

    # -- sign-in -------------------------------------------------------------------------
    def sign_in(self) -> dict | None:
        ask = self.console.ask
        self.console.say("(Para sair, digite sair ou tecle Ctrl+D.)")
        try:
            cpf = ask("CPF: ", parse_cpf, views.document_error("CPF"))
        except Leave:  # "sair", as Ctrl+D
            raise Quit() from None
        except Back:
            if self.confirm_or_no("Deseja fechar o onsell?"):
                raise Quit() from None
            return None
        try:
            pin = self.console.ask_optional(f"PIN ({BACK}): ", parse_pin, "O PIN tem de 4 a 8 dígitos, ou Enter para voltar.",
                                            secret=True)
        except Back:
            pin = None
        if pin is None:
            return None  # another CPF
        try:
            return self.signed_in(self.api.login(cpf, pin))
        except RemoteError as error:
            if error.reason == "unknown_user":
                return self.register(cpf, pin)
            self.console.say(views.remote_error(error))
            self.warn_pending(cpf, "refused")
        except ServerUnreachable as error:
            self.console.say(f"Não foi possível falar com o servidor: {error}.")
            return self.sign_in_offline(cpf, pin)
        return None

    def register(self, cpf: str, typed_pin: str) -> dict | None:
        """Offered at once when sign-in finds no account; the PIN already typed is only confirmed."""
        say = self.console.say
        say(f"O CPF {views.cpf(cpf)} não tem cadastro.")
        if not self.console.confirm("Deseja criar uma conta de vendedor(a)?"):
            return None
        person = self.ask_person(typed_pin)
        if person is None:
            return None
        name, year, pin = person
        try:
            self.api.register(cpf, name, year, pin)
            say(f"Conta criada para {name}.")
            return self.signed_in(self.api.login(cpf, pin))
        except RemoteError as error:
            # auth.register needs no role, so its only 1002 is SELF_REGISTRATION=off
            off = error.code == views.FORBIDDEN
            say("O cadastro por conta própria está desligado: peça a um gerente." if off else views.remote_error(error))
        except ServerUnreachable as error:
            say(f"Não foi possível falar com o servidor: {error}.")
        return None

    def signed_in(self, user: dict) -> dict:
        """Load the stores now (a seller can then sell with no server up); queued sales get the new token."""
        self._stores = None
        self.guard(self.stores)
        if self.queue is not None and user["role"] == SELLER:
            self.queue.renew_token(user["cpf"], self.api.token)
            if self.queue.count(user["cpf"]):  # sent now, so that the menu's count is current
                with failover_within(self.api, STORE_REFRESH_TIMEOUT_S):
                    self.say_sent(self.queue.send_pending(self.api.connection))
                self.warn_pending(user["cpf"], "signed_in")
        return user

    def ask_person(self, typed_pin: str | None = None) -> tuple[str, int, str] | None:
        """Name, birth year and PIN of a new account (typed_pin: only confirmed); None when Enter went back."""
        ask = self.console.ask_optional
        current_year = self.clock.now().year
        name = ask(f"Nome completo ({BACK}): ", parse_name, NAME_ERROR)
        if name is None:
            return None
        year = ask(f"Ano de nascimento ({BACK}): ", lambda a: parse_birth_year(a, current_year),
                   views.birth_year_error(current_year))
        if year is None:
            return None
        pin = ask_new_pin(self.console, f"Escolha um PIN (4 a 8 dígitos; {BACK}): ", allow_back=True, typed=typed_pin)
        return None if pin is None else (name, year, pin)

    # -- seller ------------------------------------------------------------------------------
    def seller_menu(self) -> None:
        self.menu(self.seller_actions)

    def seller_actions(self) -> list:
        """The seller's menu as it is now: a session begun with no server first checks whether one answers again."""
        if not self.back_online():
            raise SignedOut()
        return [
            ("Registrar venda", self.record_sale),
            ("Minhas vendas de hoje", self.needs_server(self.sales_today, meanwhile=self.show_pending)),
            ("Minhas vendas por período", self.needs_server(self.sales_in_period, meanwhile=self.show_pending)),
            (f"Vendas pendentes ({self.pending_count()})", self.show_pending),
            ("Cancelar venda", self.needs_server(self.void_my_sale)),
            ("Trocar meu PIN", self.needs_server(self.change_my_pin)),
            ("Sair (trocar de usuário)", self.sign_out),  # always the last entry
        ]

    def menu(self, make_actions) -> None:
        while True:
            actions = make_actions()  # labels may change (pending sales)
            self.console.say("")
            try:
                choice = self.console.choose("O que deseja fazer?", [label for label, _ in actions], allow_back=False)
            except Leave:  # "sair": the menu's own Sair, its last entry
                choice = len(actions) - 1
            except Back:  # Ctrl+C at the top menu: leave the session, once confirmed
                if self.confirm_or_no("Deseja sair da sessão?"):
                    raise SignedOut() from None
                continue
            self.guard(actions[choice][1])

    def confirm_or_no(self, question: str) -> bool:
        """A yes/no (about leaving) where Ctrl+C again means no, and "sair" yes."""
        try:
            return self.console.confirm(question)
        except Leave:
            return True
        except Back:
            return False

    def sign_out(self) -> None:
        raise SignedOut()

    def stores(self) -> list[dict]:
        if self._stores is None:
            self._stores = self.api.stores()
        return self._stores

    def forget_stores(self) -> None:
        """The next stores() asks the server again (a store was created, closed, moved…)."""
        self._stores = None

    def refresh_stores(self) -> list[dict]:
        """The stores as they are now (a manager may have closed, reopened or created one since); the list already
        held when no server answers soon, so that a sale can still be kept in the queue."""
        if self.offline():
            return self._stores or []  # as cached at the last contact with a server
        try:
            with failover_within(self.api, STORE_REFRESH_TIMEOUT_S):
                self._stores = self.api.stores()
                if (self.api.user or {}).get("role") == SELLER:
                    self.api.me()  # the seller's stores may have changed since sign-in
        except ServerUnreachable:
            if self._stores is None:
                raise
        return self._stores

    def sale_stores(self) -> list[dict]:
        """Where the signed-in seller may sell: open stores, and only theirs when a manager limited them."""
        stores = self.refresh_stores()  # first: it also refreshes the seller's own stores (auth.me)
        allowed = set((self.api.user or {}).get("store_ids") or [])  # [] means any store
        return [s for s in stores if s.get("open", True) and (not allowed or s["id"] in allowed)]

    def pick_sale_store(self, title: str = "Loja:") -> dict | None:
        """A store where the seller may sell now (a search first when there are many: a seller who may sell anywhere)."""
        stores = self.sale_stores()
        if not stores:
            self.console.say("Nenhuma loja aberta onde você possa vender.")
            return None
        return pick(self.console, title, stores, SALE_STORE)

    def record_sale(self) -> None:
        store = self.pick_sale_store()
        if store is None:
            return
        cents = self.console.ask_optional(AMOUNT_QUESTION, parse_typed_amount, AMOUNT_ERROR)
        if cents is None:
            return
        while store is not None:
            if not self.console.confirm(f"Confirmar venda de {views.money(cents)} em {store['name']}?"):
                self.console.say("Venda não registrada.")  # not "cancelada": that word now means a void
                return
            store = self.send_sale(store, cents)

    def send_sale(self, store: dict, cents: int) -> dict | None:
        """Record the sale (or queue it when no server answers). When the server refuses the store (closed, or no
        longer one of the seller's), the stores as they are now are offered at once: the one picked is returned, to
        confirm the sale there; None when the sale is done with."""
        sale_id, sold_on = new_sale_id(self.clock.wall_ns()), self.today()  # both kept if it has to wait in the queue
        try:
            if self.offline():
                raise ServerUnreachable("sem servidor desde a entrada")
            sale = self.api.record_sale(sale_id, store["id"], cents, sold_on)["sale"]
        except RemoteError as error:
            if error.reason == "unauthenticated":
                # A sale refused for its token is not queued: with that token it could never be sent
                self.console.say(views.remote_error(error))
                again = "" if error.data.get("detail") == "account_deactivated" else ": entre novamente e registre-a de novo"
                self.console.say(f"A venda de {views.money(cents)} em {store['name']} NÃO foi registrada{again}.")
                raise SignedOut() from None
            if error.data.get("field") != "store_id":
                raise
            return self.store_refused(error, store)
        except ServerUnreachable:
            if self.queue is None:
                raise
            self.queue.add(sale_id, self.api.user["cpf"], self.api.token or "", store["id"], store["name"], cents, sold_on)
            self.console.say(f"Venda guardada: será enviada quando o servidor voltar ({views.pending(self.pending_count())}).")
            if self.sender:
                self.sender.wake()
            return None
        self.console.say(f"Venda registrada: {views.wire_money(sale['amount'])} em {store['name']}, {views.date(sale['sold_on'])}.")
        return None

    def store_refused(self, error: RemoteError, store: dict) -> dict | None:
        """The store was closed, or is no longer the seller's (1002 carries the seller's stores now, data.store_ids):
        say so, and offer the stores where the sale can go."""
        self.forget_stores()
        store_ids = error.data.get("store_ids")
        if isinstance(store_ids, list) and self.api.user is not None:
            self.api.user["store_ids"] = store_ids
        self.console.say(f"{views.remote_error(error)} A venda não foi registrada.")
        if error.code == views.FORBIDDEN and not isinstance(store_ids, list):
            return None  # an older server: which stores are the seller's now is not known until the next sign-in
        return self.pick_sale_store("Em que loja registrar esta venda?")

    def pending_count(self) -> int:
        return self.queue.count(self.api.user["cpf"]) if self.queue is not None and self.api.user else 0

    def show_pending(self) -> None:
        pending = self.queue.pending(self.api.user["cpf"]) if self.queue is not None else []
        if not pending:
            self.console.say("Nenhuma venda pendente: todas foram enviadas.")
            return
        self.console.say(views.pending_table(pending))

    def today(self) -> dt.date:
        return today_in(self.timezone, self.clock.now())

    def sales_today(self) -> None:
        self.show_my_sales(self.today(), self.today())

    def sales_in_period(self) -> None:
        start, end = self.ask_period()
        self.show_my_sales(start, end)

    def show_my_sales(self, start, end) -> None:
        """The seller's sales in the range from the server, then those of the range still queued on this till (also
        when no server answers): the server's total leaves them out until they are sent."""
        try:
            result = self.api.my_sales(start, end)
        except ServerUnreachable:
            self.say_queued(start, end, "unlisted")
            raise
        names = {s["id"]: s["name"] for s in self.stores()}
        total = views.total_line("Suas vendas", result, start, end)
        self.console.say(total)
        if result["sales"]:
            self.console.show_long(views.sales_table(result["sales"], names, self.timezone))
            if len(result["sales"]) < result["count"]:
                self.console.say(f"(mostrando as {len(result['sales'])} mais recentes)")
            self.say_again_below(total, len(result["sales"]))
        self.say_queued(start, end, "listing")

    def say_queued(self, start: dt.date | None, end: dt.date | None, when: str) -> None:
        """One line on this seller's sales sold in [start, end] that wait on this till to be sent (not those refused)."""
        line = queued_notice(self.queue, self.api.user["cpf"], start, end, when) if self.api.user else ""
        if line:
            self.console.say(line)

    def ask_period(self, open_start: str = "sem início", open_end: str = "sem fim") -> tuple[dt.date | None, dt.date | None]:
        """A range typed as two days (dd/mm/aaaa or AAAA-MM-DD); Enter leaves an end open (the prompts say what that means)."""
        error = views.date_error("Data inválida: use dd/mm/aaaa (exemplo: 05/11/2026) ou deixe em branco.")
        while True:
            start = self.console.ask_optional(f"Data inicial (dd/mm/aaaa, Enter para {open_start}): ", parse_day, error)
            end = self.console.ask_optional(f"Data final (dd/mm/aaaa, Enter para {open_end}): ", parse_day, error)
            try:
                check_range(start, end)
                return start, end
            except ValidationError:
                self.console.say("A data inicial é depois da final. Vamos de novo.")

    def void_my_sale(self) -> None:
        """Cancel one of the seller's own sales recorded in the last void_window_minutes (the server's
        VOID_WINDOW_MINUTES, learnt at sign-in); older ones are a manager's job. The server has the last word
        (1002 void_window_passed), so a clock a little off only costs one refused try."""
        minutes = self.api.void_window_minutes
        if minutes <= 0:
            self.console.say("Só um gerente pode cancelar vendas: fale com um gerente.")
            return
        now, today = self.clock.now(), self.today()
        # What counts is when a sale was recorded, not the date it carries: a sale dated last week and recorded a
        # minute ago may be cancelled. Such a sale is dated at most MAX_BACKDATE_DAYS back (a day more for the
        # time zones' sake); sales.mine lists by date, newest first, so only a seller with more than
        # MAX_LISTED_SALES sales since then could miss an old-dated one, and is told so.
        result = self.api.my_sales(today - dt.timedelta(days=MAX_BACKDATE_DAYS + 1), None, limit=MAX_LISTED_SALES)
        window = dt.timedelta(minutes=minutes)
        recent = [s for s in result["sales"] if s.get("recorded_at") and now - views.instant(s["recorded_at"]) <= window]
        if len(result["sales"]) < result["count"]:
            self.console.say(f"(só as suas {len(result['sales'])} vendas de datas mais recentes foram consultadas: "
                             "se a venda não aparece, fale com um gerente)")
        if not recent:
            self.console.say(f"Nenhuma venda sua registrada {views.last_minutes(minutes)} para cancelar. "
                             "Para uma venda mais antiga, fale com um gerente.")
            return
        recent.sort(key=lambda s: views.instant(s["recorded_at"]), reverse=True)
        names = {s["id"]: s["name"] for s in self.stores()}
        index = self.console.choose("Qual venda cancelar?", [self.own_sale_label(s, names) for s in recent])
        if index is None:
            return
        sale = recent[index]
        where = names.get(sale["store_id"], "loja desconhecida")
        reason = ask_reason(self.console)
        if reason is None or not self.console.confirm(f"Cancelar a venda de {views.wire_money(sale['amount'])} em {where}?"):
            self.console.say(NOTHING_CANCELLED)
            return
        result = self.api.void_sale(sale["sale_id"], reason)
        already = " (já estava cancelada)" if result.get("duplicate") else ""
        self.console.say(f"Venda cancelada{already}: {views.wire_money(sale['amount'])} em {where}.")

    def own_sale_label(self, sale: dict, store_names: dict[str, str]) -> str:
        """14:32  R$ 12,50 em Loja Um, and the sale's date when it is not the day it was recorded."""
        local = views.instant(sale["recorded_at"]).astimezone(self.timezone)
        dated = "" if local.date().isoformat() == sale["sold_on"] else f" (venda de {views.date(sale['sold_on'])})"
        return (f"{local.strftime('%H:%M')}  {views.wire_money(sale['amount'])} em "
                f"{store_names.get(sale['store_id'], 'loja desconhecida')}{dated}")

    def change_my_pin(self) -> None:
        old = self.console.ask_optional(f"PIN atual ({BACK}): ", parse_pin, "O PIN tem de 4 a 8 dígitos, ou Enter para voltar.",
                                        secret=True)
        if old is None:
            return
        new = ask_new_pin(self.console, f"Novo PIN (4 a 8 dígitos; {BACK}): ", allow_back=True)
        if new is None:
            self.console.say("Nada foi alterado.")
            return
        if new == old:
            self.console.say("O novo PIN é igual ao atual: nada foi alterado.")
            return
        try:
            self.api.change_pin(old, new)
        except RemoteError as error:
            if error.code == views.BAD_CREDENTIALS and not error.data.get("pin_not_set"):
                self.console.say("PIN atual incorreto: nada foi alterado.")
                return
            raise
        user = self.api.user or {}
        if self.queue is not None and user.get("role") == SELLER:
            self.queue.renew_token(user["cpf"], self.api.token)  # the old token is refused now, also for queued sales
            if self.sender:
                self.sender.wake()
        self.console.say("PIN alterado. Use o novo PIN na próxima vez que entrar.")

    # -- manager -----------------------------------------------------------------------------
    def manager_menu(self) -> None:
        self.menu(lambda: [
            ("Total de um vendedor", self.seller_total),
            ("Melhor loja", self.best_store),
            ("Melhor vendedor", self.best_seller),
            ("Vendas ao longo do tempo (por dia, semana ou mês)", self.sales_over_time),
            ("Total de uma rede", self.network_total),
            ("Total de uma loja", self.store_total),
            ("Listar vendedores", self.list_sellers),
            ("Listar lojas", self.list_stores),
            ("Criar usuário", self.create_user),
            ("Situação do cluster", self.cluster_status),
            ("Administração: redes, lojas, pessoas, cancelamentos", self.admin.menu),
            ("Trocar meu PIN", self.change_my_pin),
            ("Sair (trocar de usuário)", self.sign_out),  # always the last entry
        ])

    def pick_seller(self, title: str = "Vendedor:") -> dict | None:
        sellers = self.api.sellers()
        if not sellers:
            self.console.say("Nenhum vendedor cadastrado.")
            return None
        return pick(self.console, title, sellers, LISTED_SELLER)

    def seller_total(self) -> None:
        seller = self.pick_seller()
        if seller is None:
            return
        start, end = self.ask_period()
        result = self.api.report("seller_total", start, end, seller_id=seller["id"], detail=True)
        self.say_total_by_store(views.total_line(f"Vendas de {result['seller']['name']}", result, start, end), result)

    def store_total(self) -> None:
        store = self.admin.pick_store()
        if store is None:
            return
        start, end = self.ask_period()
        result = self.api.report("store_total", start, end, store_id=store["id"])
        self.console.say(views.total_line(f"Vendas da loja {result['store']['name']}", result, start, end))

    def network_total(self) -> None:
        network = self.admin.pick_network()
        if network is None:
            return
        start, end = self.ask_period()
        result = self.api.report("network_total", start, end, network_id=network["id"], detail=True)
        self.say_total_by_store(views.total_line(f"Vendas da rede {result['network']['name']}", result, start, end), result)

    def say_total_by_store(self, line: str, result: dict) -> None:
        """The total, each store's share as a ranking, and the total again below a long list."""
        self.console.say(line)
        if result.get("stores"):
            self.console.show_long(views.ranking("store", result["stores"]))
            self.say_again_below(line, len(result["stores"]))

    def say_again_below(self, total: str, rows: int) -> None:
        """A total shown above a list again below it when the list is long, where the eye ends."""
        if views.total_again_below(rows):
            self.console.say(total)

    def _ranking(self, method: str, kind: str, title: str) -> None:
        start, end = self.ask_period()

        def parse_size(answer: str) -> int:
            if not answer:
                return DEFAULT_RANKING_SIZE
            if answer.isdigit() and 1 <= int(answer) <= MAX_RANKING_LIMIT:
                return int(answer)
            raise ValidationError("limit", "out of range")
        limit = self.console.ask(f"Quantas posições? (Enter para {DEFAULT_RANKING_SIZE}): ", parse_size,
                                 f"Digite um número de 1 a {MAX_RANKING_LIMIT}.")
        result = self.api.report(method, start, end, limit=limit)
        self.console.say(f"{title} {views.period(start, end)}:")
        self.console.say(views.ranking(kind, result["ranking"]))

    def best_store(self) -> None:
        self._ranking("best_store", "store", "Melhores lojas")

    def best_seller(self) -> None:
        self._ranking("best_seller", "seller", "Melhores vendedores")

    def sales_over_time(self) -> None:
        """The chain's, a store's, a network's or a seller's sales per day, week or month, as bars."""
        kind = self.console.choose("Agrupar por:", ["Dia", "Semana", "Mês"])
        if kind is None:
            return
        period = ("day", "week", "month")[kind]
        whose = self.console.choose("De quem:", ["Toda a rede de lojas", "Uma loja", "Uma rede", "Um vendedor"])
        if whose is None:
            return
        params, subject = {}, "Toda a rede de lojas"
        if whose:
            picked = (self.admin.pick_store, self.admin.pick_network, self.pick_seller)[whose - 1]()
            if picked is None:
                return
            params[("store_id", "network_id", "seller_id")[whose - 1]] = picked["id"]
            subject = picked["name"]
        default = {"day": "os últimos 30 dias", "week": "as últimas 12 semanas", "month": "os últimos 12 meses"}[period]
        start, end = self.ask_period(default, "hoje")
        result = self.api.report("sales_by_period", start, end, period=period, **params)
        self.console.say(subject)
        self.console.say(views.series_chart(result))

    def list_sellers(self) -> None:
        sellers = self.api.sellers()
        if not sellers:
            self.console.say("Nenhum vendedor cadastrado.")
            return
        self.console.show_long(views.table(["Vendedor(a)", "CPF"], [[s["name"], views.cpf(s["cpf"])] for s in sellers]))

    def list_stores(self) -> None:
        self.forget_stores()  # a manager wants the current list
        self.console.show_long(views.stores_table(self.stores()))

    def cluster_status(self) -> None:
        self.console.say(views.cluster_table(self.api.status()))

    def create_user(self) -> None:
        """The CPF first: one that already has an account is told at once, before the rest is typed."""
        people = self.api.users()
        cpf = ask_new_document(self.console, f"CPF do novo usuário ({BACK}): ", parse_cpf, views.document_error("CPF"),
                               lambda cpf: next((u for u in people if u["cpf"] == cpf), None),
                               lambda taken: f"Já existe uma conta com este CPF: {taken['name']} "
                                             f"({views.ROLE_NAMES.get(taken['role'], taken['role'])}). Digite outro CPF.")
        if cpf is None:
            return
        person = self.ask_person()
        if person is None:
            return
        name, year, pin = person
        role_index = self.console.choose("Perfil:", ["Vendedor(a)", "Gerente"])
        if role_index is None:
            return
        role = (SELLER, MANAGER)[role_index]
        user = self.api.create_user(cpf, name, year, pin, role)
        self.console.say(f"Usuário criado: {user['name']} ({views.ROLE_NAMES[user['role']]}), CPF {views.cpf(user['cpf'])}.")
