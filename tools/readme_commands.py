"""Rewrite README.md's command table from the command table in bot/core/registry.py.

    .venv/bin/python tools/readme_commands.py

tests/bot/core/test_registry.py fails while the two differ.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.registry import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = re.compile(r"(<!-- commands -->\n).*?(\n<!-- /commands -->)", re.S)


def main() -> None:
    text = README.read_text(encoding="utf-8")
    if not SECTION.search(text):
        raise SystemExit("README.md has no <!-- commands --> ... <!-- /commands --> section")
    README.write_text(SECTION.sub(lambda m: m[1] + markdown_table() + m[2], text), "utf-8")


if __name__ == "__main__":
    main()
