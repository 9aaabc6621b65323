"""Every script subcommand, given wrong input, answers in Portuguese: no English sentence on stdout or stderr."""

import contextlib
import io
import re

import pytest
from support import DEMO_MANAGER_CPF, DEMO_PIN, free_port

from client import cli

# Words of English sentences that no Portuguese sentence of the client uses ("a", "do", "no", "for", "se" are Portuguese).
ENGLISH_WORDS = re.compile(
    r"\b(the|must|is|are|not|be|been|entry|invalid|expected|required|usage|unrecognized|choose|whole|number|string|than|"
    r"more|error|errors|argument|arguments|optional|positional|show|this|help|message|exit|and|or|of|to|with|found|such|"
    r"file|directory|allowed|ambiguous|option|options|value|missing|none|cannot|could|please|try|again|refused|connection|"
    r"timed|out|unknown|only|should|least|most|from|after|before|was|were|has|have|does|an|it|in|on|by|at|days|back)\b",
    re.IGNORECASE)
NOT_SENTENCES = [
    re.compile(r"--?[\w-]+"),                  # option names
    re.compile(r"\{[^}]*\}"),                  # argparse's choices
    re.compile(r"\b(day|week|month|table|json|csv|python -m client|onsell)\b"),  # values to type, program names
    re.compile(r"'[^']*'"),                    # quoted input and hints
    re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}"),  # ids
]
BAD_VALUES = {  # option dest -> wrong values a person could type
    "limit": ["0", "abc", "5000"], "start": ["31/02/2026", "ontem"], "end": ["2026-13-01"], "amount": ["1e3", "-5"],
    "period": ["year"], "format": ["xml"], "seller": ["1234"], "store": ["x"], "network": ["nenhuma"], "date": ["31/02/2026"],
    "sale_id": ["abc"], "servers": ["bogus", "1=127.0.0.1:99999"],
}


def subcommand_paths(parser, prefix=()) -> list[tuple[tuple[str, ...], object]]:
    """(words, parser) of every subcommand, nested ones too (`network create`)."""
    paths = []
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                paths.append(((*prefix, name), sub))
                paths += subcommand_paths(sub, (*prefix, name))
    return paths


def wrong_command_lines() -> list[list[str]]:
    lines = [["--nope"], ["--servers", "bogus", "status"], ["--servers", "1=127.0.0.1:99999", "status"], ["--help"]]
    for words, sub in subcommand_paths(cli.build_parser()):
        lines += [[*words, "--help"], [*words, "--nope"], list(words)]
        positionals = ["x" for a in sub._actions if not a.option_strings and a.__class__.__name__ != "_SubParsersAction"]
        for action in sub._actions:
            for value in BAD_VALUES.get(action.dest, []) if action.option_strings else []:
                lines.append([*words, *positionals, action.option_strings[-1], value])
    return lines


def english_in(text: str, argv: list[str]) -> list[str]:
    for word in argv:
        text = text.replace(word, " ")
    for pattern in NOT_SENTENCES:
        text = pattern.sub(" ", text)
    return sorted({m.group(0) for m in ENGLISH_WORDS.finditer(text)})


def run(argv: list[str], env: dict, monkeypatch) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv, env=env)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("reachable", [True, False], ids=["server-up", "no-server"])
def test_no_english_sentence_in_any_subcommand_given_wrong_input(fresh_server, tmp_path, monkeypatch, reachable):
    """Every subcommand with --help, an unknown option, no arguments and each of its options given a wrong value."""
    port = fresh_server().port if reachable else free_port()
    env = {"CLUSTER": f"1=127.0.0.1:{port}", "ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN, "ONSELL_NEW_PIN": "1",
           "ONSELL_QUEUE": str(tmp_path / "queue.db"), "CLIENT_FAILOVER_TIMEOUT_MS": "300"}
    monkeypatch.chdir(tmp_path)
    found = {}
    lines = wrong_command_lines()
    for argv in lines:
        code, text = run(argv, env, monkeypatch)
        assert "Traceback" not in text, (argv, text)
        english = english_in(text, argv)
        if english:
            found[" ".join(argv)] = (code, english, text[-300:])
    assert len(lines) > 100 and not found, "\n".join(f"{k}: {v}" for k, v in list(found.items())[:15])
