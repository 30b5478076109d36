"""Hangul as its letters (engine/vocab.py `jamo`): every syllable round-trips, a checkpoint says
which it reads, losses are per original character, and a jamo model never writes a broken
syllable."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine import checkpoint as ckpt
from engine._decode_eager import decode_eager
from engine._decode_graph import decode_graph
from engine._decode_step import Job
from engine.errors import CheckpointError
from engine.evaluate import evaluate
from engine.generate import Prompt, SampleSettings, context_ids, generate
from engine.model import CharRNN
from engine.model_config import ModelConfig
from engine.vocab import Vocab, jamo_kind, normalize, to_jamo

pytestmark = pytest.mark.usefixtures("one_thread")

MIXED = "옛날 옛적에, 값싼 닭이 “Café au lait?” 하고 물었다.\nㄱㄴ 3.14 😀 끝"


def broken(text: str) -> bool:
    """Whether a text holds a conjoining jamo that no syllable took in (a half syllable)."""
    return any(jamo_kind(c) for c in normalize(text))


def test_every_syllable_is_its_jamo_and_back() -> None:
    """All 11,172 syllables: 2 or 3 jamo each, as Unicode's canonical decomposition gives, and
    composed back by NFC; other characters (accents, compatibility jamo) are left alone."""
    for code in range(0xAC00, 0xD7A4):
        syllable = chr(code)
        letters = to_jamo(syllable)
        assert letters == unicodedata.normalize("NFD", syllable)
        assert len(letters) in (2, 3) and normalize(letters) == syllable
    assert normalize(to_jamo(MIXED)) == MIXED
    assert "é" in to_jamo(MIXED) and "ㄱㄴ" in to_jamo(MIXED)


def test_a_jamo_vocabulary_encodes_decodes_and_says_so() -> None:
    vocab = Vocab.build([MIXED], jamo=True)
    assert vocab.decode(vocab.encode(MIXED)) == MIXED
    assert len(vocab.encode("값")) == 3 and len(vocab.encode("가")) == 2
    every_syllable = "".join(chr(code) for code in range(0xAC00, 0xD7A4))
    assert len(Vocab.build([every_syllable], jamo=True)) == 3 + 19 + 21 + 27  # specials + jamo
    again = Vocab.from_json(vocab.to_json())
    assert again.jamo and again.tokens == vocab.tokens
    old = Vocab.build([MIXED])
    assert '"hangul"' not in old.to_json()  # a syllable vocabulary's file is as it always was
    assert not Vocab.from_json(old.to_json()).jamo
    with pytest.raises(CheckpointError, match="hangul"):
        Vocab.from_json('{"tokens": ["<pad>", "<unk>", "<s>"], "unk_index": 1, "hangul": "x"}')


def test_a_jamo_checkpoint_loads_as_jamo_and_an_old_one_as_syllables(
    tiny_checkpoint: Path, tiny_jamo_checkpoint: Path
) -> None:
    assert ckpt.load(tiny_jamo_checkpoint).vocab.jamo
    assert not ckpt.load(tiny_checkpoint).vocab.jamo


def test_a_jamo_models_loss_is_per_original_character(tiny_jamo_checkpoint: Path) -> None:
    """The jamo of a syllable are summed: the loss is over as many characters as the text has."""
    loaded = ckpt.load(tiny_jamo_checkpoint)
    text = "고양이가 매트 위에 앉았다. The cat sat on the mat."
    figures = evaluate(loaded.model, loaded.vocab, [text])
    assert figures["chars"] == len(text)
    assert figures["tokens"] == len(to_jamo(text))
    assert figures["nats_per_char"] > 0


@pytest.mark.parametrize("trained", [True, False])
def test_a_jamo_model_never_writes_a_broken_syllable(
    tiny_jamo_checkpoint: Path, trained: bool
) -> None:
    """Hot sampling, trained and untrained (which would pick any jamo after any other), Korean
    and empty contexts, capped and sentence-stopped rows: every candidate is whole syllables,
    within its length in characters, and never changes the context's last syllable."""
    loaded = ckpt.load(tiny_jamo_checkpoint)
    model = loaded.model
    if not trained:
        torch.manual_seed(0)
        model = CharRNN(ModelConfig(**{**vars(loaded.model.config)}))
    settings = SampleSettings(max_chars=25, temperatures=(1.5, 3.0), overgenerate=2)
    stops = replace(settings, min_chars=5, stop_at_sentence_end=True)
    prompts = [
        Prompt("고양이가 매트 위에 앉", n=8, seed=1, settings=settings),
        Prompt("", n=8, seed=2, settings=stops),
        Prompt("개가", keyword=" 통", n=8, seed=3, settings=settings),
    ]
    for prompt, samples in zip(prompts, generate(model, loaded.vocab, prompts), strict=True):
        for sample in samples:
            assert not broken(sample.text), sample.text
            assert not broken(prompt.context + sample.text)
            assert len(sample.text) <= prompt.settings.max_chars
            assert sample.text.startswith(prompt.keyword)


def test_the_fixed_shape_loop_writes_the_eager_loops_jamo_texts(
    tiny_jamo_checkpoint: Path,
) -> None:
    """The CUDA-graph loop (run uncaptured on the CPU) counts characters and masks half
    syllables as the ordinary loop does."""
    loaded = ckpt.load(tiny_jamo_checkpoint)
    vocab = loaded.vocab
    settings = SampleSettings(max_chars=30, min_chars=5, stop_at_sentence_end=True)
    jobs = [
        Job(0, context_ids(vocab, "고양이가"), "", 1.2, 1, settings),
        Job(1, context_ids(vocab, "개가") + vocab.encode(" 통"), " 통", 0.8, 2, settings),
        Job(2, context_ids(vocab, "The cat"), "", 1.5, 3, replace(settings, max_chars=12)),
    ]
    with torch.inference_mode():
        expected = decode_eager(loaded.model, vocab, jobs, "stream")
        got = decode_graph(loaded.model, vocab, jobs, capture=False)
    assert got[0] == expected[0]
    assert got[1] == pytest.approx(expected[1], abs=1e-5)
    assert not any(broken(text) for text in got[0])
