"""The vote symbols: candidate n is the keycap emoji n️⃣ on every platform."""

from __future__ import annotations

KEYCAPS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣"]

_ORDINALS = {emoji: n for n, emoji in enumerate(KEYCAPS, start=1)}
# Some clients send a keycap without its variation selector (U+FE0F); it is the same vote.
_ORDINALS.update({emoji.replace("\ufe0f", ""): n for emoji, n in list(_ORDINALS.items())})


def keycap(ordinal: int) -> str:
    """The emoji of candidate `ordinal` (1..9); other numbers as "(n)"."""
    return KEYCAPS[ordinal - 1] if 1 <= ordinal <= len(KEYCAPS) else f"({ordinal})"


def ordinal_of(emoji: str) -> int | None:
    """The candidate a keycap emoji stands for, or None for any other text."""
    return _ORDINALS.get(emoji.strip())
