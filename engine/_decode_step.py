"""One decoding step, shared by both decode loops (`_decode_eager.py`, `_decode_graph.py`), and
how their rows start and end.

Rows are candidates (`Job`s). Each row draws all its uniforms up front from its own generator and
turns uniform t into character t by an inverse-CDF pick in vocabulary order, so its text depends
only on its own prompt, settings and seed, never on the rest of the batch.

A step, vectorised over rows: mask specials -> repetition penalty -> temperature -> top-k /
top-p (rows that use them only: sorting is slow on the CPU) -> pick (argmax at temperature 0)
-> sentence-end and length checks -> the ring of recent tokens. Nothing in it asks the host, so
the CUDA-graph loop can capture it; the step number may be a device tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import torch
from torch import Tensor

from engine.model import CharRNN, StreamState
from engine.model_config import Mode
from engine.requests import SampleSettings
from engine.sentences import (
    CharClasses,
    char_classes,
    ends_sentence,
    grow_word,
    sentence_ends,
    trim_capped,
    word_code,
)
from engine.vocab import LEAD, OTHER, TAIL, VOWEL, Vocab, jamo_kind, normalize, to_jamo

__all__ = [
    "Decoded",
    "Job",
    "Rows",
    "Tables",
    "finish",
    "init_rows",
    "make_tables",
    "sample",
    "start",
    "update_stop",
]

# What a decode loop returns per job: texts, mean log-probabilities, finished flags.
Decoded = tuple[list[str], list[float], list[bool]]
# The repetition penalty covers this many recent characters (context and keyword included).
REPETITION_WINDOW = 32
# The most tokens a character takes in a jamo vocabulary (a syllable with a trailing consonant),
# which sizes its rows' token budget.
TOKENS_PER_CHAR = 3


@dataclass(frozen=True)
class Job:
    """One candidate row before batching."""

    prompt: int  # index of its prompt; the rows of one prompt are adjacent
    ids: list[int]  # context + keyword ids fed before sampling
    keyword: str
    temperature: float
    seed: int
    settings: SampleSettings


@dataclass
class Rows:
    """Per-row tensors of the active part of the batch; `keep` drops finished rows."""

    rows: Tensor  # (R,) global row ids
    logits: Tensor  # (R, V) next-token logits
    state: StreamState | None  # stream mode
    window: Tensor | None  # (R, L) window mode: the last max_length tokens
    uniforms: Tensor  # (R, S)
    temperature: Tensor  # (R,)
    top_k: Tensor  # (R,) V when off
    top_p: Tensor  # (R,)
    filter_idx: Tensor  # (F,) the rows that use top-k or top-p
    penalty: Tensor  # (R,)
    recent: Tensor  # (R, N) ring of recent tokens for the repetition penalty
    counts: Tensor  # (R, V) how often each token is in `recent`
    stop: Tensor  # (R,) bool: stop at sentence ends
    min_len: Tensor  # (R,) no sentence stop before this text length
    written: Tensor  # (R,) characters already in the text (the keyword at first)
    limit: Tensor  # (R,) cap on the text's characters (max_chars)
    steps: Tensor  # (R,) cap on sampled tokens
    last: Tensor  # (R,) jamo kind of the last sampled token (OTHER before the first)
    pending: Tensor  # (R,) bool: the text ends with terminator + closers
    word: Tensor  # (R,) `word_code` of the word at the end of the text (0: none)
    finished: Tensor  # (R,) bool
    kept: Tensor  # (R,) sampled characters that stay in the text
    capped: Tensor  # (R,) bool: stopped by the length cap

    def keep(self, mask: Tensor) -> Rows:
        idx = mask.nonzero().squeeze(1)
        fields: dict[str, Any] = {
            k: v.index_select(0, idx) if isinstance(v, Tensor) else v
            for k, v in vars(self).items()
            if k != "filter_idx"
        }
        fields["filter_idx"] = _filter_rows(fields["top_k"], fields["top_p"], self.logits.size(1))
        out = Rows(**fields)
        if self.state is not None:
            out.state = self.state.select(idx)
        return out


@dataclass(frozen=True)
class Tables:
    """Per-token facts every step reads."""

    flags: dict[str, Tensor]  # (V,) character classes for the stop rules
    specials: Tensor  # (V,) bool: never sampled
    ranks: Tensor  # (V,) 0..V-1, for top-k
    penalty: bool  # whether any row uses the repetition penalty
    jamo: bool  # Hangul is sampled as jamo: only whole syllables may be written


def _filter_rows(top_k: Tensor, top_p: Tensor, vocab_size: int) -> Tensor:
    return ((top_k < vocab_size) | (top_p < 1.0)).nonzero().squeeze(1)


def start(model: CharRNN, vocab: Vocab, jobs: list[Job], mode: Mode) -> tuple[Rows, Tables, int]:
    """Every prompt read, the rows and tables set up, and the width: the most tokens any row
    samples."""
    device = next(model.parameters()).device
    per_char = TOKENS_PER_CHAR if vocab.jamo else 1
    caps = [max(0, j.settings.max_chars - len(j.keyword)) * per_char for j in jobs]
    width = max(caps)
    classes = char_classes(vocab.tokens)
    state, window, logits = _prime(model, jobs, mode, device)
    rows = init_rows(vocab, classes, jobs, caps, width, _whole_word(vocab, jobs, logits))
    rows.state, rows.window = state, window
    return rows, make_tables(vocab, classes, jobs, device), width


def _prime(
    model: CharRNN, jobs: list[Job], mode: Mode, device: torch.device
) -> tuple[StreamState | None, Tensor | None, Tensor]:
    """Read each prompt once and repeat its state for its candidates (jobs come grouped)."""
    grouped = [list(g) for _, g in groupby(jobs, key=lambda j: j.prompt)]
    groups = [len(g) for g in grouped]
    prompt_ids = [g[0].ids for g in grouped]
    if mode == "window":
        length = model.config.max_length
        rows = [[0] * max(0, length - len(ids)) + ids[-length:] for ids in prompt_ids]
        window = torch.tensor(rows, dtype=torch.long, device=device)  # (P, L)
        window = window.repeat_interleave(torch.tensor(groups, device=device), dim=0)
        return None, window, model(window, mode="window")[0]
    states, logits = [], []
    for ids, n in zip(prompt_ids, groups, strict=True):
        lg, st = model.prime(torch.tensor([ids], dtype=torch.long, device=device))
        rep = torch.zeros(n, dtype=torch.long, device=device)
        states.append(st.select(rep))
        logits.append(lg.index_select(0, rep))
    return StreamState.cat(states), None, torch.cat(logits)


def _whole_word(vocab: Vocab, jobs: list[Job], logits: Tensor) -> Tensor:
    """A Latin keyword is a whole word: "door" must not go on as "doored". (Korean keywords take
    particles, so they may go on: 그날 -> 그날에는.) (R, V) first logits -> masked."""
    device = logits.device
    letters = torch.tensor(
        [len(c) == 1 and c.isascii() and c.isalpha() for c in vocab.tokens], device=device
    )
    whole_word = torch.tensor(
        [j.keyword[-1:].isascii() and j.keyword[-1:].isalnum() for j in jobs], device=device
    )
    return logits.masked_fill(whole_word.unsqueeze(1) & letters, float("-inf"))


def make_tables(
    vocab: Vocab, classes: CharClasses, jobs: list[Job], device: torch.device
) -> Tables:
    """Character classes for the stops, the specials, the ranks for top-k."""
    flags = {
        k: torch.tensor(getattr(classes, k), device=device)
        for k in ("terminator", "closer", "space", "newline", "letter", "dot")
    }
    flags["abbreviations"] = torch.tensor(classes.abbreviations or [-1], device=device)
    # What each token is as a jamo, and the characters it adds to the text: a syllable counts
    # once, at its vowel; its leading and trailing consonants add none.
    kinds = [jamo_kind(t) if vocab.jamo else OTHER for t in vocab.tokens]
    flags["kinds"] = torch.tensor(kinds, device=device)
    flags["chars"] = torch.tensor([int(k in (OTHER, VOWEL)) for k in kinds], device=device)
    specials = torch.zeros(len(vocab), dtype=torch.bool, device=device)
    specials[vocab.special_indices()] = True
    ranks = torch.arange(len(vocab), device=device)
    penalty = any(j.settings.repetition_penalty != 1.0 for j in jobs)
    return Tables(flags, specials, ranks, penalty, vocab.jamo)


def init_rows(
    vocab: Vocab,
    classes: CharClasses,
    jobs: list[Job],
    caps: list[int],
    width: int,
    logits: Tensor,
) -> Rows:
    """The rows before step 0, reading `logits` (R, V) next; no RNN state or window yet."""
    total, vsize, device = len(jobs), len(vocab), logits.device
    uniforms = torch.full((total, max(width, 1)), 0.5)
    for r, (job, cap) in enumerate(zip(jobs, caps, strict=True)):
        gen = torch.Generator().manual_seed(job.seed)
        uniforms[r, :cap] = torch.rand(cap, generator=gen)
    size = REPETITION_WINDOW
    recent = torch.zeros(total, size, dtype=torch.long)  # left-padded with <pad>
    for r, job in enumerate(jobs):
        tail = job.ids[-size:]
        recent[r, size - len(tail) :] = torch.tensor(tail, dtype=torch.long)
    counts = torch.zeros(total, vsize, dtype=torch.long)
    counts.scatter_add_(1, recent, torch.ones_like(recent))
    pending = [_ends_pending(j.keyword) for j in jobs]

    def col(values: Sequence[float | int | bool], dtype: torch.dtype) -> Tensor:
        return torch.tensor(list(values), dtype=dtype, device=device)

    top_k = col([j.settings.top_k if j.settings.top_k > 0 else vsize for j in jobs], torch.long)
    top_p = col([j.settings.top_p for j in jobs], torch.float)
    return Rows(
        rows=torch.arange(total, device=device),
        logits=logits,
        state=None,
        window=None,
        uniforms=uniforms.to(device),
        temperature=col([j.temperature for j in jobs], torch.float),
        top_k=top_k,
        top_p=top_p,
        filter_idx=_filter_rows(top_k, top_p, vsize),
        penalty=col([j.settings.repetition_penalty for j in jobs], torch.float),
        recent=recent.to(device),
        counts=counts.to(device),
        stop=col([j.settings.stop_at_sentence_end for j in jobs], torch.bool),
        min_len=col([max(1, j.settings.min_chars) for j in jobs], torch.long),
        written=col([len(j.keyword) for j in jobs], torch.long),
        limit=col([j.settings.max_chars for j in jobs], torch.long),
        steps=col(caps, torch.long),
        last=torch.zeros(total, dtype=torch.long, device=device),
        pending=col(pending, torch.bool),
        word=col([word_code(j.ids, classes.letter) for j in jobs], torch.long),
        finished=col([c == 0 for c in caps], torch.bool),
        kept=torch.zeros(total, dtype=torch.long, device=device),
        capped=col([c == 0 for c in caps], torch.bool),
    )


def _ends_pending(keyword: str) -> bool:
    """Whether the keyword ends a sentence that only the next whitespace would confirm."""
    text = normalize(keyword)
    return len(text) in sentence_ends(text)


def sample(rows: Rows, tables: Tables, t: int | Tensor) -> tuple[Tensor, Tensor]:
    """Step t of every row: pick a token from its logits with its uniform t, update the stop
    rules and the ring of recent tokens -> (R,) tokens and their log-probabilities at
    temperature 1. `t` may be a (1,) device tensor: then nothing here asks the host."""
    count = rows.rows.size(0)
    if isinstance(t, Tensor):
        column = t.expand(count).unsqueeze(1)  # (R, 1)
    else:
        column = torch.full((count, 1), t, dtype=torch.long, device=rows.rows.device)
    tok, logp = _pick(rows, rows.uniforms.gather(1, column), tables)
    update_stop(rows, tok, t, tables.flags)
    if tables.penalty:
        slot = column % rows.recent.size(1)  # (R, 1)
        old = rows.recent.gather(1, slot)
        rows.counts.scatter_add_(1, old, torch.full_like(old, -1))
        rows.counts.scatter_add_(1, tok.unsqueeze(1), torch.ones_like(old))
        rows.recent.scatter_(1, slot, tok.unsqueeze(1))
    return tok, logp


def _pick(r: Rows, uniform: Tensor, tables: Tables) -> tuple[Tensor, Tensor]:
    """(R, V) logits and (R, 1) uniforms -> (R,) sampled tokens and their log-probabilities at
    temperature 1."""
    logits = r.logits
    x = logits.masked_fill(tables.specials, float("-inf"))
    if tables.jamo:
        x = x.masked_fill(_broken(r.last, tables.flags["kinds"]), float("-inf"))
    if tables.penalty:
        pen = r.penalty.unsqueeze(1)  # (R, 1)
        x = torch.where(r.counts > 0, torch.where(x > 0, x / pen, x * pen), x)
    greedy = r.temperature <= 0
    temp = torch.where(greedy, torch.ones_like(r.temperature), r.temperature).unsqueeze(1)
    probs = torch.softmax(x / temp, dim=-1)  # (R, V) in vocabulary order
    if len(r.filter_idx):
        # Sorting is slow on the CPU (~35 us a row), so only the rows that filter pay for it.
        fi = r.filter_idx
        sub = probs.index_select(0, fi)  # (F, V)
        sorted_p, order = torch.sort(sub, dim=-1, descending=True)
        top_p = r.top_p.index_select(0, fi).unsqueeze(1)
        drop = (tables.ranks >= r.top_k.index_select(0, fi).unsqueeze(1)) | (
            (top_p < 1.0) & (sorted_p.cumsum(dim=-1) - sorted_p > top_p)
        )
        drop[:, 0] = False
        mask = torch.zeros_like(drop).scatter_(1, order, drop)
        probs = probs.index_copy(0, fi, sub.masked_fill(mask, 0.0))
    cdf = probs.cumsum(dim=-1)  # (R, V)
    total = cdf[:, -1:]
    # Strictly below the total, so the pick always lands on a token of non-zero probability.
    target = torch.minimum(uniform * total, torch.nextafter(total, total * 0))
    pick = torch.searchsorted(cdf, target, right=True).squeeze(1)
    tok = torch.where(greedy, x.argmax(dim=-1), pick)  # (R,)
    logp = logits.gather(1, tok.unsqueeze(1)).squeeze(1) - torch.logsumexp(logits, dim=-1)
    return tok, logp


def _broken(last: Tensor, kinds: Tensor) -> Tensor:
    """(R, V) True where a token would break a syllable after each row's last token: a vowel
    only after a leading consonant, and nothing else there; a trailing consonant only after a
    vowel. Before the first token `last` is OTHER, so a candidate never starts inside the
    context's last syllable."""
    after = last.unsqueeze(1)  # (R, 1)
    kind = kinds.unsqueeze(0)  # (1, V)
    return (
        ((kind == VOWEL) & (after != LEAD))
        | ((kind != VOWEL) & (after == LEAD))
        | ((kind == TAIL) & (after != VOWEL))
    )


