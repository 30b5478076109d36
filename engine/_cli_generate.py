"""The `generate` and `next` commands (with textgenrnn's interactive top-N mode).

Their arguments are declared in `cli.py`, with defaults read from `engine.requests`."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from engine.checkpoint import load
from engine.generate import generate, next_probs
from engine.model import CharRNN, pick_device
from engine.requests import Prompt, SampleSettings, context_tail
from engine.vocab import Vocab

__all__ = ["main_generate", "main_next"]


def _load(args: argparse.Namespace) -> tuple[CharRNN, Vocab]:
    device_name = getattr(args, "device", None)
    device = torch.device(device_name) if device_name else pick_device()
    # One character per step is tiny work: a second thread only adds synchronisation, and on a
    # shared, busy CPU threads that wait for each other make each step many times slower.
    torch.set_num_threads(1)
    checkpoint = load(args.model, device, getattr(args, "quantize", "none"))
    return checkpoint.model, checkpoint.vocab


def main_generate(args: argparse.Namespace) -> int:
    """`generate`: sample n continuations of --prefix; --json prints {"candidates": [...]}."""
    settings = SampleSettings(
        max_chars=args.max_chars,
        min_chars=args.min_chars,
        temperatures=tuple(args.temperature),
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        stop_at_sentence_end=args.stop == "sentence",
        overgenerate=args.overgenerate,
        distinct=args.distinct,
    )
    prompt = Prompt(
        context=context_tail(args.prefix, args.context_chars),
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
