"""Finding every message the bot says, with Babel's extractor, for the catalogues and their tests.

A message is the first string argument of a call that says something: `t.gettext`,
`t.ngettext` (both forms), `N_` (a message named before it is shown), `RelayError` and
`NotAllowed` (refusals), and the help texts of the command
table (`Command`'s and `Arg`'s third argument).
"""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

ROOT = Path(__file__).resolve().parent  # the bot package: everything it says
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "RelayError": None,
    "NotAllowed": None,
    "Command": (3,),
    "Arg": (3,),
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def template() -> Catalog:
    """Every message in the bot's code, as a catalogue without translations."""
    catalog = Catalog(project="relaytale", charset="utf-8")
    found = extract_from_dir(
        str(ROOT), method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
    )
    for filename, lineno, message, _comments, context in found:
        catalog.add(message, locations=[(f"bot/{filename}", lineno)], context=context)
    return catalog


def placeholders(message: str) -> set[str]:
    """The {names} a message fills."""
    return set(PLACEHOLDER.findall(message))