def update_stop(r: Rows, tok: Tensor, t: int | Tensor, flags: dict[str, Tensor]) -> None:
    """Finish rows at the length cap, or (when they stop at sentence ends, not before min_chars)
    at whitespace (a newline included) after terminator + closers, which is not kept. Rebinds
    the fields it changes (the CUDA-graph loop copies them back into its buffers)."""
    length = r.written  # text length before this token
    allowed = r.stop & (length >= r.min_len)
    at_end = allowed & r.pending & (flags["newline"][tok] | flags["space"][tok])
    title = flags["dot"][tok] & (r.word.unsqueeze(1) == flags["abbreviations"]).any(dim=1)
    r.pending = (flags["terminator"][tok] & ~title) | (r.pending & flags["closer"][tok])
    r.word = torch.where(flags["letter"][tok], grow_word(r.word, tok), torch.zeros_like(r.word))
    r.written = r.written + flags["chars"][tok]
    r.last = flags["kinds"][tok]
    at_cap = ~at_end & ((r.steps <= t + 1) | (r.written >= r.limit))
    new = ~r.finished & (at_end | at_cap)
    r.kept = torch.where(new, torch.where(at_end, t, t + 1), r.kept)
    r.capped = r.capped | (new & at_cap)
    r.finished = r.finished | new


def _tokens(vocab: Vocab, text: str) -> int:
    """How many tokens wrote `text`: its jamo count where syllables were sampled as jamo."""
    return len(to_jamo(text)) if vocab.jamo else len(text)


def finish(
    vocab: Vocab,
    jobs: list[Job],
    tokens: Tensor,
    logps: Tensor,
    kept: list[int],
    capped: list[bool],
) -> Decoded:
    """Texts (a capped one trimmed to a clean end), their mean log-probabilities, and whether
    each is finished: False for a row that was to stop at a sentence end but reached its cap
    with no sentence end to go back to, so it ends mid-sentence."""
    texts, means, finished = [], [], []
    for r, job in enumerate(jobs):
        sampled = vocab.decode(tokens[r, : kept[r]].tolist())
        text = job.keyword + sampled
        s = job.settings
        done = True
        if capped[r]:
            text = trim_capped(text, s.min_chars, len(job.keyword), s.stop_at_sentence_end)
            done = not s.stop_at_sentence_end or ends_sentence(text)
        n = max(0, _tokens(vocab, text) - _tokens(vocab, job.keyword))
        means.append(float(logps[r, :n].mean()) if n else 0.0)
        texts.append(text)
        finished.append(done)
    return texts, means, finished
