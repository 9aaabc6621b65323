"""The manager's administration menus: networks, stores, people, voids (docs/protocol.md, "Administration", "Voids").

Interactive (client/controllers.py) owns the session; Administration borrows its api, console, guard, period
question, seller and store lists, so every action here gets the same one-line error handling and menu return.
The helpers at the top (reasons, sale codes, days, several numbers, a new PIN typed twice) serve the seller's menu too.
"""

import datetime as dt
import re
import uuid

from client import views
from client.console import Console
from models.dates import parse_br_date, parse_iso_date
from models.documents import parse_cnpj
from models.errors import ValidationError
from models.people import SELLER, is_weak_pin, parse_name, parse_pin

MIN_REASON_LENGTH, MAX_REASON_LENGTH = 3, 200  # sales.void's reason, checked here so a typo costs no round trip
VOIDS_REPORT_LIMIT = 100  # reports.voids' default: the newest hundred are what a manager reads on screen
MAX_LISTED_SALES = 1000  # the largest limit of sales.mine and sales.list
DAY_QUESTION = "Dia da venda (dd/mm/aaaa; Enter para hoje): "
DAY_ERROR = "Data inválida: use dd/mm/aaaa (exemplo: 05/11/2026), AAAA-MM-DD, ou deixe em branco para hoje."
REASON_QUESTION = f"Motivo do cancelamento ({MIN_REASON_LENGTH} a {MAX_REASON_LENGTH} caracteres): "
REASON_ERROR = f"Escreva o motivo com {MIN_REASON_LENGTH} a {MAX_REASON_LENGTH} caracteres."


def parse_reason(text: str) -> str:
    reason = " ".join(text.split())
    if not MIN_REASON_LENGTH <= len(reason) <= MAX_REASON_LENGTH or not reason.isprintable():
        raise ValidationError("reason", f"must have {MIN_REASON_LENGTH} to {MAX_REASON_LENGTH} characters")
    return reason


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


def parse_numbers(text: str, count: int) -> list[int]:
    """Indexes (0-based) from "1, 3 5": each between 1 and count, repeats dropped, order kept."""
    parts = [p for p in re.split(r"[,;\s]+", text) if p]
    if not parts or not all(p.isdigit() and 1 <= int(p) <= count for p in parts):
        raise ValidationError("numbers", "not a list of options")
    return list(dict.fromkeys(int(p) - 1 for p in parts))


def ask_new_pin(console: Console, prompt: str = "Escolha um PIN (4 a 8 dígitos): ") -> str:
    """A PIN typed twice the same way. A weak one is asked again at once, by the server's own rule (models.people),
    rather than after the round trip; the server still checks."""
    while True:
        pin = console.ask(prompt, parse_pin, "O PIN tem de 4 a 8 dígitos.", secret=True)
        if is_weak_pin(pin):
            console.say(views.WEAK_PIN)
            continue
        again = console.ask("Repita o PIN: ", lambda a: a, "", secret=True)
        if again == pin:
            return pin
        console.say("Os PINs não conferem. Vamos de novo.")


def person_label(user: dict) -> str:
    state = "" if user.get("active", True) else ", desativado(a)"
    return f"{user['name']} ({views.cpf(user['cpf'])}, {views.ROLE_NAMES.get(user['role'], user['role'])}{state})"


def store_label(store: dict) -> str:
    return f"{store['name']} ({store['network']['name']}, {views.store_state(store)})"


