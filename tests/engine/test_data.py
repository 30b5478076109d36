"""Training and evaluation text: reading files, cutting documents, encoding, batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.data import (
    Document,
    encode,
    read_text_file,
    split_documents,
    split_validation,
    target_positions,
    track_batches,
    windows,
)
from engine.errors import DataError
from engine.vocab import Vocab
from tests.engine.conftest import TINY_TEXT


def test_bad_utf8_file_raises_data_error_naming_it(tmp_path: Path) -> None:
    """A file that is not UTF-8 is refused with its name in the message."""
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café crème".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt"):
        read_text_file(bad)


def test_binary_file_raises_data_error_naming_it(tmp_path: Path) -> None:
    """A binary file (NUL bytes) is refused even where its bytes happen to be valid UTF-8."""
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DataError, match=r"image\.png"):
        read_text_file(binary)


def test_text_is_read_as_nfc_with_plain_newlines(tmp_path: Path) -> None:
    """Decomposed Hangul and CRLF newlines come out composed and as '\\n'."""
    path = tmp_path / "ko.txt"
    path.write_bytes("\u1100\u1161\r\n".encode())  # jamo for 가
    assert read_text_file(path) == "가\n"


def test_line_docs_give_one_closed_document_per_non_empty_line() -> None:
    """--line-docs: each non-empty line is a document whose end is predicted."""
    docs = split_documents("first\n\n  second  \nthird\n", line_docs=True)
    assert docs == [Document("first", True), Document("second", True), Document("third", True)]


def test_continuous_text_is_cut_into_blocks_at_paragraph_ends() -> None:
    """Blocks end at paragraph boundaries and together hold every paragraph, in order."""
    paragraphs = [f"Paragraph {i} " + "word " * (i % 5 + 3) for i in range(40)]
    docs = split_documents("\n\n".join(paragraphs), block_chars=120)
    assert len(docs) > 5
    assert all(not d.closed for d in docs)
    pieces = [p for d in docs for p in d.text.split("\n\n")]
    assert [p.strip() for p in pieces] == [p.strip() for p in paragraphs]


def test_validation_split_is_by_document_and_seeded() -> None:
    """The same seed picks the same held-out documents; train and val never share one."""
    docs = [Document(f"doc {i}", True) for i in range(100)]
    train_a, val_a = split_validation(docs, 0.1, seed=1)
    train_b, val_b = split_validation(docs, 0.1, seed=1)
    _, val_c = split_validation(docs, 0.1, seed=2)
    assert (train_a, val_a) == (train_b, val_b)
    assert val_a != val_c
    assert len(val_a) == 10
    assert sorted(d.text for d in train_a + val_a) == sorted(d.text for d in docs)


# -- encoding and batches -------------------------------------------------------------------------


def test_window_examples_follow_textgenrnn() -> None:
    """<s> + text, the last max_length tokens before each target, left-padded with 0,
    never reaching into the previous document; a closed document's end is a target."""
    vocab = Vocab.build(["abcde"])
    s, a, b, c, d, e = (vocab.start_index, *vocab.encode("abcde"))
    stream = encode([Document("ab", True), Document("cde", True)], vocab)
    positions = target_positions(stream)
    got = windows(stream, positions, 3).tolist()
    targets = stream.targets[positions].tolist()
    assert got == [
        [0, 0, s], [0, s, a], [s, a, b],
        [0, 0, s], [0, s, c], [s, c, d], [c, d, e],
    ]  # fmt: skip
    assert targets == [a, b, s, c, d, e, s]


def test_open_documents_do_not_learn_an_end() -> None:
    """A block of continuous text has no real end, so nothing is predicted after it."""
    vocab = Vocab.build(["abc"])
    stream = encode([Document("ab"), Document("c")], vocab)
    assert stream.targets.tolist() == [*vocab.encode("ab"), 0, *vocab.encode("c"), 0]


def test_stream_tracks_continue_from_one_batch_to_the_next() -> None:
    """Row b of batch k + 1 continues row b of batch k, so the state can be carried over."""
    vocab = Vocab.build([TINY_TEXT])
    stream = encode(split_documents(TINY_TEXT), vocab)
    batches = list(track_batches(stream, 4, 16, torch.Generator().manual_seed(0)))
    assert len(batches) > 2
    length = len(stream)
    rows = torch.cat([x for x, _ in batches], dim=1)  # (B, steps * T)
    for row in rows:
        span = torch.arange(row.numel())
        assert any(
            torch.equal(stream.inputs[(start + span) % length].long(), row)
            for start in range(length)
        )
