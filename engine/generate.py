"""Generation: many prompts x many candidates in one batch, one model forward per character.

`generate` is the API the trainer and the bot's worker use; `next_probs` reads the model's
distribution of the next character. The request types are in `requests.py`, the decode loops in
`_decode_eager.py` and `_decode_graph.py` (which `decode` here chooses between), the `generate`
and `next` commands in `_cli_generate.py`.

Each candidate owns a torch.Generator seeded `seed + i`, so a batched run gives exactly the texts
of separate runs. A prompt's whole context is read (the caller decides how much of a story to
send); the keyword is fed after it, so the continuation starts with it. Over-generated candidates
are re-ranked by `sentences.rank_score` (a candidate cut mid-sentence at its length cap ranks
low) and, with `judges`, by how much better they fit their story than no story and by the words
they repeat (`judges.py`: one more batched pass); `distinct` keeps only the first of equal texts.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Sequence

import torch
from torch import Tensor

from engine._decode_eager import decode_eager
from engine._decode_graph import decode_graph
from engine._decode_step import Decoded, Job
from engine.errors import EngineError
from engine.judges import (
    RELEVANCE_WEIGHT,
    WORD_REPEAT_WEIGHT,
    continuation_logprobs,
    word_repeats,
)
from engine.model import CharRNN
from engine.model_config import Mode
from engine.requests import CONTEXT_CHARS, Prompt, Sample, SampleSettings, context_tail
from engine.sentences import rank_score
from engine.vocab import Vocab, normalize

__all__ = [
    "CONTEXT_CHARS",
    "Mode",
    "Prompt",
    "Sample",
    "SampleSettings",
    "capture_error",
    "context_ids",
    "decode",
    "generate",
    "next_probs",
]

# On CUDA, stream mode replays a captured step (engine/_decode_graph.py) unless this is "0".
CUDA_GRAPHS = "RELAYTALE_CUDA_GRAPHS"
# Why a capture failed in this process; after one failure every call runs the eager loop.
_GRAPHS_FAILED: list[str] = []


def context_ids(vocab: Vocab, context: str, tail: int | None = CONTEXT_CHARS) -> list[int]:
    """Token ids of a context: <s> + all of it when it is read whole (`tail` None, or a context
    no longer than `tail`); else its last `tail` characters from a word boundary, without <s>,
    since the text does not start there."""
    context = normalize(context)
    if tail is None or len(context) <= tail:
        return [vocab.start_index, *vocab.encode(context)]
    return vocab.encode(context_tail(context, tail))


@torch.inference_mode()
def generate(
    model: CharRNN, vocab: Vocab, prompts: Sequence[Prompt], mode: Mode = "stream"
) -> list[list[Sample]]:
    """All prompts x candidates batched: one forward per step. Candidate i of a prompt with seed s
    gives the same text as a separate run of that prompt with n=1 and seed s+i."""
    jobs: list[Job] = []
    for p, prompt in enumerate(prompts):
        s = prompt.settings
        keyword = normalize(prompt.keyword)
        ids = context_ids(vocab, prompt.context, tail=None) + vocab.encode(keyword)
        temps = s.temperatures or (0.8,)
        for i in range(s.overgenerate * prompt.n):
            jobs.append(Job(p, ids, keyword, temps[i % len(temps)], prompt.seed + i, s))
    texts, logps, finished = decode(model, vocab, jobs, mode) if jobs else ([], [], [])
    pools: list[list[Sample]] = [[] for _ in prompts]
    for job, text, lp, done in zip(jobs, texts, logps, finished, strict=True):
        pools[job.prompt].append(Sample(text, lp, job.temperature, job.seed, done))
    relevance = _relevance(model, vocab, pools, prompts, mode)
    return [
        _choose(pool, prompt, rel)
        for pool, prompt, rel in zip(pools, prompts, relevance, strict=True)
    ]


def decode(model: CharRNN, vocab: Vocab, jobs: list[Job], mode: Mode) -> Decoded:
    """Each job's text, mean log-probability and finished flag, from the one loop that suits:
    stream mode on CUDA replays a captured step (`decode_graph`), anything else runs the eager
    loop, as does every call after a capture this GPU or driver refused."""
    if mode == "stream" and model.config.rnn_bidirectional:
        raise EngineError("a bidirectional model can only generate in window mode")
    if _graphs_wanted(next(model.parameters()).device, mode):
        try:
            return decode_graph(model, vocab, jobs, capture=True)
        except RuntimeError as error:  # a capture this GPU or driver refuses: run eagerly
            _GRAPHS_FAILED.append(str(error))
            print(f"engine: CUDA graphs off after a failed capture ({error})", file=sys.stderr)
    return decode_eager(model, vocab, jobs, mode)


def _graphs_wanted(device: torch.device, mode: Mode) -> bool:
    """Stream mode on CUDA replays a captured step, unless turned off or a capture failed."""
    off = os.environ.get(CUDA_GRAPHS, "1") == "0" or bool(_GRAPHS_FAILED)
    return device.type == "cuda" and mode == "stream" and not off


def capture_error() -> str | None:
    """Why the first CUDA-graph capture of this process failed; None if none did."""
    return next(iter(_GRAPHS_FAILED), None)


def _judged(prompt: Prompt) -> bool:
    return prompt.settings.judges and prompt.settings.overgenerate > 1


def _relevance(
    model: CharRNN, vocab: Vocab, pools: list[list[Sample]], prompts: Sequence[Prompt], mode: Mode
) -> list[list[float] | None]:
    """Per judged prompt, each candidate's log p(c | story) - log p(c | empty) per character:
    the empty side for every judged candidate in one teacher-forced batch; None when unjudged.
    Stream mode only: a window-mode sample's figure is textgenrnn's, which a stream reading
    would not match."""
    if mode != "stream":
        return [None for _ in prompts]
    prefixes: list[list[int]] = []
    texts: list[list[int]] = []
    for pool, prompt in zip(pools, prompts, strict=True):
        if _judged(prompt):
            keyword = normalize(prompt.keyword)
            for sample in pool:
                prefixes.append(context_ids(vocab, "") + vocab.encode(keyword))
                texts.append(vocab.encode(sample.text[len(keyword) :]))
    empty = iter(continuation_logprobs(model, vocab, prefixes, texts))
    return [
        [s.mean_logprob - next(empty) for s in pool] if _judged(prompt) else None
        for pool, prompt in zip(pools, prompts, strict=True)
    ]


def _choose(
    pool: list[Sample], prompt: Prompt, relevance: list[float] | None = None
) -> list[Sample]:
    """The n candidates a prompt returns: the pool best first when over-generated (else in seed
    order), judged when asked; with `distinct`, a text equal to an earlier one (whitespace
    aside) is skipped."""
    s = prompt.settings
    order = list(range(len(pool)))
    if s.overgenerate > 1:
        key = normalize(prompt.keyword)
        scores = [_score(sample, key) for sample in pool]
        if relevance is not None:
            scores = [
                score + RELEVANCE_WEIGHT * rel - WORD_REPEAT_WEIGHT * word_repeats(sample.text)
                for score, rel, sample in zip(scores, relevance, pool, strict=True)
            ]
        order.sort(key=lambda j: (-scores[j], j))
    chosen: list[Sample] = []
    seen: set[str] = set()
    for j in order:
        if s.distinct:
            text = " ".join(pool[j].text.split())
            if text in seen:
                continue
            seen.add(text)
        chosen.append(pool[j])
        if len(chosen) == prompt.n:
            break
    return chosen


def _score(sample: Sample, keyword: str) -> float:
    return rank_score(sample.text, sample.mean_logprob, keyword, sample.finished)


@torch.inference_mode()
def next_probs(model: CharRNN, vocab: Vocab, context: str, mode: Mode = "window") -> Tensor:
    """(V,) the model's softmax over the character after `context` (specials included); reads
    the context's last CONTEXT_CHARS characters, as textgenrnn's top-N mode read a short tail."""
    if mode == "stream" and model.config.rnn_bidirectional:
        raise EngineError("a bidirectional model can only be read in window mode")
    device = next(model.parameters()).device
    # float64: fine-tuned textgenrnn models have logits near 80, where float32 rounding alone
    # moves probabilities by more than 1e-5. One forward pass, so the cost does not matter.
    exact = copy.deepcopy(model).double()
    ids = context_ids(vocab, context)
    if mode == "window":
        length = model.config.max_length
        ids = [0] * max(0, length - len(ids)) + ids[-length:]
        logits, _, _ = exact(torch.tensor([ids], device=device), mode="window")
    else:
        logits, _ = exact.prime(torch.tensor([ids], device=device))
    return torch.softmax(logits[0], dim=-1).float().cpu()
