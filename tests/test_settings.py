"""The one table of settings (runtime/settings.py) and the two places people read it: README's
configuration table and .env.example must list exactly its keys, with its defaults."""

import ast
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dotenv import dotenv_values

from models.cluster import parse_cluster
from runtime import settings
from runtime.settings import BY_KEY, SETTINGS, SettingError

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
TABLE_HEADER = ["key", "default", "used by", "meaning"]
USED_BY = {settings.SERVER, settings.CLUSTER, settings.CLIENT, settings.BOTH}
KEY_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def readme_rows() -> list[list[str]]:
    """The rows of README's configuration table (the one whose header is key | default | used by | meaning)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and _cells(line) == TABLE_HEADER]
    assert len(starts) == 1, f"README must have one configuration table with the columns {' | '.join(TABLE_HEADER)}"
    rows = []
    for line in lines[starts[0] + 2:]:  # after the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append(_cells(line))
    return rows


def test_the_settings_table_itself_is_well_formed():
    """Each key once, a known 'used by', a meaning."""
    keys = [s.key for s in SETTINGS]
    assert len(keys) == len(set(keys)) and set(keys) == set(BY_KEY)
    for s in SETTINGS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", s.key) and s.used_by in USED_BY and s.meaning.strip(), s


def test_readme_lists_every_setting_once_in_the_tables_order_with_its_default():
    """README's configuration table: every key of the table once, in its order, with its default and 'used by'."""
    rows = readme_rows()
    assert all(len(row) == len(TABLE_HEADER) for row in rows), "every row has key | default | used by | meaning"
    keys = []
    for key_cell, _, _, _ in rows:
        match = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", key_cell)
        assert match, f"one key per row, in backticks: {key_cell!r}"
        keys.append(match.group(1))
    assert keys == [s.key for s in SETTINGS], "README's configuration table must list runtime.settings.SETTINGS, in order"
    for key, default_cell, used_by, meaning in ((k, *row[1:]) for k, row in zip(keys, rows)):
        setting = BY_KEY[key]
        if setting.default is None:
            assert default_cell.startswith("none") and not re.fullmatch(r"`[^`]*`", default_cell), \
                f"{key} has no literal default: its cell says so and what happens instead ({default_cell!r})"
        else:
            assert default_cell == f"`{setting.default}`", f"{key}: README says {default_cell}, the table {setting.default!r}"
        assert used_by == setting.used_by, f"{key}: used by {setting.used_by!r}, README says {used_by!r}"
        assert meaning, f"{key} needs a meaning"


def env_example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()


def test_env_example_sets_every_setting_with_a_default_and_only_those():
    """.env.example sets exactly the keys with a default, to that default."""
    values = dotenv_values(ENV_EXAMPLE)  # as the programs read a .env made from it
    assert values == {s.key: s.default for s in SETTINGS if s.default is not None}


def test_env_example_shows_settings_without_a_default_commented_out():
    """.env.example shows the keys without a default commented out."""
    commented = {m.group(2) for line in env_example_lines() if (m := KEY_LINE.match(line)) and m.group(1)}
    assert commented == {s.key for s in SETTINGS if s.default is None}


def test_env_example_names_no_other_key_and_each_once_with_a_comment_above():
    """.env.example names no other key, each once, each under a comment."""
    lines = env_example_lines()
    positions: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        if match := KEY_LINE.match(line):
            positions.setdefault(match.group(2), []).append(i)
    assert set(positions) == set(BY_KEY), \
        f"missing: {sorted(set(BY_KEY) - set(positions))}; not settings: {sorted(set(positions) - set(BY_KEY))}"
    for key, where in positions.items():
        assert len(where) == 1, f"{key} appears {len(where)} times in .env.example"
        above = where[0] - 1
        while above >= 0 and KEY_LINE.match(lines[above]):
            above -= 1  # keys of one group (ONSELL_CPF, ONSELL_PIN) share the comment above them
        assert above >= 0 and lines[above].startswith("#"), f"{key} needs a comment saying what it does"


def test_every_literal_default_is_valid_for_its_reader():
    """Every default passes its own reader (no default that would stop a node)."""
    env: dict = {}
    assert parse_cluster(settings.text(env, "CLUSTER"))
    assert settings.time_zone(env) == ZoneInfo(settings.default("TIMEZONE"))
    for s in SETTINGS:
        if s.default is not None and s.default.isdigit():
            assert settings.whole_number(env, s.key, minimum=0) == int(s.default)


def test_the_readers_take_empty_as_unset_and_name_the_key_when_a_value_cannot_work():
    """Empty values count as unset; a value that cannot work raises SettingError naming the key."""
    assert settings.text({"DATA_DIR": "  "}, "DATA_DIR") == settings.default("DATA_DIR")
    assert settings.text({"DATA_DIR": "/srv/onsell"}, "DATA_DIR") == "/srv/onsell"
    assert settings.whole_number({"MAX_CONNECTIONS": " 7 "}, "MAX_CONNECTIONS") == 7
    for bad in ("abc", "0", "-1", "1.5"):
        with pytest.raises(SettingError) as error:
            settings.whole_number({"IDLE_TIMEOUT_S": bad}, "IDLE_TIMEOUT_S")
        assert error.value.key == "IDLE_TIMEOUT_S"
    with pytest.raises(SettingError) as error:
        settings.time_zone({"TIMEZONE": "Marte/Base"})
    assert error.value.key == "TIMEZONE" and "Marte/Base" in str(error.value)
    with pytest.raises(KeyError):
        settings.default("ONSELL_QUEUE")  # no literal default: its reader decides


READERS = {"text", "whole_number", "default", "default_int", "optional"}


def test_the_code_reads_no_key_that_is_missing_from_the_table():
    """Every key named to a settings reader (runtime.settings, client/config.py's optional) is in SETTINGS."""
    unknown = []
    packages = [p.parent for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tests", "bench")]
    for path in sorted(f for package in packages for f in package.rglob("*.py") if "__pycache__" not in f.parts):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in READERS:
                continue
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", arg.value) \
                        and arg.value not in BY_KEY:
                    unknown.append(f"{path.relative_to(ROOT)}:{node.lineno} {arg.value}")
    assert unknown == [], "keys read but missing from runtime.settings.SETTINGS: " + ", ".join(unknown)
