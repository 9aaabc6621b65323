"""The interactive client's side of a till with every node down and of the seller's queue, mixed into
client.controllers.Interactive: signing a seller in against the till's verifier (client/offline.py), looking for a
server again before each menu of such a session, the menu entries that need a server, and what is said about pending
sales (sent, still waiting on leaving or signing out).

It expects of the class it is mixed into: console, api, queue, _stores and signed_in(user).
"""

from client import views
from client.connection import RemoteError
from client.console import SignedOut
from client.offline import OfflineRefused, TillApi, pending_notice


class OfflineSession:
    def sign_in_offline(self, cpf: str, pin: str) -> dict | None:
        """No server answered: a seller who signed in on this till lately may still sell, into the queue."""
        if not isinstance(self.api, TillApi):
            return None
        try:
            user = self.api.login_offline(cpf, pin)
        except OfflineRefused as refusal:
            self.console.say(f"Não foi possível entrar: {refusal}")
            return None
        self.console.say("Entrada conferida neste caixa, sem servidor: as vendas ficam guardadas aqui e são enviadas "
                         "quando o servidor voltar.")
        self._stores = self.api.cached_stores()
        return user

    def say_sent(self, count: int) -> None:
        """Queued sales were recorded (by this session or the sender thread, perhaps while a prompt waits): say how many,
        on a line of its own, with that prompt shown again below it."""
        if count:
            self.console.notice(f"** {views.pending_sent(count)}.")

    def warn_pending(self, cpf: str | None = None, when: str = "leaving") -> None:
        """How many sales still wait on this till (the seller's, with a CPF), and what sends them (offline.pending_notice)."""
        count = self.queue.count(cpf) if self.queue is not None else 0
        if count:
            self.console.say(pending_notice(count, when))

    def offline(self) -> bool:
        """A session begun with no server, not yet signed in with one."""
        return isinstance(self.api, TillApi) and self.api.offline

    def back_online(self, quiet: bool = False) -> bool:
        """Before each menu of a session begun with no server, and before an option that needs one: sign in for real
        once a server answers (the queued sales then go out). False when a server refuses the CPF and PIN now (changed
        meanwhile): the caller ends the session; the sales stay. quiet: say nothing when there is still no server."""
        if not self.offline():
            return True
        try:
            user = self.api.back_online()
        except KeyboardInterrupt:  # Ctrl+C during the quick look: still with no server
            user = None
        except RemoteError as error:
            self.console.say(f"O servidor voltou e recusou a sua entrada: {views.remote_error(error)} Entre de novo (com o PIN atual).")
            return False
        if user is None:
            if not quiet:
                self.console.say("(sem servidor: as vendas ficam guardadas neste caixa)")
            return True
        self.console.say("Servidor de volta: sua sessão agora está conectada.")
        self.signed_in(user)
        return True

    def needs_server(self, action, meanwhile=None):
        """A menu action that needs a server: in a session begun offline, it first looks for one again (it may have come
        back since the menu was drawn); with none it says so instead, then runs `meanwhile` if given (what the till
        itself can show: a seller's queued sales)."""
        def run() -> None:
            if not self.back_online(quiet=True):
                raise SignedOut()
            if self.offline():
                self.console.say("Sem servidor no momento: esta opção precisa dele. Registrar venda funciona "
                                 "(a venda fica guardada neste caixa).")
                if meanwhile is not None:
                    meanwhile()
                return
            action()
        return run

