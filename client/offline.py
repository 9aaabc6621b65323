"""What lets a till work with every node down: the sign-in verifiers of the sellers who signed in here with a server
up, and the store list as a server last sent it.

Rules:
- A verifier is a salted scrypt hash of a seller's PIN (models/pins.py: the server's own hashing, one rule), kept with
  the person as the server last described them and when they last signed in with a server up. It is written at each
  such sign-in and PIN change (TillApi), and removed as soon as a server says the account cannot sign in with it any
  more: inactive, unknown or without a PIN at sign-in, a token refused for `credentials_changed` or
  `account_deactivated`, or the very PIN it holds answered `bad_credentials` (the PIN was changed meanwhile).
- With no server, a seller signs in against it for OFFLINE_SIGNIN_HOURS after their last sign-in with one (0: never).
  Only sellers: a manager's work needs the server. OFFLINE_MAX_FAILURES wrong PINs in a row with no server remove the
  verifier, so the till is no place to guess PINs at leisure; the next sign-in with a server writes it again.
- The store list is replaced each time a server sends it (any command, any role), so a store named by id, CNPJ or
  name is found with no server.
- Verifiers past their hours are deleted when the file is opened: no name or hash stays longer than it can serve.
- Both live in one small SQLite file beside the queue (queue.db -> queue.offline.db), created readable only by its
  owner: it holds PIN hashes. Nothing here talks to a server; TillApi does, through Api.
"""

import datetime as dt
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from client import views
from client.api import Api
from client.connection import RemoteError, ServerUnreachable
from models.money import format_brl
from models.people import SELLER
from models.pins import hash_pin, verify_pin
from runtime import settings
from runtime.clock import SystemClock

OFFLINE_MAX_FAILURES = 5  # wrong PINs in a row with no server before the till forgets that seller's verifier
PROBE_TIMEOUT_S = 0.5  # a session begun with no server asks this long, before each menu, whether one answers again
FORGET_DETAILS = ("credentials_changed", "account_deactivated")  # data.detail of a 1001 that ends a verifier
FORGET_REASONS = ("inactive", "unknown_user")  # auth.login answers that end a verifier whatever the PIN


class OfflineRefused(Exception):
    """No sign-in with no server; str() is one Portuguese sentence saying why."""


PENDING_NOTICES = {
    "leaving": "Atenção: {sales} neste caixa ainda não {were} {sent}: {kept} aqui e {go} quando o onsell for aberto de novo "
               "com o servidor no ar (as registradas sem servidor, quando quem vendeu entrar de novo).",
    "signed_out": "Atenção: {sales} deste CPF ainda não {were} {sent}: {kept} neste caixa e {go} assim que o servidor {them} aceitar "
                  "(as registradas sem servidor, quando você entrar de novo com ele no ar).",
    "refused": "{Sales} deste CPF {kept} neste caixa: entre com o PIN atual para {send_them}.",
    "signed_in": "Ainda há {sales} deste CPF: {go} assim que o servidor {them} aceitar (veja em Vendas pendentes).",
    "listing": "Fora deste total: {sales} neste caixa, ainda não {sent} ({amount}): {go} assim que o servidor {them} aceitar "
               "(veja em Vendas pendentes).",
    "unlisted": "Neste caixa há {sales} deste período, ainda não {sent} ({amount}): veja em Vendas pendentes.",
}


def pending_notice(count: int, when: str, amount_cents: int = 0) -> str:
    """What is said about sales still queued: on leaving the client, signing out, a refused sign-in, after sign-in, below
    a list of the seller's sales that leaves them out, or instead of the list when no server answers (their sum:
    amount_cents)."""
    one = count == 1
    return PENDING_NOTICES[when].format(sales=views.pending_sales(count), Sales=views.pending_sales(count).capitalize(),
                                        amount=format_brl(amount_cents),
                                        send_them="enviá-la" if one else "enviá-las", them="a" if one else "as",
                                        were="foi" if one else "foram",
                                        sent="enviada" if one else "enviadas", kept="fica guardada" if one else "ficam guardadas",
                                        go="vai" if one else "vão")


def queued_notice(queue, seller_cpf: str, start: dt.date | None, end: dt.date | None, when: str) -> str:
    """The line on a seller's sales of [start, end] still waiting on this till (pending_notice's `listing` below a list
    that leaves them out, `unlisted` when there is no list); "" when none waits."""
    waiting = queue.waiting(seller_cpf, start, end) if queue is not None else []
    return pending_notice(len(waiting), when, sum(sale.amount_cents for sale in waiting)) if waiting else ""