class Administration:
    def __init__(self, owner):
        self.owner = owner  # the Interactive session: api, console, guard, stores(), ask_period(), sign_out()

    @property
    def api(self):
        return self.owner.api

    @property
    def console(self) -> Console:
        return self.owner.console

    def say(self, text: str = "") -> None:
        self.console.say(text)

    # -- menus -------------------------------------------------------------------------------
    def menu(self) -> None:
        self.submenu("Administração:", [
            ("Redes", self.networks_menu),
            ("Lojas", self.stores_menu),
            ("Pessoas", self.people_menu),
            ("Cancelar venda e relatório de cancelamentos", self.voids_menu),
        ])

    def submenu(self, title: str, actions: list) -> None:
        """A numbered list with 0) Voltar, shown again after each action until 0."""
        while True:
            self.say("")
            choice = self.console.choose(title, [label for label, _ in actions])
            if choice is None:
                return
            self.owner.guard(actions[choice][1])

    def networks_menu(self) -> None:
        self.submenu("Redes:", [("Listar redes", self.list_networks), ("Criar rede", self.create_network),
                                ("Renomear rede", self.rename_network)])

    def stores_menu(self) -> None:
        self.submenu("Lojas:", [("Listar lojas", self.list_stores), ("Criar loja", self.create_store),
                                ("Alterar nome ou rede de uma loja", self.update_store), ("Fechar loja", self.close_store),
                                ("Reabrir loja", self.reopen_store)])

    def people_menu(self) -> None:
        self.submenu("Pessoas:", [("Listar pessoas", self.list_people), ("Criar pessoa", self.owner.create_user),
                                  ("Desativar pessoa", self.deactivate), ("Reativar pessoa", self.reactivate),
                                  ("Redefinir PIN de uma pessoa", self.reset_pin),
                                  ("Lojas de um vendedor", self.assign_stores)])

    def voids_menu(self) -> None:
        self.submenu("Cancelamentos:", [("Encontrar uma venda (vendedor e dia) e cancelar", self.find_and_void),
                                        ("Cancelar uma venda pelo código", self.void_sale),
                                        ("Relatório de cancelamentos", self.voids_report)])

    # -- choosing ------------------------------------------------------------------------------
    def pick_network(self, title: str = "Rede:") -> dict | None:
        networks = self.api.networks()
        if not networks:
            self.say("Nenhuma rede cadastrada: crie uma rede primeiro.")
            return None
        index = self.console.choose(title, [n["name"] for n in networks])
        return None if index is None else networks[index]

    def fresh_stores(self) -> list[dict]:
        self.owner.forget_stores()  # a manager changing stores must see the current list, and sellers' pickers too
        return self.owner.stores()

    def pick_store(self, title: str = "Loja:", keep=lambda store: True, none: str = "Nenhuma loja cadastrada.") -> dict | None:
        stores = [s for s in self.fresh_stores() if keep(s)]
        if not stores:
            self.say(none)
            return None
        index = self.console.choose(title, [store_label(s) for s in stores])
        return None if index is None else stores[index]

    def pick_person(self, title: str, keep=lambda user: True, none: str = "Ninguém nesta situação.") -> dict | None:
        people = [u for u in self.api.users() if keep(u)]
        if not people:
            self.say(none)
            return None
        index = self.console.choose(title, [person_label(u) for u in people])
        return None if index is None else people[index]

    def is_me(self, user: dict) -> bool:
        return bool(self.api.user) and user["id"] == self.api.user.get("id")

    # -- networks ------------------------------------------------------------------------------
    def list_networks(self) -> None:
        networks = self.api.networks()
        rows = [[n["name"], n["id"]] for n in networks]
        self.say(views.table(["Rede", "Código"], rows) if rows else "Nenhuma rede cadastrada.")

    def create_network(self) -> None:
        name = self.console.ask("Nome da nova rede: ", parse_name, "Digite o nome (de 2 a 100 caracteres).")
        network = self.api.create_network(name)
        self.say(f"Rede criada: {network['name']}.")

    def rename_network(self) -> None:
        network = self.pick_network("Qual rede renomear?")
        if network is None:
            return
        name = self.console.ask(f"Novo nome para {network['name']}: ", parse_name, "Digite o nome (de 2 a 100 caracteres).")
        renamed = self.api.rename_network(network["id"], name)
        self.owner.forget_stores()  # store lines show the network's name
        self.say(f"Rede renomeada: {network['name']} agora é {renamed['name']}.")

    # -- stores --------------------------------------------------------------------------------
    def list_stores(self) -> None:
        self.say(views.stores_table(self.fresh_stores()))

    def create_store(self) -> None:
        name = self.console.ask("Nome da nova loja: ", parse_name, "Digite o nome (de 2 a 100 caracteres).")
        cnpj = self.console.ask("CNPJ: ", parse_cnpj, "CNPJ inválido: digite os 14 dígitos (com ou sem pontos, barra e traço).")
        network = self.pick_network("Rede da loja:")
        if network is None:
            return
        store = self.api.create_store(name, cnpj, network["id"])
        self.owner.forget_stores()
        self.say(f"Loja criada: {store['name']} ({store['network']['name']}), CNPJ {views.cnpj(store['cnpj'])}.")

    def update_store(self) -> None:
        store = self.pick_store("Qual loja alterar?")
        if store is None:
            return
        name = self.console.ask_optional(f"Novo nome (Enter para manter \"{store['name']}\"): ", parse_name,
                                         "Digite o nome (de 2 a 100 caracteres) ou deixe em branco.")
        name = None if name == store["name"] else name
        network_id = None
        if self.console.confirm(f"Mudar a rede (hoje {store['network']['name']})?"):
            network = self.pick_network("Nova rede:")
            if network is not None and network["id"] != store["network"]["id"]:
                self.say(f"Atenção: todas as vendas desta loja, também as antigas, passam a contar para a rede {network['name']}.")
                if self.console.confirm("Confirmar a mudança de rede?"):
                    network_id = network["id"]
        if name is None and network_id is None:
            self.say("Nada foi alterado.")
            return
        changed = self.api.update_store(store["id"], name=name, network_id=network_id)
        self.owner.forget_stores()
        self.say(f"Loja alterada: {changed['name']} ({changed['network']['name']}).")

    def close_store(self) -> None:
        store = self.pick_store("Qual loja fechar?", lambda s: s.get("open", True), "Nenhuma loja aberta.")
        if store is None:
            return
        if not self.console.confirm(f"Fechar {store['name']}? Ela deixa de aceitar vendas; as vendas antigas continuam nos relatórios."):
            self.say("Nada foi alterado.")
            return
        closed = self.api.close_store(store["id"])
        self.owner.forget_stores()
        self.say(f"Loja fechada: {closed['name']}.")

    def reopen_store(self) -> None:
        store = self.pick_store("Qual loja reabrir?", lambda s: not s.get("open", True), "Nenhuma loja fechada.")
        if store is None:
            return
        reopened = self.api.reopen_store(store["id"])
        self.owner.forget_stores()
        self.say(f"Loja reaberta: {reopened['name']}.")

    # -- people --------------------------------------------------------------------------------
    def store_names(self) -> dict[str, str]:
        return {s["id"]: s["name"] for s in self.owner.stores()}

    def list_people(self) -> None:
        self.say(views.users_table(self.api.users(), self.store_names()))

    def deactivate(self) -> None:
        # Oneself is left out: it would end this session; another manager can do it.
        person = self.pick_person("Quem desativar?", lambda u: u.get("active", True) and not self.is_me(u),
                                  "Ninguém ativo além de você.")
        if person is None:
            return
        if not self.console.confirm(f"Desativar {person['name']}? A pessoa não poderá entrar; as vendas dela continuam nos relatórios."):
            self.say("Nada foi alterado.")
            return
        user = self.api.deactivate_user(person["id"])
        self.say(f"Pessoa desativada: {user['name']}.")

    def reactivate(self) -> None:
        person = self.pick_person("Quem reativar?", lambda u: not u.get("active", True), "Ninguém está desativado.")
        if person is None:
            return
        user = self.api.reactivate_user(person["id"])
        self.say(f"Pessoa reativada: {user['name']}.")

    def reset_pin(self) -> None:
        person = self.pick_person("De quem redefinir o PIN?")
        if person is None:
            return
        pin = ask_new_pin(self.console, f"Novo PIN de {person['name']} (4 a 8 dígitos): ")
        user = self.api.reset_pin(person["id"], pin)
        if self.is_me(user):
            # The server now refuses this session's token: sign in again rather than fail on the next action
            self.say("Seu PIN foi redefinido. Entre novamente com o novo PIN.")
            self.owner.sign_out()
        self.say(f"PIN de {user['name']} redefinido. Informe o novo PIN à pessoa.")

    def assign_stores(self) -> None:
        seller = self.pick_person("Qual vendedor?", lambda u: u["role"] == SELLER, "Nenhum vendedor cadastrado.")
        if seller is None:
            return
        names = self.store_names()
        self.say(f"Hoje {seller['name']} pode vender em: {views.store_list(seller.get('store_ids') or [], names)}.")
        how = self.console.choose("Onde pode vender?", ["Em qualquer loja", "Só nas lojas que eu escolher"])
        if how is None:
            return
        store_ids: list[str] = []
        if how == 1:
            stores = self.fresh_stores()
            if not stores:
                self.say("Nenhuma loja cadastrada.")
                return
            for number, store in enumerate(stores, start=1):
                self.say(f"  {number}) {store_label(store)}")
            chosen = self.console.ask("Números das lojas, separados por vírgula (exemplo: 1, 3): ", lambda a: parse_numbers(a, len(stores)),
                                      f"Digite números de 1 a {len(stores)}, separados por vírgula.")
            store_ids = [stores[i]["id"] for i in chosen]
        user = self.api.assign_stores(seller["id"], store_ids)
        self.say(f"Lojas de {user['name']}: {views.store_list(user.get('store_ids', store_ids) or [], self.store_names())}.")

    # -- voids ---------------------------------------------------------------------------------
    def find_and_void(self) -> None:
        """The usual way: the seller, the day the sale is dated, then the sale from that day's list (sales.list)."""
        seller = self.owner.pick_seller("De quem é a venda?")
        if seller is None:
            return
        day = self.console.ask_optional(DAY_QUESTION, parse_day, DAY_ERROR) or self.owner.today()
        result = self.api.seller_sales(seller["id"], day, day, limit=MAX_LISTED_SALES)
        sales = result["sales"]
        if not sales:
            self.say(f"Nenhuma venda de {seller['name']} em {views.date(day)}.")
            return
        self.say(views.total_line(f"Vendas de {seller['name']}", result, day, day))
        if len(sales) < result["count"]:
            self.say(f"(mostrando as {len(sales)} registradas por último)")
        names = self.store_names()
        header, labels = views.sale_choices(sales, names, self.owner.timezone)
        index = self.console.choose(f"Qual venda cancelar?\n{header}", labels)
        if index is None:
            return
        sale = sales[index]
        reason = self.console.ask(REASON_QUESTION, parse_reason, REASON_ERROR)
        where = names.get(sale["store_id"], "loja desconhecida")
        what = f"{views.wire_money(sale['amount'])} em {where} ({seller['name']}, {views.date(sale['sold_on'])})"
        if not self.console.confirm(f"Cancelar a venda de {what}? Ela sai de todos os totais e relatórios."):
            self.say("Nada foi cancelado.")
            return
        self.say(self.void_outcome(self.api.void_sale(sale["sale_id"], reason)))

    def void_sale(self) -> None:
        """The other way: the sale's code, as the seller sees it in "Minhas vendas" and scripts print it."""
        code = self.console.ask_optional("Código da venda (cole ou digite; Enter para voltar): ", parse_sale_code,
                                         "Código inválido: são 32 letras e números, como 0190b1c4-5a47-7e43-9b8a-1f2d3c4b5a69.")
        if code is None:
            return
        reason = self.console.ask(REASON_QUESTION, parse_reason, REASON_ERROR)
        if not self.console.confirm(f"Cancelar a venda {code}? Ela sai de todos os totais e relatórios."):
            self.say("Nada foi cancelado.")
            return
        result = self.api.void_sale(code, reason)
        self.say(self.void_outcome(result))

    def void_outcome(self, result: dict) -> str:
        void, sale = result["void"], result["void"]["sale"]
        if result.get("duplicate"):
            return (f"Esta venda já estava cancelada ({views.moment(void['voided_at'], self.owner.timezone)}, "
                    f"por {views.voided_by_name(void)}; motivo: {void['reason']}).")
        if "amount" not in sale:  # the void is kept, but this node has not got the sale itself yet
            return f"Venda cancelada: {sale['sale_id']}."
        where = self.store_names().get(sale["store_id"], "loja desconhecida")
        return f"Venda cancelada: {views.wire_money(sale['amount'])} em {where}, venda de {views.date(sale['sold_on'])}."

    def voids_report(self) -> None:
        start, end = self.owner.ask_period()
        voids = self.api.voids(start, end, limit=VOIDS_REPORT_LIMIT)
        sellers = {u["id"]: u["name"] for u in self.api.users()}
        self.say(f"Vendas canceladas {views.period(start, end)}:")
        self.say(views.voids_table(voids, sellers, self.store_names(), self.owner.timezone))
        if len(voids) >= VOIDS_REPORT_LIMIT:
            self.say(f"(mostrando os {VOIDS_REPORT_LIMIT} cancelamentos mais recentes: escolha um período menor para ver os outros)")

