"""The dependency rules of style.md, enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {"discord", "telegram", "torch", "aiosqlite", "storage", "engine"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_relay_core_imports_no_platform_torch_or_sql() -> None:
    """bot/core talks to the world only through its ports."""
    for path in sorted((ROOT / "bot" / "core").glob("*.py")):
        bad = imported_modules(path) & FORBIDDEN_IN_CORE
        assert not bad, f"{path.name} imports {bad}"


def test_sql_lives_only_in_storage() -> None:
    """No module outside storage/ imports sqlite3 or aiosqlite."""
    for package in ("bot", "engine"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert not imported_modules(path) & {"sqlite3", "aiosqlite"}, path


def test_torch_only_in_engine() -> None:
    """bot/ and storage/ never import torch."""
    for package in ("bot", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert "torch" not in imported_modules(path), path


def test_bot_process_never_loads_torch() -> None:
    """Importing the whole bot (every platform and the engine client) leaves torch unloaded."""
    code = (
        "import sys, bot.app, bot.engine_client, bot.platforms.console; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
