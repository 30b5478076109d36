"""Sentence ends, trimming at the length cap and the re-ranking score, on plain strings."""

from __future__ import annotations

import pytest

from engine.sentences import (
    char_classes,
    rank_score,
    repeated_fraction,
    sentence_ends,
    trim_capped,
)


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("He ran. She sat!", [7, 16]),
        ("그는 갔다. 그녀는 웃었어요. 왜 그랬을까?", [6, 16, 24]),
        ('"Stop." He left.', [7, 16]),
        ("“어디 가니?” 그가 물었다.", [8, 16]),
        ("pi is 3.14 and e is 2.7", []),
        ("Wait... what?! No", [7, 14]),
        ("첫 줄\n둘째 줄", []),
        ("첫 줄이다.\n둘째 줄", [6]),
        ("Mr. Darcy bowed. Mrs. Bennet and Dr. Jekyll left.", [16, 49]),
        ("Hum. Mr.", [4]),
    ],
)
def test_sentence_ends_in_english_and_korean(text: str, ends: list[int]) -> None:
    """Terminators plus closing quotes, confirmed by a space (a newline too) or the end; a
    newline alone ends nothing (the Korean sources wrap lines mid-sentence)."""
    assert sentence_ends(text) == ends


def test_trim_goes_back_to_the_last_sentence_end_after_min_chars() -> None:
    """A capped text loses its unfinished sentence, but never goes below min_chars."""
    text = "그는 갔다. 그녀는 웃었어요. 그리고 계속"
    assert trim_capped(text, 0, 0, True) == "그는 갔다. 그녀는 웃었어요."
    assert trim_capped(text, 17, 0, True) == "그는 갔다. 그녀는 웃었어요. 그리고"


def test_trim_falls_back_to_the_last_space() -> None:
    """Without a sentence end (or with stops off) the text ends at its last space."""
    assert trim_capped("one two thr", 0, 0, True) == "one two"
    assert trim_capped("He ran. She s", 0, 0, False) == "He ran. She"
    assert trim_capped("nospaces", 0, 0, True) == "nospaces"


def test_trim_never_cuts_into_the_keyword() -> None:
    """The forced keyword (the floor) always stays whole."""
    assert trim_capped("Once upon", 0, 9, False) == "Once upon"
    assert trim_capped("Once upon a", 0, 9, False) == "Once upon"


def test_char_classes_flag_single_characters_only() -> None:
    """Special tokens carry no flag; space and newline are told apart."""
    classes = char_classes(["<pad>", "<s>", ".", "”", " ", "\n", "a"])
    assert classes.terminator == [False, False, True, False, False, False, False]
    assert classes.closer == [False, False, False, True, False, False, False]
    assert classes.space == [False, False, False, False, True, False, False]
    assert classes.newline == [False, False, False, False, False, True, False]


def test_rank_score_prefers_fresh_text_with_the_keyword() -> None:
    """Loops lose score, the keyword gains a little, empty text ranks last."""
    assert repeated_fraction("abcdefghijklmnop") == 0.0
    assert repeated_fraction("abcabcabcabcabcabcabc") > 0.5
    assert rank_score("a fresh line of text", -1.0, "") > rank_score(
        "abcabcabcabcabcabc", -1.0, ""
    )
    assert rank_score("the cat", -1.0, "cat") > rank_score("the dog", -1.0, "cat")
    assert rank_score("   ", 0.0, "") == float("-inf")
