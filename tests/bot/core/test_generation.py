"""What the writer is asked: the story's tail, the keyword, seeds of each request's own."""

from __future__ import annotations

import dataclasses

from bot.config import WriterConfig
from bot.core.generation import (
    SEEDS_PER_ROUND,
    clean_keyword,
    first_seed,
    one_paragraph,
    seeds_needed,
    story_tail,
)
from bot.core.records import Line


def line(position: int, text: str) -> Line:
    return Line(position, 1, position, "human", "a", "A", text, None, False, 0.0)


def test_the_tail_starts_at_a_word_and_ends_with_a_new_line() -> None:
    policy = dataclasses.replace(WriterConfig(), context_chars=60)
    first = "The dragon woke under the mountain and listened to the rain above."
    tail = story_tail([line(1, first), line(2, "It slept.")], policy)
    assert tail.endswith("It slept.\n") and len(tail) <= 61
    opening = tail.split("\n")[0]
    assert first.endswith(opening) and first[-len(opening) - 1] == " "  # cut at a word
    assert story_tail([], policy) == ""


def test_keywords_are_one_line_of_single_spaces_within_the_limit() -> None:
    policy = dataclasses.replace(WriterConfig(), keyword_chars=8)
    assert clean_keyword("  dark \n castle  ", policy) == "dark cas"


def test_each_request_of_a_round_has_seeds_of_its_own() -> None:
    policy = dataclasses.replace(WriterConfig(), overgenerate=2)
    first = first_seed(3, 0)
    second = first_seed(3, seeds_needed(policy, 3))
    assert first == 3 * SEEDS_PER_ROUND + 1 and second == first + 6
    assert first_seed(4, 0) > second  # the next round never reuses them


def test_one_paragraph_makes_spacing_variants_equal() -> None:
    assert one_paragraph(" The  sea\nwas calm. ") == one_paragraph("The sea was calm.")
