"""One decoding step on token ids: the sentence-stop rule as the sampler applies it."""

from __future__ import annotations

import torch

from engine._decode_step import Job, init_rows, make_tables, update_stop
from engine.requests import SampleSettings
from engine.sentences import char_classes
from engine.vocab import Vocab


def test_a_title_stops_no_sampled_sentence() -> None:
    """The sampler's rule, fed one character at a time: "Mr. " goes on, "on. " stops, and a
    context that ends in "Mr" makes the next "." a title's."""
    tokens = ["<pad>", "<unk>", "<s>", *"MDrsaonBw. "]
    vocab = Vocab(tokens)
    classes = char_classes(tokens)
    settings = SampleSettings(max_chars=40, stop_at_sentence_end=True)

    def stop_after(context: str, written: str) -> int | None:
        jobs = [Job(0, vocab.encode(context), "", 1.0, 0, settings)]
        flags = make_tables(vocab, classes, jobs, torch.device("cpu")).flags
        rows = init_rows(vocab, classes, jobs, [40], 40, torch.zeros(1, len(tokens)))
        for t, char in enumerate(written):
            update_stop(rows, torch.tensor(vocab.encode(char)), t, flags)
            if bool(rows.finished[0]):
                return int(rows.kept[0])
        return None

    assert stop_after("", "Mr. Bow. a") == 8  # "Mr. Bow." kept, the space not
    assert stop_after("", "Bon. a") == 4
    assert stop_after("Mr", ". Bow. a") == 6
    assert stop_after("Mrs", ". a") is None
