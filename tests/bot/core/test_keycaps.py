"""The vote symbols: keycap n is candidate n, with or without its variation selector."""

from __future__ import annotations

from bot.core.keycaps import keycap, ordinal_of


def test_keycaps_round_trip_and_other_text_is_no_vote() -> None:
    for n in range(1, 10):
        assert ordinal_of(keycap(n)) == n
        assert ordinal_of(keycap(n).replace("\ufe0f", "")) == n  # some clients drop U+FE0F
    assert keycap(12) == "(12)"
    assert ordinal_of("👍") is None and ordinal_of("1") is None
