"""Asking and telling: every question is asked again until the answer is valid.

Input ends (EOF, Ctrl+C) raise Quit, which the client turns into a clean exit; "sair" typed at any question raises
Leave. PINs are read with getpass on a terminal, and as plain lines from a pipe.
"""

import getpass
import shutil
import sys
import threading
from typing import Callable, TypeVar

from models.errors import ValidationError

try:
    import termios
except ImportError:  # not POSIX: a notice leaves what was typed as it is
    termios = None

T = TypeVar("T")
ErrorText = str | Callable[[ValidationError], str]  # a fixed line, or one made from what was wrong
LEAVE_WORDS = ("sair",)  # typed at any question: Leave


class Quit(Exception):
    """The person closed the input (Ctrl+D): leave."""


class Back(Quit):
    """Ctrl+C at a prompt: go back one level. The interactive client catches it at each menu; a script, which has no
    menu, ends as on Quit."""


class Leave(Back):
    """"sair" typed at a question: at a menu, that menu's own way out (Sair at the top, Voltar in a submenu); at CPF,
    close; inside an action, back to the menu as Ctrl+C."""


class SignedOut(Exception):
    """The session ended (sign-out, expired token, or the server refused the PIN once back): back to the sign-in
    screen."""


class Console:
    def __init__(self, stdin=None, stdout=None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._lock = threading.Lock()  # notice() comes from other threads
        self._waiting: str | None = None  # the prompt whose answer is being read

    def say(self, text: str = "") -> None:
        with self._lock:
            print(text, file=self.stdout, flush=True)

    def notice(self, text: str) -> None:
        """A line from another thread (queued sales sent): on lines of its own, and a prompt waiting for its answer is
        shown again below it, empty: what was typed on the terminal before it (shown above, no longer on the prompt's
        line) is dropped, so that the answer is what the seller sees typed after the prompt."""
        with self._lock:
            self.stdout.write(f"\n{text}\n{self._waiting or ''}")
            self.stdout.flush()
            if self._waiting:
                self._drop_typed()

    def _drop_typed(self) -> None:
        """Discard the terminal's unfinished input line (nothing when the input is not a terminal: a pipe is data)."""
        try:
            if termios is not None and self.stdin.isatty():
                termios.tcflush(self.stdin.fileno(), termios.TCIFLUSH)
        except (OSError, ValueError):
            pass

    def show_long(self, text: str, header_lines: int = 2) -> None:
        """Say a table; on a terminal, one screenful at a time (its header repeated), Enter for more, v to stop."""
        lines = text.splitlines()
        page = max(5, shutil.get_terminal_size().lines - header_lines - 3)
        if not (self.stdin.isatty() and self.stdout.isatty()) or len(lines) <= page + header_lines:
            self.say(text)
            return
        header, body = lines[:header_lines], lines[header_lines:]
        for first in range(0, len(body), page):
            self.say("\n".join(header + body[first:first + page]))
            shown = min(first + page, len(body))
            if shown < len(body):
                answer = self._read(f"-- {shown} de {len(body)} linhas: Enter para ver mais, v para parar -- ")
                if answer.strip().casefold() in ("v", "voltar", "q", *LEAVE_WORDS):
                    return

    def _read(self, prompt: str, secret: bool = False) -> str:
        try:
            if secret and self.stdin.isatty():
                self._waiting = prompt
                return getpass.getpass(prompt)
            with self._lock:
                self.stdout.write(prompt)
                self.stdout.flush()
                self._waiting = prompt
            line = self.stdin.readline()
        except KeyboardInterrupt:
            self.stdout.write("\n")
            raise Back() from None
        except EOFError:
            raise Quit() from None
        finally:
            self._waiting = None
        if not line:
            raise Quit()
        return line.rstrip("\r\n")

    def ask(self, prompt: str, parse: Callable[[str], T], error: ErrorText, secret: bool = False) -> T:
        """Ask until parse() accepts the answer; `error` (or error(the ValidationError)) is shown after each bad one."""
        while True:
            answer = self._read(prompt, secret).strip()
            if answer.casefold() in LEAVE_WORDS:
                raise Leave()
            try:
                return parse(answer)
            except ValidationError as exc:
                self.say(error(exc) if callable(error) else error)

    def ask_optional(self, prompt: str, parse: Callable[[str], T], error: ErrorText, secret: bool = False) -> T | None:
        """Like ask(), but an empty answer gives None: a default, or "back to the menu" (the prompt says which)."""
        return self.ask(prompt, lambda a: parse(a) if a else None, error, secret)

    def confirm(self, prompt: str) -> bool:
        def parse(answer: str) -> bool:
            if answer.lower() in ("s", "sim"):
                return True
            if answer.lower() in ("n", "não", "nao"):
                return False
            raise ValidationError("confirm", "s or n")
        return self.ask(f"{prompt} (s/n): ", parse, "Responda s (sim) ou n (não).")

    def choose(self, title: str, options: list[str], allow_back: bool = True) -> int | None:
        """A numbered menu; the chosen index, or None for 0 (voltar)."""
        self.say(title)
        for number, text in enumerate(options, start=1):
            self.say(f"  {number}) {text}")
        if allow_back:
            self.say("  0) Voltar")

        def parse(answer: str) -> int | None:
            if answer.isdigit() and (1 <= int(answer) <= len(options) or allow_back and answer == "0"):
                return None if answer == "0" else int(answer) - 1
            raise ValidationError("option", "not an option")
        return self.ask("Opção: ", parse, f"Escolha um número de {0 if allow_back else 1} a {len(options)}.")