def offline_path(queue_path: Path) -> Path:
    """The verifiers' file, beside the queue: queue.db -> queue.offline.db."""
    queue_path = Path(queue_path)
    return queue_path.with_name(f"{queue_path.stem}.offline{queue_path.suffix or '.db'}")


def signin_window_hours(env: dict | None = None) -> int:
    """OFFLINE_SIGNIN_HOURS (0: never); settings.SettingError when it is not a whole number."""
    return settings.whole_number(settings.environment(env), "OFFLINE_SIGNIN_HOURS", minimum=0)


class Till:
    """The verifiers and the cached store list of this till (one SQLite file, readable only by its owner)."""

    def __init__(self, path: Path, window_hours: int, clock=None):
        self.path = Path(path)
        self.window_hours = window_hours
        self.clock = clock or SystemClock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)  # also a file made before, or copied in with wider rights
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("""CREATE TABLE IF NOT EXISTS verifiers (cpf TEXT PRIMARY KEY, pin_hash TEXT NOT NULL,
            person TEXT NOT NULL, signed_in_at REAL NOT NULL, failures INTEGER NOT NULL DEFAULT 0)""")
        self._conn.execute("CREATE TABLE IF NOT EXISTS stores (id INTEGER PRIMARY KEY CHECK (id = 1), stores TEXT NOT NULL)")
        # verifiers past their hours are of no use: their names and hashes do not stay on the till
        self._conn.execute("DELETE FROM verifiers WHERE signed_in_at < ?", (self.clock.wall_s() - window_hours * 3600,))
        self._lock = threading.Lock()

    # -- verifiers ------------------------------------------------------------------------------
    def remember(self, user: dict, pin: str) -> None:
        """A sign-in (or PIN change) a server accepted: this seller may sign in here with no server for the next hours."""
        if user.get("role") != SELLER or self.window_hours == 0:
            self.forget(user["cpf"])
            return
        pin_hash = hash_pin(pin)
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO verifiers (cpf, pin_hash, person, signed_in_at, failures) "
                               "VALUES (?, ?, ?, ?, 0)", (user["cpf"], pin_hash, json.dumps(user), self.clock.wall_s()))

    def update_person(self, user: dict) -> None:
        """The person as a server describes them now (their stores may have changed); the PIN and time stay."""
        with self._lock:
            self._conn.execute("UPDATE verifiers SET person = ? WHERE cpf = ?", (json.dumps(user), user["cpf"]))

    def forget(self, cpf: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM verifiers WHERE cpf = ?", (cpf,))

    def has_verifier(self, cpf: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM verifiers WHERE cpf = ?", (cpf,)).fetchone() is not None

    def server_refused(self, cpf: str, pin: str, error: RemoteError) -> bool:
        """A server refused this sign-in: forget the verifier when the answer means it can no longer be right (True then)."""
        if error.reason in FORGET_REASONS or error.data.get("pin_not_set"):
            self.forget(cpf)
            return True
        if error.reason == "bad_credentials":
            with self._lock:
                row = self._conn.execute("SELECT pin_hash FROM verifiers WHERE cpf = ?", (cpf,)).fetchone()
            if row and verify_pin(pin, row[0]):  # the PIN this till knows is no longer the account's: changed meanwhile
                self.forget(cpf)
                return True
        return False

    def check(self, cpf: str, pin: str) -> dict:
        """The person, when they may sign in here with no server and the PIN is theirs; else OfflineRefused."""
        hours = "na última hora" if self.window_hours == 1 else f"nas últimas {self.window_hours} horas"
        with self._lock:
            row = self._conn.execute("SELECT pin_hash, person, signed_in_at, failures FROM verifiers WHERE cpf = ?",
                                     (cpf,)).fetchone()
        if row is None or self.window_hours == 0:
            if self.window_hours == 0:
                raise OfflineRefused("neste caixa ninguém entra sem servidor (OFFLINE_SIGNIN_HOURS=0).")
            raise OfflineRefused(f"sem servidor, só entra quem já entrou neste caixa com o servidor no ar {hours}.")
        pin_hash, person, signed_in_at, failures = row
        if self.clock.wall_s() - signed_in_at > self.window_hours * 3600:
            raise OfflineRefused(f"sem servidor, só entra quem já entrou neste caixa com o servidor no ar {hours} "
                                 "(a sua última entrada foi antes).")
        if not verify_pin(pin, pin_hash):
            with self._lock:
                if failures + 1 >= OFFLINE_MAX_FAILURES:
                    self._conn.execute("DELETE FROM verifiers WHERE cpf = ?", (cpf,))
                else:
                    self._conn.execute("UPDATE verifiers SET failures = failures + 1 WHERE cpf = ?", (cpf,))
            if failures + 1 >= OFFLINE_MAX_FAILURES:
                raise OfflineRefused("PIN incorreto. Muitas tentativas: sem servidor, este CPF não entra mais neste caixa "
                                     "até entrar com o servidor no ar.")
            raise OfflineRefused("PIN incorreto.")
        if failures:
            with self._lock:
                self._conn.execute("UPDATE verifiers SET failures = 0 WHERE cpf = ?", (cpf,))
        return json.loads(person)

    # -- the store list ---------------------------------------------------------------------------
    def remember_stores(self, stores: list[dict]) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO stores (id, stores) VALUES (1, ?)", (json.dumps(stores),))

    def stores(self) -> list[dict] | None:
        """The store list as a server last sent it; None when none ever did."""
        with self._lock:
            row = self._conn.execute("SELECT stores FROM stores WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@contextmanager
def failover_within(api, seconds: float):
    """Calls made inside look for a coordinator at most `seconds` (a quick look; with a stand-in api, nothing changes)."""
    connection = getattr(api, "connection", None)
    saved = getattr(connection, "failover_timeout_s", None)
    if not isinstance(saved, (int, float)):
        yield
        return
    connection.failover_timeout_s = min(saved, seconds)
    try:
        yield
    finally:
        connection.failover_timeout_s = saved


class TillApi(Api):
    """The Api that keeps the till's verifiers and store list current from what servers answer, and signs a seller
    in with no server (a session whose token is None until a server answers the same CPF and PIN again)."""

    def __init__(self, connection, till: Till | None):
        super().__init__(connection)
        self.till = till
        self.offline_pin: str | None = None  # the PIN of a session begun with no server, to sign in once one answers
        self.stores_fresh = False  # a server sent the store list during this run
        self.attempt: tuple[str, str] | None = None  # the last CPF and PIN tried, for a sign-in with no server after it

    @property
    def offline(self) -> bool:
        return self.offline_pin is not None

    def login(self, cpf: str, pin: str) -> dict:
        self.attempt = (cpf, pin)
        try:
            user = super().login(cpf, pin)
        except RemoteError as error:
            if self.till is not None:
                self.till.server_refused(cpf, pin, error)
            raise
        self.offline_pin = None
        if self.till is not None:
            self.till.remember(user, pin)
        return user

    def login_offline(self, cpf: str, pin: str) -> dict:
        """Sign in with no server, against this till's verifier; OfflineRefused says why not."""
        if self.till is None:
            raise OfflineRefused("este caixa não guarda entradas para usar sem servidor.")
        self.user, self.token, self.offline_pin = self.till.check(cpf, pin), None, pin
        return self.user

    def back_online(self) -> dict | None:
        """In a session begun with no server: the person, once a server takes the same CPF and PIN (a quick look; None
        while none answers). A refusal (the PIN changed meanwhile, the account deactivated) is a RemoteError."""
        if not self.offline:
            return None
        try:
            with failover_within(self, PROBE_TIMEOUT_S):
                return self.login(self.user["cpf"], self.offline_pin)
        except ServerUnreachable:
            return None

    def logout(self) -> None:
        super().logout()
        self.offline_pin = None

    def stores(self) -> list[dict]:
        stores = super().stores()
        self.stores_fresh = True
        if self.till is not None:
            self.till.remember_stores(stores)
        return stores

    def cached_stores(self) -> list[dict] | None:
        return self.till.stores() if self.till is not None else None

    def remember_stores_once(self) -> None:
        """At the end of a run that reached a server: the store list for a later run with none (a quick call, errors ignored)."""
        if self.stores_fresh or self.till is None or getattr(self.connection, "node_id", None) is None:
            return
        try:
            with failover_within(self, PROBE_TIMEOUT_S):
                self.stores()
        except (RemoteError, ServerUnreachable):
            pass

    def me(self) -> dict:
        user = super().me()
        if self.till is not None:
            self.till.update_person(user)
        return user

    def change_pin(self, old_pin: str, new_pin: str) -> str:
        token = super().change_pin(old_pin, new_pin)
        if self.till is not None and self.user is not None:
            self.till.remember(self.user, new_pin)
        return token

    def _authed(self, method: str, **params):
        try:
            return super()._authed(method, **params)
        except RemoteError as error:
            if (error.reason == "unauthenticated" and error.data.get("detail") in FORGET_DETAILS and self.till is not None
                    and self.user is not None):
                self.till.forget(self.user["cpf"])
            raise
