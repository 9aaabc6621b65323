"""Prompts: Ctrl+C goes back one level (at the top it asks before leaving), Ctrl+D leaves; long tables page on a terminal."""

import io
import os
import select
import threading
import time

import pytest
from support import DEMO_PIN, DEMO_SELLER_CPF, wait_until
from test_client_admin import NOW, SAO_PAULO, StandInApi

from client.console import Console
from client.controllers import Interactive, SignedOut
from runtime.clock import FakeClock

CTRL_C = object()  # a line that is Ctrl+C pressed at the prompt


class Keyboard(io.StringIO):
    """stdin typing the given lines; CTRL_C raises KeyboardInterrupt as the terminal does; then end of input (Ctrl+D)."""

    def __init__(self, lines):
        super().__init__()
        self.lines = list(lines)

    def readline(self, *args):
        if not self.lines:
            return ""
        line = self.lines.pop(0)
        if line is CTRL_C:
            raise KeyboardInterrupt
        return line + "\n"


def session(api, lines) -> Interactive:
    return Interactive(api, Console(stdin=Keyboard(lines), stdout=io.StringIO()), SAO_PAULO, clock=FakeClock(start=NOW))


def manager_api() -> StandInApi:
    api = StandInApi()
    api.user = {**api.user, "role": "manager"}
    return api


def test_ctrl_c_inside_an_action_and_in_a_submenu_goes_back_one_level_then_asks_before_signing_out():
    """In "Vendas ao longo do tempo" Ctrl+C returns to the menu; in Administração it goes up; at the top menu it asks."""
    screen = session(manager_api(), [
        "4", CTRL_C,         # sales over time: Ctrl+C at "Agrupar por" -> back to the manager's menu
        "11", "1", CTRL_C,   # Administração > Redes: Ctrl+C at the Redes menu -> up to Administração
        CTRL_C,              # Ctrl+C at Administração -> up to the manager's menu
        CTRL_C, "n",         # Ctrl+C at the top menu: "sair da sessão?" no
        CTRL_C, "s",         # and yes
    ])
    with pytest.raises(SignedOut):
        screen.manager_menu()
    out = screen.console.stdout.getvalue()
    assert out.count("(voltando ao menu)") == 1
    assert out.count("\nAdministração:\n") == 2 and out.count("\nRedes:\n") == 1
    assert out.count("Deseja sair da sessão?") == 2
    assert out.count("O que deseja fazer?") == 4


def test_ctrl_c_at_the_cpf_asks_before_closing_and_ctrl_d_closes():
    """At CPF: Ctrl+C then "n" stays; Ctrl+C then "s" closes with Até logo; a second session: Ctrl+D closes at once."""
    staying = session(StandInApi(), [CTRL_C, "n", CTRL_C, "s"])
    assert staying.run() == 0
    out = staying.console.stdout.getvalue()
    assert out.count("Deseja fechar o onsell?") == 2 and out.rstrip().endswith("Até logo!") and out.count("CPF: ") == 2
    closing = session(StandInApi(), [])
    assert closing.run() == 0 and closing.console.stdout.getvalue().rstrip().endswith("Até logo!")


def test_ctrl_c_at_the_pin_goes_back_to_the_cpf():
    """Ctrl+C at PIN: the CPF is asked again, nobody is signed in."""
    screen = session(StandInApi(), ["123.456.789-09", CTRL_C])
    assert screen.sign_in() is None
    assert "CPF: PIN" in screen.console.stdout.getvalue()


class Terminal(io.StringIO):
    def isatty(self):
        return True


class TypingTerminal(Keyboard):
    def isatty(self):
        return True


