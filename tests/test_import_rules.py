"""The dependency rule of DESIGN.md §2, enforced: grammar imports only sqlglot (and the
standard library); the engine never imports the server or the shell; the server never
imports the shell. Two documented exceptions: ``ksqlpy/__main__.py`` dispatches to the
server and shell entry points, and ``ksqlpy/conformance`` drives a real server and renders
rows as it does (it is test tooling above the engine, not part of it)."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def test_grammar_imports_only_sqlglot():
    for f in _files("grammar"):
        for mod in _imports(f):
            top = mod.split(".")[0]
            assert top in STDLIB or top == "sqlglot" or mod.startswith("ksqlpy.grammar"), \
                f"{f.relative_to(ROOT)} imports {mod}"


def test_engine_does_not_import_server_or_shell():
    for f in _files("ksqlpy"):
        rel = f.relative_to(ROOT)
        if rel.parts[1] == "conformance" or rel.name == "__main__.py":
            continue
        for mod in _imports(f):
            assert not mod.startswith(("ksqlpy.server", "ksqlpy.cli")), f"{rel} imports {mod}"


def test_server_does_not_import_shell():
    for f in _files("server"):
        for mod in _imports(f):
            assert not mod.startswith("ksqlpy.cli"), f"{f.relative_to(ROOT)} imports {mod}"
