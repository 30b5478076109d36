"""Where a generated text may end, and how candidates are ranked.

A sentence ends at a terminator (. ! ? … and their full-width forms; Korean endings such as 다. 요.
까? are covered by these) followed by any closing quotes or brackets, *confirmed* by the next
character being whitespace (or the text ending there). Waiting for that one character keeps
"3.14", "Mr.Smith" or "..." inside a word from stopping a sentence. A newline confirms an end as
any whitespace does, and ends nothing by itself: the Korean sources wrap lines mid-sentence
("…생각하면서,\n"), so the writer does too (the bot joins a candidate into one paragraph).
A period after an English title ("Mr. Darcy", "Dr. Jekyll": ABBREVIATIONS) ends nothing.

The sampler applies these rules per step on token ids (see `char_classes`); the helpers on strings
here trim a text that hit its length cap and score over-generated candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from torch import Tensor

TERMINATORS = frozenset(".!?…。！？")
CLOSERS = frozenset("\"'”’)]」』》〉")
NEWLINES = frozenset("\n\r\u2028\u2029")
# Words whose period ends no sentence (a name follows). Whole words only: "Mr." after "Hum" is not.
ABBREVIATIONS = frozenset(
    [
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "St",
        "Mt",
        "Jr",
        "Sr",
        "Messrs",
        "Mme",
        "Mlle",
        "Prof",
        "Capt",
        "Col",
        "Gen",
        "Lt",
        "Sgt",
        "Rev",
        "Hon",
    ]
)
# The sampler follows the word being written as a number (see `word_code`), modulo this prime.
WORD_MODULUS = 2_147_483_647
Code = TypeVar("Code", int, "Tensor")  # the word code's step works on both


@dataclass(frozen=True)
class CharClasses:
    """Per-token flags (one bool per vocabulary index) that the sampler turns into tensors."""

    terminator: list[bool]
    closer: list[bool]
    space: list[bool]  # whitespace other than a newline: confirms a sentence end
    newline: list[bool]
    letter: list[bool]  # ASCII letters: the words ABBREVIATIONS are made of
    dot: list[bool]  # "."
    abbreviations: list[int]  # `word_code` of each abbreviation the vocabulary can spell


def is_letter(char: str) -> bool:
    return len(char) == 1 and char.isascii() and char.isalpha()


def grow_word(code: Code, token: Code) -> Code:
    """The word code after one more letter: ints here, (R,) tensors in the sampler's step."""
    return (code * 31 + token + 1) % WORD_MODULUS


def word_code(ids: Sequence[int], letter: Sequence[bool]) -> int:
    """The number the sampler keeps for the word at the end of `ids` (its trailing letters;
    0 when it does not end in one)."""
    code = 0
    for i in ids:
        code = grow_word(code, i) if letter[i] else 0
    return code


def ends_in_abbreviation(text: str, at: int) -> bool:
    """Whether the period at text[at] follows a whole word of ABBREVIATIONS."""
    start = at
    while start > 0 and is_letter(text[start - 1]):
        start -= 1
    return text[start:at] in ABBREVIATIONS


def char_classes(tokens: Sequence[str]) -> CharClasses:
    """Flags for every token; multi-character special tokens get no flag."""

    def flags(test: frozenset[str] | None) -> list[bool]:
        out = []
        for token in tokens:
            single = len(token) == 1
            if test is None:
                out.append(single and token.isspace() and token not in NEWLINES)
            else:
                out.append(single and token in test)
        return out

    letter = [is_letter(token) for token in tokens]
    index = {token: i for i, token in enumerate(tokens) if len(token) == 1}
    spelled = [w for w in sorted(ABBREVIATIONS) if all(c in index for c in w)]
    codes = [word_code([index[c] for c in w], letter) for w in spelled]
    return CharClasses(
        flags(TERMINATORS),
        flags(CLOSERS),
        flags(None),
        flags(NEWLINES),
        letter,
        flags(frozenset(".")),
        codes,
    )


def sentence_ends(text: str) -> list[int]:
    """Every length `i` such that text[:i] ends a sentence (terminator + closers, then whitespace,
    a newline included, or the end of the text), in increasing order."""
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char not in TERMINATORS or (char == "." and ends_in_abbreviation(text, i)):
            i += 1
            continue
        j = i + 1
        while j < n and (text[j] in TERMINATORS or text[j] in CLOSERS):
            j += 1
        if j == n or text[j].isspace():
            ends.append(j)
        i = j
    return [e for e in ends if e > 0]


def ends_sentence(text: str) -> bool:
    """Whether the text's last sentence is finished (a terminator and closers at its end)."""
    text = text.rstrip()
    return len(text) in sentence_ends(text)


def trim_capped(text: str, min_chars: int, floor: int, at_sentence: bool) -> str:
    """Cut a text that hit its length cap back to a clean end.

    With `at_sentence`, the last sentence end at or after `min_chars`; otherwise (or if there is
    none) the last space. Never cuts below `floor` (the forced keyword) and never to nothing.
    """
    lower = max(floor, 1)
    if at_sentence:
        ends = [e for e in sentence_ends(text) if e >= max(min_chars, lower)]
        if ends:
            return text[: ends[-1]]
    cut = text.rstrip()
    space = max(cut.rfind(" "), cut.rfind("\n"))
    for limit in (max(min_chars, lower), lower):
        if space >= limit:
            return text[:space].rstrip()
    return text


def repeated_fraction(text: str, n: int = 8) -> float:
    """Share of character n-grams seen before in the text: 0 when fresh, near 1 in a loop."""
    total = len(text) - n + 1
    if total <= 1:
        return 0.0
    seen: set[str] = set()
    repeats = 0
    for i in range(total):
        gram = text[i : i + n]
        if gram in seen:
            repeats += 1
        seen.add(gram)
    return repeats / total


# Re-ranking weights: a candidate that loops on itself loses up to this much mean log-probability;
# one that mentions the keyword gains a little; one cut mid-sentence at the length cap (it reads
# unfinished) loses more than candidates' fluency usually differs by.
REPEAT_WEIGHT = 2.0
KEYWORD_BONUS = 0.1
UNFINISHED_PENALTY = 0.5


def rank_score(text: str, mean_logprob: float, keyword: str, finished: bool = True) -> float:
    """Higher is better: fluent (mean log-probability), not repetitive, on topic (the keyword),
    finished (not cut mid-sentence at the length cap)."""
    if not text.strip():
        return float("-inf")
    score = mean_logprob - REPEAT_WEIGHT * repeated_fraction(text)
    if keyword and keyword in text:
        score += KEYWORD_BONUS
    if not finished:
        score -= UNFINISHED_PENALTY
    return score
