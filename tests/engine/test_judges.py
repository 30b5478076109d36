"""The judges of over-generated candidates (engine/judges.py): relevance to the story and
repeated words, on a tiny model trained in seconds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.checkpoint import Checkpoint, load
from engine.generate import Prompt, Sample, SampleSettings, _choose, context_ids, generate
from engine.judges import back_to_back, continuation_logprobs, word_repeats

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def writer(tiny_checkpoint: Path) -> Checkpoint:
    return load(tiny_checkpoint)


def relevance(writer: Checkpoint, story: str, ending: str) -> float:
    """log p(ending | story) - log p(ending | empty), per character."""
    model, vocab = writer.model, writer.vocab
    ids = vocab.encode(ending)
    after, alone = continuation_logprobs(
        model, vocab, [context_ids(vocab, story), [vocab.start_index]], [ids, ids]
    )
    return after - alone


@pytest.mark.parametrize(
    ("story", "own", "other"),
    [
        ("The cat sat on the", " mat.", " 매트 위에 앉았다."),
        ("고양이가", " 매트 위에 앉았다.", " 통나무 위에 앉았다."),
        ("개가", " 통나무 위에 앉았다.", " 매트 위에 앉았다."),
    ],
)
def test_the_relevance_judge_prefers_the_continuation_of_its_own_story(
    writer: Checkpoint, story: str, own: str, other: str
) -> None:
    """The tiny model learnt which animal sits on what (and in which language): after a story,
    the ending of that story is more relevant than another story's."""
    assert relevance(writer, story, own) > relevance(writer, story, other)


def test_continuation_logprobs_is_the_samples_own_mean_logprob(writer: Checkpoint) -> None:
    """The judge's teacher-forced reading gives the decode loop's own figure for a sample."""
    model, vocab = writer.model, writer.vocab
    settings = SampleSettings(max_chars=30, temperatures=(0.8,))
    for sample in generate(model, vocab, [Prompt("The cat", n=3, seed=1, settings=settings)])[0]:
        [mean] = continuation_logprobs(
            model, vocab, [context_ids(vocab, "The cat")], [vocab.encode(sample.text)]
        )
        assert mean == pytest.approx(sample.mean_logprob, abs=1e-4)


def test_a_batch_scores_each_row_as_alone(writer: Checkpoint) -> None:
    """Rows of different lengths in one batch score as each would alone (padding never counts)."""
    model, vocab = writer.model, writer.vocab
    prefixes = [context_ids(vocab, "The dog sat"), [vocab.start_index]]
    texts = [vocab.encode(" on the log."), vocab.encode("고양이가 매트 위에 앉았다.")]
    together = continuation_logprobs(model, vocab, prefixes, texts)
    alone = [
        continuation_logprobs(model, vocab, [p], [t])[0]
        for p, t in zip(prefixes, texts, strict=True)
    ]
    assert together == pytest.approx(alone, abs=1e-5)
    assert continuation_logprobs(model, vocab, [[vocab.start_index]], [[]]) == [0.0]


def test_judged_generation_chooses_from_the_same_pool(writer: Checkpoint) -> None:
    """The judges only re-rank: the candidates come from the pool an unjudged request draws."""
    model, vocab = writer.model, writer.vocab
    plain = SampleSettings(max_chars=40, temperatures=(1.2,), overgenerate=3)
    prompt = Prompt("The cat sat", n=2, seed=5, settings=plain)
    pool = generate(model, vocab, [replace(prompt, n=6, settings=replace(plain, overgenerate=1))])
    judged = generate(model, vocab, [replace(prompt, settings=replace(plain, judges=True))])[0]
    assert len(judged) == 2
    assert {(s.text, s.seed) for s in judged} <= {(s.text, s.seed) for s in pool[0]}


def test_relevance_and_repeated_words_reorder_the_pool() -> None:
    """A little less fluent but more relevant comes first; a repeated word costs its place."""
    pool = [
        Sample("그는 집으로 갔다.", -1.0, 1.0, 0),
        Sample("영신은 청석골로 갔다.", -1.1, 1.0, 1),
        Sample("그러나 그러나 그는 갔다.", -0.9, 1.0, 2),  # too short for the 8-gram check
    ]
    prompt = Prompt(n=3, settings=SampleSettings(overgenerate=2))
    assert _choose(pool, prompt) == [pool[2], pool[0], pool[1]]
    assert _choose(pool, prompt, [0.0, 0.1, 0.0]) == [pool[1], pool[0], pool[2]]


@pytest.mark.parametrize(
    ("text", "twice", "repeats"),
    [
        ("그러나 그러나 그는 어떠한 결론을 보고 있던 생각이 어두웠다", 1, 1),
        ("The cat sat on the mat.", 0, 0),
        ("the cat sat, the cat sat", 0, 2),
        ("“He said, he said no, no.”", 1, 2),
        ("", 0, 0),
    ],
)
def test_repeated_words_are_counted(text: str, twice: int, repeats: int) -> None:
    assert back_to_back(text) == twice
    assert word_repeats(text) == repeats
