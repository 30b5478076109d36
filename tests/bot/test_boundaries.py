"""The dependency rules of style.md, and the size rules of the house, enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {"discord", "telegram", "torch", "aiosqlite", "storage", "engine"}
# Adapters parse, make one core call and render: no SQL, no torch, no engine.
FORBIDDEN_IN_ADAPTERS = {"torch", "aiosqlite", "sqlite3", "storage", "engine"}
ADAPTERS = {
    "console": ["bot/platforms/console.py", "bot/platforms/console_render.py"],
    "telegram": sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("bot/platforms/telegram/*.py")),
    "discord": sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("bot/platforms/discord/*.py")),
}
MAX_MODULE_LINES = 400
MAX_ADAPTER_LINES = 350


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def imported_paths(path: Path) -> set[str]:
    """Full dotted names of what a module imports from (to tell bot.core from bot.platforms)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_relay_core_imports_no_platform_torch_or_sql() -> None:
    """bot/core talks to the world only through its ports."""
    for path in sorted((ROOT / "bot" / "core").glob("*.py")):
        bad = imported_modules(path) & FORBIDDEN_IN_CORE
        assert not bad, f"{path.name} imports {bad}"
        assert not any(n.startswith("bot.platforms") for n in imported_paths(path)), path


@pytest.mark.parametrize("platform", sorted(ADAPTERS))
def test_adapters_reach_the_world_only_through_the_core(platform: str) -> None:
    """Every adapter module imports no SQL, torch, storage or engine, nor another platform."""
    assert ADAPTERS[platform], platform
    others = {f"bot.platforms.{name}" for name in ADAPTERS if name != platform}
    for name in ADAPTERS[platform]:
        path = ROOT / name
        assert not imported_modules(path) & FORBIDDEN_IN_ADAPTERS, path
        assert not any(n.startswith(tuple(others)) for n in imported_paths(path)), path


def test_engine_imports_nothing_of_the_bot() -> None:
    """The engine is a library the bot uses, never the other way round; of storage/ it uses
    only the artifact store (where writer versions live), which loads nothing else."""
    for path in sorted((ROOT / "engine").rglob("*.py")):
        assert "bot" not in imported_modules(path), path
        assert _storage_modules(path) <= {"storage.artifacts"}, path
    code = "import sys, storage.artifacts; print(sorted(m for m in sys.modules if m.startswith(("
    code += "'bot', 'aiosqlite', 'asyncpg', 'storage.'))))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['storage.artifacts']"


def _storage_modules(path: Path) -> set[str]:
    """The modules of storage/ a module imports (`from storage import x` counts as storage.x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "storage")
        elif isinstance(node, ast.ImportFrom) and node.module == "storage":
            names.update(f"storage.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("storage."):
            names.add(str(node.module))
    return names


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
    """Importing the whole bot (every platform, the worker's and the fleet's clients) leaves
    torch and Ray unloaded."""
    code = (
        "import sys, bot.app, bot.engine_client, bot.fleet_client, bot.platforms.console, "
        "bot.platforms.telegram, bot.platforms.discord; "
        "print('torch' in sys.modules, 'ray' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False False"


def test_modules_stay_small() -> None:
    """One job per module: none over ~400 lines; adapters (parse, call, render) under 350."""
    for package in ("bot", "engine", "storage", "tools", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)}: {lines} lines"
    for names in ADAPTERS.values():
        for name in names:
            lines = len((ROOT / name).read_text(encoding="utf-8").splitlines())
            assert lines <= MAX_ADAPTER_LINES, f"{name}: {lines} lines"
