"""Judges of over-generated candidates: does a candidate fit its story, does it repeat words.

Ranking by mean log-probability alone favours safe, generic text: what is likely after any story
is likely after this one. The relevance judge asks how much more likely a candidate is after its
own story than after no story, log p(c | story) - log p(c | empty) per character (the first term
is the sample's own mean log-probability; the second is one teacher-forced pass over all of a
request's candidates in one batch). The repetition judge counts words said twice back to back
("그러나 그러나") and word pairs said twice, which the character n-gram check in
`sentences.repeated_fraction` misses when the repeat is short.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch

from engine.model import CharRNN
from engine.vocab import Vocab

__all__ = [
    "RELEVANCE_WEIGHT",
    "WORD_REPEAT_WEIGHT",
    "back_to_back",
    "continuation_logprobs",
    "word_repeats",
    "words",
]

# Re-ranking weights (in mean log-probability, nats/char): a candidate gains this much per nat it
# is more likely after its story than after none, and loses this much per repeated word or pair.
# Chosen on 100 `/continue`s of the shipped writer at lengths 80 and 150 (README, "Candidates
# that fit"): relevance weights 0 / 2 / 4 / 6 / 8 / 16 gave 0.980 / 0.980 / 0.983 / 0.990 /
# 0.993 / 0.993 of the candidates shown fitting their story at 150 (0.983 … 0.990 at 80); 6 is
# where both lengths reached 0.99, and more cost fluency for little.
RELEVANCE_WEIGHT = 6.0
WORD_REPEAT_WEIGHT = 0.3
# Rows read in one batch: its logits are rows x length x vocabulary floats.
ROWS_AT_ONCE = 16
PUNCTUATION = ".,!?;:\"'“”‘’()[]…·-—"


@torch.inference_mode()
def continuation_logprobs(
    model: CharRNN, vocab: Vocab, prefixes: Sequence[list[int]], texts: Sequence[list[int]]
) -> list[float]:
    """Mean log-probability per character of each `texts[i]` (token ids) read after
    `prefixes[i]` (token ids, <s> first when the text starts there), teacher-forced in
    stream mode from a zero state, ROWS_AT_ONCE rows a batch. An empty text scores 0."""
    means: list[float] = []
    for at in range(0, len(texts), ROWS_AT_ONCE):
        means += _batch_logprobs(
            model, prefixes[at : at + ROWS_AT_ONCE], texts[at : at + ROWS_AT_ONCE]
        )
    return means


def _batch_logprobs(
    model: CharRNN, prefixes: Sequence[list[int]], texts: Sequence[list[int]]
) -> list[float]:
    rows = [[*p, *t] for p, t in zip(prefixes, texts, strict=True)]
    device = next(model.parameters()).device
    idx = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long, device=device)
    for i, row in enumerate(rows):  # right-padded: the padding comes after all that counts
        idx[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    logits, _, _ = model(idx, mode="stream")  # (B, T, V): position t predicts token t + 1
    means: list[float] = []
    for i, (prefix, text) in enumerate(zip(prefixes, texts, strict=True)):
        if not text or not prefix:
            means.append(0.0)
            continue
        start = len(prefix)
        logp = torch.log_softmax(logits[i, start - 1 : start - 1 + len(text)].float(), dim=-1)
        targets = idx[i, start : start + len(text)].unsqueeze(1)
        means.append(float(logp.gather(1, targets).mean()))
    return means


def words(text: str) -> list[str]:
    """The words of a text in lower case, punctuation around each taken off."""
    stripped = (w.strip(PUNCTUATION) for w in text.casefold().split())
    return [w for w in stripped if w]


def back_to_back(text: str) -> int:
    """How many words are said again right after themselves ("그러나 그러나")."""
    return sum(a == b for a, b in pairwise(words(text)))


def word_repeats(text: str) -> int:
    """Words said again right after themselves, plus word pairs said before in the text:
    0 for fresh text."""
    pairs = list(pairwise(words(text)))
    return back_to_back(text) + len(pairs) - len(set(pairs))
