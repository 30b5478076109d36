"""The gate of a fine-tune: is the new version better on the chat's text without having
forgotten the shipped writer's? (engine/finetune.py's step 3.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.train_options import Recipe

__all__ = ["Figures", "Verdict", "gate"]

LANGUAGES = {"ko": "Korean", "en": "English"}


@dataclass(frozen=True)
class Figures:
    """Losses in bits per character: the chat's held-out slice, the base text by language."""

    chat: float
    base: dict[str, float]  # per language
    chars: dict[str, int]  # base-text characters per language, to weigh the overall figure

    @property
    def base_overall(self) -> float:
        total = sum(self.chars.values())
        return sum(self.base[k] * self.chars[k] for k in self.base) / total


@dataclass(frozen=True)
class Verdict:
    """The gate's decision and the figure that made it, in bits/char: the chat's held-out text
    (code "promoted" or "no_gain"; `limit` the gain needed) or the base text in `language`
    (code "forgetting"; `limit` the rise allowed). The bot words it in the chat's language."""

    promoted: bool
    code: Literal["promoted", "no_gain", "forgetting"]
    language: str | None
    before: float
    after: float
    limit: float
    reason: str  # one English sentence, for logs and metrics.json


def gate(before: Figures, after: Figures, recipe: Recipe) -> Verdict:
    """`before` holds the parent's chat figure and the shipped base's base-text figures."""
    if after.chat > before.chat - recipe.min_gain_bits:
        return Verdict(
            False,
            "no_gain",
            None,
            before.chat,
            after.chat,
            recipe.min_gain_bits,
            f"the writer did not get better on this chat's text ({before.chat:.2f} → "
            f"{after.chat:.2f} bits/char, at least {recipe.min_gain_bits:.2f} needed)",
        )
    rise = {k: after.base[k] - before.base[k] for k in before.base}
    worst = max(rise, key=lambda k: rise[k])
    if rise[worst] > recipe.max_forget_bits:
        text = f"{LANGUAGES.get(worst, worst)} base text" if len(rise) > 1 else "base text"
        return Verdict(
            False,
            "forgetting",
            worst if len(rise) > 1 else None,
            before.base[worst],
            after.base[worst],
            recipe.max_forget_bits,
            f"it would forget too much of what it knew ({text} {before.base[worst]:.2f} → "
            f"{after.base[worst]:.2f} bits/char, limit +{recipe.max_forget_bits:.2f})",
        )
    return Verdict(
        True,
        "promoted",
        None,
        before.chat,
        after.chat,
        recipe.min_gain_bits,
        f"better on this chat's text ({before.chat:.2f} → {after.chat:.2f} bits/char) "
        f"without forgetting (base text {before.base_overall:.2f} → {after.base_overall:.2f})",
    )
