"""Korean particles after a filled-in placeholder: "{name}이(가)" becomes "미라가" or "톰이".

A Korean particle depends on the sound before it: 이/가, 을/를, 은/는, 과/와 on whether the
last syllable ends in a consonant (받침), (으)로 too, except that a final ㄹ takes 로. The
catalogue writes both forms, as Korean software does where a name is not known in advance; once
the name is filled in, `fix_particles` keeps the right one. It looks past closing quotes,
brackets and markup ("“호랑이”를", "<b>등대</b>가") and reads digits and keycaps as Korean numbers
("3️⃣이", "UTF-8로"); after anything else (Latin letters, emoji) the double form stays.
"""

from __future__ import annotations

import re

__all__ = ["fix_particles"]

# double form -> (after a final consonant, after a vowel)
PARTICLES = {
    "이(가)": ("이", "가"),
    "을(를)": ("을", "를"),
    "은(는)": ("은", "는"),
    "과(와)": ("과", "와"),
    "(으)로": ("으로", "로"),
}
_DOUBLE = re.compile("|".join(re.escape(p) for p in PARTICLES))
# What may stand between a word and its particle: closing quotes and brackets, markup.
_TRAILING = re.compile(r"(?:\*\*|</?b>|[”’\"')\]」』》〉]|\ufe0f|\u20e3)+$")
# The final consonant (받침) of each digit read in Korean: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGITS = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
RIEUL = 8  # ㄹ as a final consonant


def _final(char: str) -> int | None:
    """The final consonant's index (0: none; 8: ㄹ) of a syllable or digit; None if unknown."""
    if "가" <= char <= "힣":
        return (ord(char) - 0xAC00) % 28
    return _DIGITS.get(char)


def fix_particles(text: str) -> str:
    """Every double particle replaced by the form its preceding sound takes, where known."""

    def choose(match: re.Match[str]) -> str:
        double = match.group(0)
        before = _TRAILING.sub("", text[: match.start()])
        final = _final(before[-1]) if before else None
        if final is None:
            return double
        with_consonant, with_vowel = PARTICLES[double]
        if double == "(으)로":
            return with_vowel if final in (0, RIEUL) else with_consonant
        return with_consonant if final else with_vowel

    return _DOUBLE.sub(choose, text)