def test_a_long_table_is_shown_a_screen_at_a_time_on_a_terminal_and_whole_elsewhere(monkeypatch):
    """12 lines of terminal: 7 rows a page under the repeated header; "v" stops; not a terminal: everything at once."""
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=None: __import__("os").terminal_size((80, 12)))
    table = "\n".join(["Data  Valor", "----  -----"] + [f"row{n:02d}" for n in range(20)])
    console = Console(stdin=TypingTerminal(["", "v"]), stdout=Terminal())
    console.show_long(table)
    out = console.stdout.getvalue()
    assert out.count("Data  Valor") == 2 and "row13" in out and "row14" not in out
    assert "-- 7 de 20 linhas" in out and "-- 14 de 20 linhas" in out
    plain = Console(stdin=Keyboard([]), stdout=io.StringIO())
    plain.show_long(table)
    assert plain.stdout.getvalue() == table + "\n"


def test_mistakes_are_explained_a_day_that_does_not_exist_and_a_birth_year_out_of_range():
    """31/02/2026 is said not to exist (not "use dd/mm/aaaa"); 2025 as a birth year says the allowed years and why."""
    screen = session(StandInApi(), ["31/02/2026", "2026-02-28", "", "Ana Nova", "2025", "1990", ""])
    assert screen.ask_period() == (__import__("datetime").date(2026, 2, 28), None)
    assert screen.ask_person() is None  # Enter at the PIN goes back
    out = screen.console.stdout.getvalue()
    assert "esse dia não existe no calendário" in out
    assert f"de 1900 a {NOW.year - 14} (é preciso ter ao menos 14 anos)" in out


class UnknownCpfApi(StandInApi):
    def login(self, cpf, pin):
        from client.connection import RemoteError
        from wire.jsonrpc import RpcError
        raise RemoteError(RpcError(1004, "No account", {"reason": "unknown_user"}))


def test_ctrl_c_while_registering_goes_back_to_the_cpf_and_does_not_close_the_client():
    """An unknown CPF offers registration; Ctrl+C at the name (or at the question) goes back to CPF, not out."""
    screen = session(UnknownCpfApi(), ["390.533.447-05", "2468", "s", CTRL_C, "390.533.447-05", "2468", CTRL_C])
    assert screen.run() == 0  # the input ends at the CPF prompt: Ctrl+D there leaves
    out = screen.console.stdout.getvalue()
    assert out.count("(voltando ao início)") == 2 and out.count("CPF: ") == 3 and out.rstrip().endswith("Até logo!")


def test_sair_at_a_menu_is_that_menus_own_way_out_and_at_a_question_goes_back_to_the_menu():
    """At the top menu "sair" is Sair (no question asked); at a submenu it is 0) Voltar; at a question inside an action
    (a choice, the ranking's size, the amount of a sale) it goes back to the menu as Ctrl+C, and nothing is sent."""
    manager = session(manager_api(), [
        "4", "sair",          # sales over time: "sair" at "Agrupar por" -> back to the manager's menu
        "2", "", "", "SAIR",  # best store: "sair" at "Quantas posições?" -> back, no report asked for
        "11", "1", "sair",    # Administração > Redes: "sair" at the Redes menu -> up to Administração
        "sair",               # "sair" at Administração -> up to the manager's menu
        "sair",               # "sair" at the top menu: signed out at once, as its Sair entry
    ])
    with pytest.raises(SignedOut):
        manager.manager_menu()
    out = manager.console.stdout.getvalue()
    assert out.count("(voltando ao menu)") == 2 and "Melhores lojas" not in out
    assert out.count("\nAdministração:\n") == 2 and out.count("\nRedes:\n") == 1
    assert out.count("O que deseja fazer?") == 4 and "Deseja sair da sessão?" not in out
    seller = session(StandInApi(), ["1", "1", "sair", "sair"])  # a sale: "sair" at the amount, then at the menu
    with pytest.raises(SignedOut):
        seller.seller_menu()
    out = seller.console.stdout.getvalue()
    assert "Valor da venda" in out and out.count("(voltando ao menu)") == 1 and seller.api.calls == []


class SigningInApi(StandInApi):
    def login(self, cpf, pin):
        return self.user

    def logout(self):
        self.calls.append(("logout",))


