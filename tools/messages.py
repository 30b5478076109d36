"""Keep the message catalogues up to date: extract every message from the code (Babel) and merge
it into each `bot/locales/<code>.po`, keeping the translations already there; new messages
arrive untranslated, vanished ones are dropped.

    .venv/bin/python tools/messages.py            # update every catalogue
    .venv/bin/python tools/messages.py --new ja   # start a catalogue for another language

Then translate the empty entries (any .po editor works). tests/bot/test_i18n.py fails while a
catalogue lacks a message or drops a placeholder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.i18n import LOCALES
from bot.messages import template


def update(path: Path, code: str) -> tuple[int, int]:
    """Merge the code's messages into one catalogue; (messages, untranslated)."""
    fresh = template()
    if path.exists():
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=code)
    else:
        catalog = Catalog(locale=code, project="relaytale", charset="utf-8")
    catalog.update(fresh, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    with path.open("wb") as fh:
        write_po(fh, catalog, width=99, sort_output=False, omit_header=False)
    missing = [
        m
        for m in catalog
        if m.id and not all(m.string if isinstance(m.string, tuple) else (m.string,))
    ]
    return len([m for m in catalog if m.id]), len(missing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", metavar="CODE", help="start a catalogue for this language")
    args = parser.parse_args()
    codes = sorted(path.stem for path in LOCALES.glob("*.po"))
    if args.new:
        codes = sorted({*codes, args.new})
    for code in codes:
        total, missing = update(LOCALES / f"{code}.po", code)
        print(f"{code}: {total} messages, {missing} to translate")


if __name__ == "__main__":
    main()
