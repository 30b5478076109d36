"""Sampling: many prompts x many candidates in one batch, one model forward per character.

`generate` is the API the trainer and the bot's worker use; the loop itself is in `_decode.py`.
Each candidate owns a torch.Generator seeded `seed + i`, so a batched run gives exactly the texts
of separate runs. Only the tail of a context is read; the keyword is fed after it, so the
continuation starts with it. Over-generated candidates are re-ranked by `sentences.rank_score`.
The CLI commands `generate` and `next` (with textgenrnn's interactive top-N mode) live here too.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from engine._decode import Job, decode
from engine.checkpoint import load
from engine.errors import EngineError
from engine.model import CharRNN, pick_device
from engine.sentences import rank_score
from engine.vocab import Vocab, normalize

Mode = Literal["stream", "window"]

# Only the tail of a story is read: enough for the attention window and the RNN to settle.
CONTEXT_CHARS = 500


@dataclass(frozen=True)
class SampleSettings:
    """How to sample; every prompt carries its own."""

    max_chars: int = 300  # hard cap on generated characters
    min_chars: int = 0  # never stop at a sentence end before this many
    temperatures: tuple[float, ...] = (0.8,)  # cycled over a prompt's candidates; 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off
    repetition_penalty: float = 1.0  # 1.0 = off
    stop_at_sentence_end: bool = False  # Korean and English sentence ends
    overgenerate: int = 1  # sample overgenerate*n, re-rank, keep the best n

    def __post_init__(self) -> None:
        if self.max_chars < 0 or self.min_chars < 0:
            raise EngineError("max_chars and min_chars must not be negative")
        if any(t < 0 for t in self.temperatures):
            raise EngineError("temperatures must not be negative")
        if self.top_k < 0 or not 0.0 < self.top_p <= 1.0:
            raise EngineError("top_k must be >= 0 and top_p in (0, 1]")
        if self.repetition_penalty <= 0 or self.overgenerate < 1:
            raise EngineError("repetition_penalty must be > 0 and overgenerate >= 1")


@dataclass(frozen=True)
class Prompt:
    """One request: a story tail and how many candidates to continue it with.

    The keyword counts towards max_chars; it is joined to the context as given (add a space to
    one of them when a new word should start)."""

    context: str = ""  # text so far (only its tail is read)
    keyword: str = ""  # the continuation is forced to begin with it
    n: int = 3  # candidates
    seed: int = 0  # candidate i uses its own generator seeded seed + i
    settings: SampleSettings = field(default_factory=SampleSettings)


@dataclass(frozen=True)
class Sample:
    """One candidate continuation."""

    text: str  # the continuation only (not the context)
    mean_logprob: float  # mean log-probability of the sampled characters
    temperature: float
    seed: int


def context_ids(vocab: Vocab, context: str, tail: int = CONTEXT_CHARS) -> list[int]:
    """Token ids of the context's tail; <s> first only when the whole context is read."""
    context = normalize(context)
    if len(context) <= tail:
        return [vocab.start_index, *vocab.encode(context)]
    cut = context[-tail:]
    # Start at a word boundary when one is near, so the model does not begin mid-word.
    space = next((i for i, c in enumerate(cut[: tail // 5]) if c.isspace()), -1)
    return vocab.encode(cut[space + 1 :])


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
        ids = context_ids(vocab, prompt.context) + vocab.encode(keyword)
        for i in range(max(1, s.overgenerate) * prompt.n):
            temps = s.temperatures or (0.8,)
            jobs.append(Job(p, ids, keyword, temps[i % len(temps)], prompt.seed + i, s))
    texts, logps = decode(model, vocab, jobs, mode) if jobs else ([], [])
    out: list[list[Sample]] = [[] for _ in prompts]
    for job, text, lp in zip(jobs, texts, logps, strict=True):
        out[job.prompt].append(Sample(text, lp, job.temperature, job.seed))
    for p, prompt in enumerate(prompts):
        if prompt.settings.overgenerate > 1:
            key = normalize(prompt.keyword)
            order = sorted(
                range(len(out[p])),
                key=lambda j: (-rank_score(out[p][j].text, out[p][j].mean_logprob, key), j),
            )
            out[p] = [out[p][j] for j in order[: prompt.n]]
    return out


@torch.inference_mode()
def next_probs(model: CharRNN, vocab: Vocab, context: str, mode: Mode = "window") -> Tensor:
    """(V,) the model's softmax over the character after `context` (specials included)."""
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
        logits = exact.forward_window(torch.tensor([ids], device=device))
    else:
        logits, _ = exact.prime(torch.tensor([ids], device=device))
    return torch.softmax(logits[0], dim=-1).float().cpu()


# -- command line ---------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[CharRNN, Vocab]:
    device_name = getattr(args, "device", None)
    device = torch.device(device_name) if device_name else pick_device()
    # One character per step is tiny work: a second thread only adds synchronisation, and on a
    # shared, busy CPU threads that wait for each other make each step many times slower.
    torch.set_num_threads(1)
    checkpoint = load(args.model, device)
    return checkpoint.model, checkpoint.vocab


def main_generate(args: argparse.Namespace) -> int:
    """`generate`: sample n continuations of --prefix; --json prints {"candidates": [...]}."""
    if args.n < 1:
        raise EngineError("-n must be at least 1")
    settings = SampleSettings(
        max_chars=args.max_chars,
        temperatures=tuple(args.temperature),
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        stop_at_sentence_end=args.stop == "sentence",
        overgenerate=args.overgenerate,
    )
    prompt = Prompt(
        context=args.prefix,
        keyword=args.keyword or "",
        n=args.n,
        seed=args.seed,
        settings=settings,
    )
    model, vocab = _load(args)
    samples = generate(model, vocab, [prompt], mode=args.mode)[0]
    if args.json:
        rows = [
            {
                "text": s.text,
                "mean_logprob": round(s.mean_logprob, 6),
                "temperature": s.temperature,
                "seed": s.seed,
            }
            for s in samples
        ]
        print(json.dumps({"candidates": rows}, ensure_ascii=False))
        return 0
    for i, s in enumerate(samples, 1):
        print(
            f"--- {i}  temperature {s.temperature:g}  seed {s.seed}  "
            f"mean log p {s.mean_logprob:.3f}"
        )
        print(args.prefix + s.text)
    return 0


def _shown(char: str) -> str:
    """A character as a user can read it in a list (newline, space, tab made visible)."""
    return (
        json.dumps(char, ensure_ascii=False) if char.isspace() or not char.isprintable() else char
    )


def main_next(args: argparse.Namespace) -> int:
    """`next`: the --top most likely next characters; --interactive picks them one by one."""
    model, vocab = _load(args)
    if args.interactive:
        return _interactive(model, vocab, args)
    probs = next_probs(model, vocab, args.prefix, args.mode)
    values, indices = probs.topk(min(max(1, args.top), len(vocab)))
    specials = set(vocab.special_indices())
    rows: list[dict[str, object]] = []
    for p, i in zip(values.tolist(), indices.tolist(), strict=True):
        row: dict[str, object] = {"char": vocab.tokens[i], "p": p}
        if i in specials:
            row["special"] = True  # a token such as <pad>, not a character
        rows.append(row)
    if args.json:
        print(json.dumps({"next": rows}, ensure_ascii=False))
        return 0
    for rank, row in enumerate(rows, 1):
        label = f"{row['char']} (special)" if row.get("special") else _shown(str(row["char"]))
        print(f"{rank:>3}  {label:<12} {row['p']:.4f}")
    return 0


def _interactive(model: CharRNN, vocab: Vocab, args: argparse.Namespace) -> int:
    """textgenrnn's top-N mode: show the likeliest next characters, the user picks one by number;
    an empty line, q or the end of input stops. Specials are not offered."""
    out = sys.stderr if args.json else sys.stdout
    specials = set(vocab.special_indices())
    text = args.prefix
    while True:
        probs = next_probs(model, vocab, text, args.mode)
        order = [i for i in probs.argsort(descending=True).tolist() if i not in specials]
        choices = order[: max(1, args.top)]
        print(f"\n{text[-200:]}", file=out)
        for rank, i in enumerate(choices, 1):
            print(f"{rank:>3}  {_shown(vocab.tokens[i]):<6} {float(probs[i]):.4f}", file=out)
        print("pick a number (empty or q to stop): ", end="", file=out, flush=True)
        line = sys.stdin.readline().strip()
        if line in ("", "q"):
            break
        if not line.isdigit() or not 1 <= int(line) <= len(choices):
            print(f"not a choice: {line!r}", file=out)
            continue
        text += vocab.tokens[choices[int(line) - 1]]
    print("", file=out)
    if args.json:
        print(json.dumps({"text": text}, ensure_ascii=False))
    else:
        print(text)
    return 0
