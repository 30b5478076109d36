"""Generation: seeds, greedy decoding, batching, stops, keywords, specials, ranking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch

from engine.generate import (
    CONTEXT_CHARS,
    Prompt,
    Sample,
    SampleSettings,
    context_ids,
    generate,
)
from engine.model import CharRNN, StreamState
from engine.model_config import ModelConfig
from engine.sentences import trim_capped
from engine.vocab import Vocab

STORY = "The cat sat. The dog ran! 그는 집에 갔다. 그녀는 웃었어요. 어디 가니? " * 2
SCRIPTS = 'He said "stop." 3.14 is pi. Then more. 첫 줄\n둘째 “어디 가니?” 그리고 계속 걸었'
MODES = ("stream", "window")


def tiny_model(vocab: Vocab, seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab_size=len(vocab), dim_embeddings=16, rnn_size=24, window=8, max_length=12
    )
    return CharRNN(config).eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models step faster on one thread, and far faster when other work shares the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.build([STORY, SCRIPTS])


@pytest.fixture(scope="module")
def random_model(vocab: Vocab) -> CharRNN:
    return tiny_model(vocab)


class ScriptedModel(torch.nn.Module):
    """Stands in for CharRNN: whatever it reads, its n-th forward favours script character n.

    Lets the stop rules be checked on exact texts. One prompt per generate() call."""

    def __init__(self, vocab: Vocab, script: str) -> None:
        super().__init__()
        self.config = ModelConfig(vocab_size=len(vocab), max_length=4, window=4)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # so that the sampler finds a device
        self.script = vocab.encode(script)
        self.calls = 0

    def _next(self, rows: int) -> torch.Tensor:
        logits = torch.full((rows, self.config.vocab_size), -10.0)
        logits[:, self.script[min(self.calls, len(self.script) - 1)]] = 10.0
        self.calls += 1
        return logits

    def prime(self, idx: torch.Tensor) -> tuple[torch.Tensor, StreamState]:
        rows = idx.size(0)
        state = StreamState(
            [(torch.zeros(1, rows, 1), torch.zeros(1, rows, 1))],
            torch.zeros(rows, 1, 1),
            torch.zeros(rows, 1),
        )
        return self._next(rows), state

    def step(self, idx: torch.Tensor, state: StreamState) -> tuple[torch.Tensor, StreamState]:
        return self._next(idx.size(0)), state

    def forward(
        self, idx: torch.Tensor, targets: None = None, state: None = None, mode: str = "stream"
    ) -> tuple[torch.Tensor, None, None]:
        return self._next(idx.size(0)), None, None  # only window mode calls it: (B, V)


def one(model: CharRNN, vocab: Vocab, prompt: Prompt, mode: str = "stream") -> list[str]:
    return [s.text for s in generate(model, vocab, [prompt], mode)[0]]  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_gives_same_text(random_model: CharRNN, vocab: Vocab, mode: str) -> None:
    """Two runs with one seed agree; another seed gives other texts."""
    settings = SampleSettings(max_chars=60, temperatures=(1.0,))
    a = one(random_model, vocab, Prompt("The cat", n=2, seed=5, settings=settings), mode)
    b = one(random_model, vocab, Prompt("The cat", n=2, seed=5, settings=settings), mode)
    c = one(random_model, vocab, Prompt("The cat", n=2, seed=6, settings=settings), mode)
    assert a == b
    assert a != c


def greedy_reference(model: CharRNN, vocab: Vocab, context: str, steps: int, mode: str) -> str:
    """Plain argmax decoding, one prompt, written without the batch machinery."""
    ids = context_ids(vocab, context)
    banned = vocab.special_indices()
    out: list[int] = []
    with torch.no_grad():
        logits, state = model.prime(torch.tensor([ids]))
        for _ in range(steps):
            if mode == "window":
                seq = (ids + out)[-model.config.max_length :]
                seq = [0] * (model.config.max_length - len(seq)) + seq
                logits, _, _ = model(torch.tensor([seq]), mode="window")
            logits[0, banned] = float("-inf")
            tok = int(logits[0].argmax())
            out.append(tok)
            if mode == "stream":
                logits, state = model.step(torch.tensor([tok]), state)
    return vocab.decode(out)


@pytest.mark.parametrize("mode", MODES)
def test_temperature_zero_is_argmax_decoding(
    random_model: CharRNN, vocab: Vocab, mode: str
) -> None:
    """Greedy candidates are identical whatever the seed and equal a plain argmax loop."""
    settings = SampleSettings(max_chars=40, temperatures=(0.0,))
    texts = one(random_model, vocab, Prompt("그는 집에", n=3, seed=3, settings=settings), mode)
    expected = greedy_reference(random_model, vocab, "그는 집에", 40, mode)
    assert texts == [trim_capped(expected, 0, 0, False)] * 3


@pytest.mark.parametrize("mode", MODES)
def test_batched_equals_separate_runs(random_model: CharRNN, vocab: Vocab, mode: str) -> None:
    """Several prompts of different lengths, mixed settings: each candidate equals its own run."""
    temps = (1.0, 0.0, 1.5)
    prompts = [
        Prompt("", n=3, seed=1, settings=SampleSettings(max_chars=50, temperatures=temps)),
        Prompt(
            "The dog",
            n=3,
            seed=10,
            settings=SampleSettings(
                max_chars=70, temperatures=temps, stop_at_sentence_end=True, min_chars=5
            ),
        ),
        Prompt(
            STORY * 10,
            keyword="그",
            n=2,
            seed=7,
            settings=SampleSettings(
                max_chars=40, temperatures=(1.2,), top_k=5, top_p=0.9, repetition_penalty=1.3
            ),
        ),
        Prompt(
            "그녀는",
            n=3,
            seed=2,
            settings=SampleSettings(max_chars=90, temperatures=(2.0,), stop_at_sentence_end=True),
        ),
    ]
    batched = generate(random_model, vocab, prompts, mode)  # type: ignore[arg-type]
    for prompt, samples in zip(prompts, batched, strict=True):
        assert len(samples) == prompt.n
        for i, sample in enumerate(samples):
            temps_i = prompt.settings.temperatures
            alone = Prompt(
                prompt.context,
                prompt.keyword,
                n=1,
                seed=prompt.seed + i,
                settings=replace(prompt.settings, temperatures=(temps_i[i % len(temps_i)],)),
            )
            [single] = generate(random_model, vocab, [alone], mode)[0]  # type: ignore[arg-type]
            assert (sample.text, sample.seed) == (single.text, single.seed)
            assert sample.mean_logprob == pytest.approx(single.mean_logprob, abs=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_max_chars_is_respected(random_model: CharRNN, vocab: Vocab, mode: str) -> None:
    """No candidate is longer than max_chars, keyword included."""
    for cap in (1, 7, 33):
        prompt = Prompt(
            "The",
            keyword="ca",
            n=4,
            seed=0,
            settings=SampleSettings(max_chars=cap if cap > 2 else 3, temperatures=(1.0, 0.0)),
        )
        for text in one(random_model, vocab, prompt, mode):
            assert len(text) <= prompt.settings.max_chars


def scripted(vocab: Vocab, script: str, mode: str, **settings: object) -> str:
    """The text the sampler keeps when the model emits `script` (greedy, one candidate)."""
    model = ScriptedModel(vocab, script)
    prompt = Prompt("x", n=1, settings=SampleSettings(temperatures=(0.0,), **settings))  # type: ignore[arg-type]
    [text] = one(model, vocab, prompt, mode)  # type: ignore[arg-type]
    return text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('He said "stop." Then more. ', 'He said "stop."'),
        ("3.14 is pi. Then", "3.14 is pi."),
        (" 그는 집에 갔다. 그리고", " 그는 집에 갔다."),
        ("“어디 가니?” 그리고", "“어디 가니?”"),
        ("그는 갔다.\n그리고", "그는 갔다."),
        ("그는 집에\n갔다. 그리고", "그는 집에\n갔다."),
    ],
)
def test_stops_at_a_sentence_end(vocab: Vocab, mode: str, script: str, expected: str) -> None:
    """English and Korean sentence ends (closing quotes kept), confirmed by a space or a newline;
    a newline mid-sentence (a wrapped line) goes on."""
    assert scripted(vocab, script, mode, max_chars=100, stop_at_sentence_end=True) == expected


@pytest.mark.parametrize("mode", MODES)
def test_min_chars_runs_past_early_sentence_ends(vocab: Vocab, mode: str) -> None:
    """With min_chars the first sentence end is skipped and a later one ends the text."""
    script = "그는 갔다. 그리고 웃었어요. 끝"
    text = scripted(vocab, script, mode, max_chars=100, min_chars=8, stop_at_sentence_end=True)
    assert text == "그는 갔다. 그리고 웃었어요."


@pytest.mark.parametrize("mode", MODES)
def test_length_cap_trims_to_a_clean_end(vocab: Vocab, mode: str) -> None:
    """At the cap the text goes back to its last sentence end, or else to its last space."""
    script = "그는 갔다. 그리고 계속 걸었"
    assert scripted(vocab, script, mode, max_chars=15, stop_at_sentence_end=True) == "그는 갔다."
    assert scripted(vocab, script, mode, max_chars=15) == "그는 갔다. 그리고 계속"
    assert scripted(vocab, "Then more.", mode, max_chars=6) == "Then"
    assert scripted(vocab, "3.14.3.14", mode, max_chars=6) == "3.14.3"


@pytest.mark.parametrize("mode", MODES)
def test_keyword_starts_every_candidate(random_model: CharRNN, vocab: Vocab, mode: str) -> None:
    """The keyword is forced as the first characters of each continuation."""
    settings = SampleSettings(max_chars=30, temperatures=(0.5, 1.0))
    for text in one(
        random_model,
        vocab,
        Prompt("The dog ran! ", keyword="그녀", n=3, seed=4, settings=settings),
        mode,
    ):
        assert text.startswith("그녀")
        assert len(text) > len("그녀")


def biased_model(
    vocab: Vocab, favourite: str, bias: dict[int, float], floor: float = -5.0
) -> CharRNN:
    """A model whose output ignores its input: a fixed bias over the vocabulary."""
    model = tiny_model(vocab)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(floor)
        model.output.bias[vocab.encode(favourite)[0]] = 1.0
        for index, value in bias.items():
            model.output.bias[index] = value
    return model


@pytest.mark.parametrize("mode", MODES)
def test_special_tokens_are_never_emitted(vocab: Vocab, mode: str) -> None:
    """Even when the specials carry almost all the probability, only real characters come out."""
    model = biased_model(vocab, "a", {i: 30.0 for i in vocab.special_indices()}, floor=-40.0)
    settings = SampleSettings(max_chars=25, temperatures=(0.0, 1.0, 3.0), top_k=3)
    for text in one(model, vocab, Prompt("x", n=3, seed=0, settings=settings), mode):
        assert text == "a" * 25


def test_repetition_penalty_demotes_recent_characters(vocab: Vocab) -> None:
    """Greedy decoding of a model that always prefers 'a' gives way to 'e' under a penalty."""
    model = biased_model(vocab, "a", {vocab.encode("e")[0]: 0.9})
    plain = SampleSettings(max_chars=10, temperatures=(0.0,))
    penalised = SampleSettings(max_chars=10, temperatures=(0.0,), repetition_penalty=2.0)
    assert one(model, vocab, Prompt("?", n=1, settings=plain)) == ["a" * 10]
    [text] = one(model, vocab, Prompt("?", n=1, settings=penalised))
    assert text.startswith("ae")


def test_overgenerate_keeps_the_best_n_of_the_pool(random_model: CharRNN, vocab: Vocab) -> None:
    """Over-generation returns n candidates, best first, drawn from the larger pool."""
    base = SampleSettings(max_chars=40, temperatures=(1.5,))
    over = replace(base, overgenerate=3)
    pool = generate(random_model, vocab, [Prompt("The", n=6, seed=3, settings=base)])[0]
    picked = generate(random_model, vocab, [Prompt("The", n=2, seed=3, settings=over)])[0]
    assert len(picked) == 2
    assert {(s.text, s.seed) for s in picked} <= {(s.text, s.seed) for s in pool}
    assert picked == generate(random_model, vocab, [Prompt("The", n=2, seed=3, settings=over)])[0]


def test_mean_logprob_is_the_models_own_log_probability(
    random_model: CharRNN, vocab: Vocab
) -> None:
    """mean_logprob is the mean temperature-1 log-probability of the sampled characters."""
    settings = SampleSettings(max_chars=20, temperatures=(0.0,))
    [sample] = generate(random_model, vocab, [Prompt("The", n=1, settings=settings)])[0]
    ids = context_ids(vocab, "The") + vocab.encode(sample.text)
    with torch.no_grad():
        logits, _, _ = random_model(torch.tensor([ids[:-1]]))
    logp = torch.log_softmax(logits[0], dim=-1)  # (T, V)
    start = len(ids) - 1 - len(sample.text)
    picked = [float(logp[start + i, ids[start + i + 1]]) for i in range(len(sample.text))]
    assert sample.mean_logprob == pytest.approx(sum(picked) / len(picked), abs=1e-4)


def test_context_tail_and_start_token(vocab: Vocab) -> None:
    """<s> starts a whole context; a long one is cut to its tail without <s>."""
    assert context_ids(vocab, "") == [vocab.start_index]
    assert context_ids(vocab, "The")[0] == vocab.start_index
    long_ids = context_ids(vocab, STORY * 20)
    assert vocab.start_index not in long_ids
    assert len(long_ids) <= CONTEXT_CHARS


def test_latin_keyword_is_a_whole_word() -> None:
    """After an English keyword the next character never extends the word ("door" not "doored")."""
    torch.manual_seed(3)
    vocab = Vocab.build(["door doored doors the cat sat. 그날에는 밤"])
    model = CharRNN(ModelConfig(vocab_size=len(vocab), dim_embeddings=8, rnn_size=16)).eval()
    prompts = [
        Prompt(
            context="",
            keyword="door",
            n=8,
            seed=s,
            settings=SampleSettings(max_chars=12, temperatures=(1.5,)),
        )
        for s in range(5)
    ]
    for samples in generate(model, vocab, prompts):
        for sample in samples:
            assert sample.text.startswith("door")
            after = sample.text[4:5]
            assert not (after.isascii() and after.isalpha()), sample.text


@pytest.mark.parametrize("mode", MODES)
def test_a_candidate_cut_mid_sentence_at_its_cap_is_not_finished(vocab: Vocab, mode: str) -> None:
    """Stopping at sentence ends, a text that reached its cap with no sentence end to go back to
    reads cut: it is marked unfinished (for the ranking). Trimmed back to a sentence end, or
    with stops off, it is finished."""

    def sample(script: str, stop: bool) -> Sample:
        settings = SampleSettings(temperatures=(0.0,), max_chars=12, stop_at_sentence_end=stop)
        model = ScriptedModel(vocab, script)
        [got] = generate(model, vocab, [Prompt("x", n=1, settings=settings)], mode)[0]  # type: ignore[arg-type]
        return got

    cut = sample("그는 집에 가고 그녀는 웃었", stop=True)
    assert (cut.text, cut.finished) == ("그는 집에 가고", False)
    assert sample("그는 집에 가고 그녀는 웃었", stop=False).finished
    assert sample("그는 갔다. 그녀는 웃었", stop=True).finished
