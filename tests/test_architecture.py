"""The shape of the code, checked on its source (nothing is imported or run):

- the top-level packages import each other without a cycle;
- replication/state.py, the pure state machine, touches no thread, socket, clock or database;
- the replication code never makes the election's messages (Heartbeat, Stale): those belong to election/.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PRODUCT = {"tests", "bench"}


def top_level_packages() -> list[str]:
    """Every folder at the repository root that holds an __init__.py (tests and bench excepted)."""
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_PRODUCT)


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.Module, path: Path) -> list[tuple[str, int]]:
    """(dotted module name, line) for every import in the file, also those inside functions.

    A relative import (`from . import x`, `from .y import z`) is resolved against the file's own package."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = list(path.relative_to(ROOT).parent.parts)
                base = package[:len(package) - (node.level - 1)]
                found.append((".".join(base + ([node.module] if node.module else [])), node.lineno))
            elif node.module:
                found.append((node.module, node.lineno))
    return found


def import_graph() -> dict[str, dict[str, list[str]]]:
    """package -> {package it imports -> ["file:line", …]}, between top-level packages only (self-imports left out)."""
    packages = top_level_packages()
    graph: dict[str, dict[str, list[str]]] = {p: {} for p in packages}
    for package in packages:
        for path in python_files(package):
            for module, line in imported_modules(parse(path), path):
                target = module.split(".")[0]
                if target in graph and target != package:
                    graph[package].setdefault(target, []).append(f"{path.relative_to(ROOT)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle as [a, b, …, a], or None (depth-first search, packages in sorted order)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {node: WHITE for node in graph}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == WHITE and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE and (cycle := visit(node)):
            return cycle
    return None


def test_the_packages_are_found():
    """The package list this file reads is the repository's product packages, tests and bench excluded."""
    packages = top_level_packages()
    assert {"client", "server", "models", "db", "election", "replication", "runtime", "wire"} <= set(packages)
    assert not NOT_PRODUCT & set(packages)


def test_the_top_level_packages_import_each_other_without_a_cycle():
    """No import cycle between top-level packages (failing, it names each step of the cycle with file:line)."""
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle:
        edges = [f"  {a} -> {b}: " + ", ".join(graph[a][b]) for a, b in zip(cycle, cycle[1:])]
        raise AssertionError("import cycle between packages: " + " -> ".join(cycle) + "\n" + "\n".join(edges))


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    """The cycle finder itself: a cycle is found, a chain is not."""
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {}}) is None
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"b": []}}) == ["b", "c", "b"]


def test_imports_inside_functions_and_relative_imports_are_seen():
    """Imports inside functions and relative imports count as edges of the graph."""
    tree = ast.parse("import x.y\nfrom z.w import v\ndef f():\n    import inner.mod\n    from .sibling import s\n")
    found = [m for m, _ in imported_modules(tree, ROOT / "server" / "app.py")]
    assert found == ["x.y", "z.w", "inner.mod", "server.sibling"]


FORBIDDEN_IN_STATE = {"threading", "socket", "time", "sqlite3"}


def test_the_replication_state_machine_imports_no_thread_socket_clock_or_database():
    """replication/state.py is pure: it imports nothing from threading, socket, time or sqlite3."""
    path = ROOT / "replication" / "state.py"
    offending = [f"{module} (line {line})" for module, line in imported_modules(parse(path), path)
                 if module.split(".")[0] in FORBIDDEN_IN_STATE]
    assert offending == [], "replication/state.py must stay pure; it imports " + ", ".join(offending)


ELECTION_MESSAGES = {"Heartbeat", "Stale"}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def test_replication_never_constructs_the_elections_messages():
    """Nothing under replication/ builds Heartbeat or Stale: it tells the election through its explicit inputs."""
    found = []
    for path in python_files("replication"):
        tree = parse(path)
        names = set(ELECTION_MESSAGES)  # and whatever they were imported as
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names |= {alias.asname for alias in node.names if alias.name in ELECTION_MESSAGES and alias.asname}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _called_name(node) in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {_called_name(node)}(")
    assert found == [], "the election's messages are made only by election/: " + ", ".join(found)


SYSTEM_CLOCK_CALLS = {"time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns", "time.perf_counter",
                      "time.perf_counter_ns", "datetime.now", "datetime.utcnow", "datetime.today", "date.today"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def test_nothing_but_runtime_clock_reads_the_system_clock():
    """One clock (runtime/clock.py): every other product module gets time from the clock it is given, so tests drive it."""
    found = []
    clock_module = ROOT / "runtime" / "clock.py"
    for path in [p for package in top_level_packages() for p in python_files(package) if p != clock_module]:
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                if any(name == call or name.endswith("." + call) for call in SYSTEM_CLOCK_CALLS):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}()")
            elif isinstance(node, ast.ImportFrom) and node.module == "time":
                found += [f"{path.relative_to(ROOT)}:{node.lineno} from time import {a.name}" for a in node.names
                          if f"time.{a.name}" in SYSTEM_CLOCK_CALLS]
    assert found == [], "time comes from runtime.clock: " + ", ".join(found)
