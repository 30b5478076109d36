"""Checks of what members send: lines, titles and novel files (decoded strictly)."""

from __future__ import annotations

import pytest

from bot.core.errors import RelayError
from bot.core.input_checks import check_novel, check_novel_file, clean_line, clean_title


def test_a_line_becomes_one_clean_paragraph() -> None:
    assert clean_line("  The sea.\n\n  It was calm. ", 100) == "The sea. It was calm."
    with pytest.raises(RelayError, match="control characters"):
        clean_line("bell\x07", 100)


def test_titles_are_single_spaced_and_bounded() -> None:
    assert clean_title(" The  Long\tNight ") == "The Long Night"
    with pytest.raises(RelayError, match="needs a title"):
        clean_title("   ")
    with pytest.raises(RelayError, match="too long"):
        clean_title("x" * 201)


def test_a_novel_is_read_as_utf8_or_cp949_and_named_after_its_file() -> None:
    korean = "옛날 옛적에 호랑이가 살았다. 똠방각하는 웃었다. " * 20
    utf8 = check_novel("호랑이.txt", korean.encode(), 1_000_000, 10)
    cp949 = check_novel("호랑이.txt", korean.encode("cp949"), 1_000_000, 10)
    assert utf8.text == cp949.text and "똠방각하" in utf8.text
    assert utf8.title == "호랑이" and cp949.encoding.startswith("CP949")
    assert utf8.sha256 == cp949.sha256  # the same novel in another encoding is a duplicate


def test_a_file_is_refused_by_name_or_size_before_it_is_read() -> None:
    with pytest.raises(RelayError, match=r"\.txt"):
        check_novel_file("book.pdf", 10, 1000)
    with pytest.raises(RelayError, match="the limit is"):
        check_novel_file("book.txt", 1001, 1000)
