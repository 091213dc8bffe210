"""protocol/ is a pure library: stdlib and msgpack only, nothing of ours outside it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocol"
# What protocol/ may import besides the standard library.
ALLOWED_THIRD_PARTY = {"msgpack"}
# Named explicitly so the failure message is obvious for the likely mistakes.
FORBIDDEN = {
    "trio",
    "trio_websocket",
    "quart",
    "quart_trio",
    "hypercorn",
    "sqlite3",
    "sqlite_utils",
    "actors",
    "server",
    "web",
    "scripts",
    "tests",
}
SOURCES = sorted(PROTOCOL_DIR.glob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import; relative ones as '.' + name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or "")))
            else:
                found.append((node.lineno, (node.module or "").split(".")[0]))
    return found


def test_sources_found() -> None:
    names = {p.name for p in SOURCES}
    assert {"__init__.py", "errors.py", "frames.py", "events.py", "codec.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_imports_only_stdlib_msgpack_and_protocol(path: Path) -> None:
    bad = []
    for line, module in imported_modules(path):
        if module.startswith(".."):
            bad.append((line, module))  # would climb out of protocol/
        elif module.startswith("."):
            continue
        elif module in FORBIDDEN:
            bad.append((line, module))
        elif module not in sys.stdlib_module_names and module not in ALLOWED_THIRD_PARTY | {
            "protocol"
        }:
            bad.append((line, module))
    assert bad == [], f"{path.name} imports forbidden modules: {bad}"


def test_checker_catches_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import trio\nfrom actors.registry import Registry\nfrom .. import x\n")
    assert imported_modules(sample) == [(1, "trio"), (2, "actors"), (3, "..")]


def test_importing_protocol_loads_no_forbidden_module() -> None:
    code = (
        "import sys, protocol, protocol.codec, protocol.events\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROTOCOL_DIR.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == ""