def test_sair_at_the_menu_signs_out_and_sair_at_the_cpf_closes():
    """The whole client: "sair" at the menu ends the session as 7) Sair does; "sair" at CPF closes; at the question
    that Ctrl+C asks, "sair" means yes."""
    screen = session(SigningInApi(), [DEMO_SELLER_CPF, DEMO_PIN, "sair", CTRL_C, "sair"])
    assert screen.run() == 0
    out = screen.console.stdout.getvalue()
    assert out.count("Sessão encerrada.") == 1 and screen.api.calls == [("logout",)]
    assert "Deseja sair da sessão?" not in out and out.count("Deseja fechar o onsell?") == 1
    assert out.rstrip().endswith("Até logo!")
    typed = session(SigningInApi(), ["Sair"])
    assert typed.run() == 0 and "Deseja fechar" not in typed.console.stdout.getvalue()


def test_sair_at_the_pager_stops_it(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=None: __import__("os").terminal_size((80, 12)))
    console = Console(stdin=TypingTerminal(["sair"]), stdout=Terminal())
    console.show_long("\n".join(["Data  Valor", "----  -----"] + [f"row{n:02d}" for n in range(20)]))
    out = console.stdout.getvalue()
    assert "row06" in out and "row07" not in out and out.count("linhas: Enter para ver mais") == 1


def test_queued_sales_sent_while_the_menu_waits_are_said_on_lines_of_their_own_and_the_prompt_comes_again():
    """The sender thread's notice lands while "Opção: " waits for an answer: it goes below that line, and the prompt is
    shown again under it, so that what is typed next is seen after a prompt."""
    screen = session(StandInApi(), [])

    class SentWhileWaiting(io.StringIO):
        def readline(self, *args):
            sender = threading.Thread(target=screen.say_sent, args=(2,))
            sender.start()
            sender.join()
            return "7\n"  # Sair

    screen.console.stdin = SentWhileWaiting()
    with pytest.raises(SignedOut):
        screen.seller_menu()
    out = screen.console.stdout.getvalue()
    assert out.endswith("  7) Sair (trocar de usuário)\nOpção: \n** 2 vendas pendentes enviadas.\nOpção: ")
    screen.say_sent(1)  # from the session itself, no prompt waiting (the typed 7 is not echoed here): no prompt again
    assert screen.console.stdout.getvalue().endswith("enviadas.\nOpção: \n** 1 venda pendente enviada.\n")


def test_on_a_terminal_what_was_typed_before_a_notice_is_dropped_with_the_line_it_was_on():
    """A seller types 7,7 at "Valor:" and a notice redraws the prompt, empty: the 7,7 (left on the line above) must not
    still count, prefixed to what is typed next (before: Enter alone gave R$ 7,70). A real terminal (a pty)."""
    master, slave = os.openpty()
    terminal = os.fdopen(slave, "r", buffering=1)
    console = Console(stdin=terminal, stdout=io.StringIO())
    answers: list[str] = []
    reader = threading.Thread(target=lambda: answers.append(console._read("Valor: ")), daemon=True)
    try:
        reader.start()
        wait_until(lambda: console._waiting is not None, 5, what="the prompt waiting")
        os.write(master, b"7,7")
        echoed = b""
        deadline = time.monotonic() + 5
        while b"7,7" not in echoed:  # the terminal echoes what its line holds: the typing has landed
            assert time.monotonic() < deadline, f"no echo of the typing: {echoed!r}"
            if select.select([master], [], [], 0.1)[0]:
                echoed += os.read(master, 100)
        console.notice("** 1 venda pendente enviada.")
        os.write(master, b"5\n")
        reader.join(5)
        assert answers == ["5"], answers
        assert console.stdout.getvalue().endswith("Valor: \n** 1 venda pendente enviada.\nValor: ")
    finally:
        os.close(master)
        terminal.close()

