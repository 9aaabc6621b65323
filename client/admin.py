"""The manager's administration menus: networks, stores, people, voids (docs/protocol.md, "Administration", "Voids").

Interactive (client/controllers.py) owns the session; Administration borrows its api, console, guard, period
question, seller and store lists, so every action here gets the same one-line error handling and menu return.
People and stores are chosen with client/pickers.py (a search first when there are many); typed answers that can
go back to the menu with Enter come from client/prompts.py, whose names are also importable from here.
"""

from client import views
from client.console import Back, Console
from client.pickers import NETWORK, PERSON, STORE, pick, pick_many, store_label
from client.prompts import (  # noqa: F401  (parse_day, parse_numbers, parse_sale_code, MAX_LISTED_SALES: re-exported)
    BACK,
    DAY_ERROR,
    DAY_QUESTION,
    MAX_LISTED_SALES,
    NAME_ERROR,
    NOTHING_CANCELLED,
    REASON_ERROR,
    REASON_QUESTION,
    VOIDS_REPORT_LIMIT,
    ask_new_document,
    ask_new_pin,
    ask_reason,
    parse_day,
    parse_numbers,
    parse_reason,
    parse_sale_code,
)
from models.documents import parse_cnpj
from models.people import SELLER, parse_name

NOTHING_CHANGED = "Nada foi alterado."


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
            try:
                choice = self.console.choose(title, [label for label, _ in actions])
            except Back:  # Ctrl+C at this menu: up one level, as 0
                return
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
        return pick(self.console, title, networks, NETWORK)

    def fresh_stores(self) -> list[dict]:
        self.owner.forget_stores()  # a manager changing stores must see the current list, and sellers' pickers too
        return self.owner.stores()

    def pick_store(self, title: str = "Loja:", keep=lambda store: True, none: str = "Nenhuma loja cadastrada.") -> dict | None:
        stores = [s for s in self.fresh_stores() if keep(s)]
        if not stores:
            self.say(none)
            return None
        return pick(self.console, title, stores, STORE)

    def pick_person(self, title: str, keep=lambda user: True, none: str = "Ninguém nesta situação.") -> dict | None:
        people = [u for u in self.api.users() if keep(u)]
        if not people:
            self.say(none)
            return None
        return pick(self.console, title, people, PERSON)

    def is_me(self, user: dict) -> bool:
        return bool(self.api.user) and user["id"] == self.api.user.get("id")

    # -- networks ------------------------------------------------------------------------------
    def list_networks(self) -> None:
        networks = self.api.networks()
        if not networks:
            self.say("Nenhuma rede cadastrada.")
            return
        self.console.show_long(views.table(["Rede"], [[n["name"]] for n in networks]))

    def create_network(self) -> None:
        name = self.console.ask_optional(f"Nome da nova rede ({BACK}): ", parse_name, NAME_ERROR)
        if name is None:
            return
        network = self.api.create_network(name)
        self.say(f"Rede criada: {network['name']}.")

    def rename_network(self) -> None:
        network = self.pick_network("Qual rede renomear?")
        if network is None:
            return
        name = self.console.ask_optional(f"Novo nome para {network['name']} ({BACK}): ", parse_name, NAME_ERROR)
        if name is None:
            return
        renamed = self.api.rename_network(network["id"], name)
        self.owner.forget_stores()  # store lines show the network's name
        self.say(f"Rede renomeada: {network['name']} agora é {renamed['name']}.")

    # -- stores --------------------------------------------------------------------------------
    def list_stores(self) -> None:
        self.console.show_long(views.stores_table(self.fresh_stores()))

    def create_store(self) -> None:
        """The CNPJ first: one already taken is told at once, before the rest is typed."""
        stores = self.fresh_stores()
        cnpj = ask_new_document(self.console, f"CNPJ da nova loja ({BACK}): ", parse_cnpj, views.document_error("CNPJ"),
                                lambda cnpj: next((s for s in stores if s["cnpj"] == cnpj), None),
                                lambda taken: f"Já existe uma loja com este CNPJ: {store_label(taken)}. Digite outro CNPJ.")
        if cnpj is None:
            return
        name = self.console.ask_optional(f"Nome da nova loja ({BACK}): ", parse_name, NAME_ERROR)
        if name is None:
            return
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
            self.say(NOTHING_CHANGED)
            return
        changed = self.api.update_store(store["id"], name=name, network_id=network_id)
        self.owner.forget_stores()
        self.say(f"Loja alterada: {changed['name']} ({changed['network']['name']}).")

    def close_store(self) -> None:
        store = self.pick_store("Qual loja fechar?", lambda s: s.get("open", True), "Nenhuma loja aberta.")
        if store is None:
            return
        if not self.console.confirm(f"Fechar {store['name']}? Ela deixa de aceitar vendas; as vendas antigas continuam nos relatórios."):
            self.say(NOTHING_CHANGED)
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
        self.console.show_long(views.users_table(self.api.users(), self.store_names()))

    def deactivate(self) -> None:
        # Oneself is left out: it would end this session; another manager can do it.
        person = self.pick_person("Quem desativar?", lambda u: u.get("active", True) and not self.is_me(u),
                                  "Ninguém ativo além de você.")
        if person is None:
            return
        if not self.console.confirm(f"Desativar {person['name']}? A pessoa não poderá entrar; as vendas dela continuam nos relatórios."):
            self.say(NOTHING_CHANGED)
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
        if not self.console.confirm(f"Redefinir o PIN de {person_text(person)}?"):
            self.say(NOTHING_CHANGED)
            return
        pin = ask_new_pin(self.console, f"Novo PIN de {person['name']} (4 a 8 dígitos; {BACK}): ", allow_back=True)
        if pin is None:
            self.say(NOTHING_CHANGED)
            return
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
            chosen = pick_many(self.console, stores, STORE)
            if not chosen:
                self.say(NOTHING_CHANGED)
                return
            store_ids = [store["id"] for store in chosen]
        user = self.api.assign_stores(seller["id"], store_ids)
        self.say(f"Lojas de {user['name']}: {views.store_list(user.get('store_ids', store_ids) or [], self.store_names())}.")

    # -- voids ---------------------------------------------------------------------------------
    def find_and_void(self) -> None:
        """The usual way: the seller, the day the sale is dated, then the sale from that day's list (sales.list)."""
        seller = self.owner.pick_seller("De quem é a venda?")
        if seller is None:
            return
        day = self.console.ask_optional(DAY_QUESTION, parse_day, views.date_error(DAY_ERROR)) or self.owner.today()
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
        reason = ask_reason(self.console)
        if reason is None:
            self.say(NOTHING_CANCELLED)
            return
        where = names.get(sale["store_id"], "loja desconhecida")
        what = f"{views.wire_money(sale['amount'])} em {where} ({seller['name']}, {views.date(sale['sold_on'])})"
        if not self.console.confirm(f"Cancelar a venda de {what}? Ela sai de todos os totais e relatórios."):
            self.say(NOTHING_CANCELLED)
            return
        self.say(self.void_outcome(self.api.void_sale(sale["sale_id"], reason), seller["name"]))

    def void_sale(self) -> None:
        """The other way: the sale's code, as the seller sees it in "Minhas vendas" and scripts print it; the sale is
        shown (sales.get) before the reason is asked."""
        code = self.console.ask_optional(f"Código da venda (cole ou digite; {BACK}): ", parse_sale_code,
                                         "Código inválido: são 32 dígitos hexadecimais (0 a 9 e a a f), "
                                         "como 0190b1c4-5a47-7e43-9b8a-1f2d3c4b5a69.")
        if code is None:
            return
        found = self.api.get_sale(code)
        if found["voided"]:
            self.say(self.void_outcome({"void": found["void"], "duplicate": True}))
            return
        sale = found["sale"]
        seller = next((u["name"] for u in self.api.users() if u["id"] == sale["seller_id"]), "vendedor desconhecido")
        what = (f"{views.wire_money(sale['amount'])} em {self.store_names().get(sale['store_id'], 'loja desconhecida')}, "
                f"venda de {views.date(sale['sold_on'])}, de {seller}")
        self.say(f"Venda: {what}.")
        reason = ask_reason(self.console)
        if reason is None:
            self.say(NOTHING_CANCELLED)
            return
        if not self.console.confirm(f"Cancelar a venda de {what}? Ela sai de todos os totais e relatórios."):
            self.say(NOTHING_CANCELLED)
            return
        result = self.api.void_sale(code, reason)
        seller_id = result["void"]["sale"].get("seller_id")
        seller = next((u["name"] for u in self.api.users() if u["id"] == seller_id), None) if seller_id else None
        self.say(self.void_outcome(result, seller))

    def void_outcome(self, result: dict, seller: str | None = None) -> str:
        void, sale = result["void"], result["void"]["sale"]
        if result.get("duplicate"):
            return (f"Esta venda já estava cancelada ({views.moment(void['voided_at'], self.owner.timezone)}, "
                    f"por {views.voided_by_name(void)}; motivo: {void['reason']}).")
        if "amount" not in sale:  # the void is kept, but this node has not got the sale itself yet
            return f"Venda cancelada: {sale['sale_id']}."
        where = self.store_names().get(sale["store_id"], "loja desconhecida")
        whose = f", de {seller}" if seller else ""
        return f"Venda cancelada: {views.wire_money(sale['amount'])} em {where}, venda de {views.date(sale['sold_on'])}{whose}."

    def voids_report(self) -> None:
        self.say("O período é o das datas de cancelamento (não o das datas das vendas).")
        start, end = self.owner.ask_period()
        voids = self.api.voids(start, end, limit=VOIDS_REPORT_LIMIT)
        sellers = {u["id"]: u["name"] for u in self.api.users()}
        by_void_date = " (pela data do cancelamento)" if start or end else ""
        self.say(f"Vendas canceladas {views.period(start, end)}{by_void_date}:")
        self.say(views.voids_table(voids, sellers, self.store_names(), self.owner.timezone))
        if len(voids) >= VOIDS_REPORT_LIMIT:
            self.say(f"(mostrando os {VOIDS_REPORT_LIMIT} cancelamentos mais recentes: escolha um período menor para ver os outros)")


def person_text(user: dict) -> str:
    """Ana Milena da Silva (CPF 456.789.012-49, vendedor)"""
    return f"{user['name']} (CPF {views.cpf(user['cpf'])}, {views.ROLE_NAMES.get(user['role'], user['role'])})"
