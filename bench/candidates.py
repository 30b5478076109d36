"""How the candidates of `/continue` end: prints ONE JSON object on stdout.

For each length asked, `--requests` requests as the bot sends them (config.toml [writer]: 600
characters of story tail, 3 candidates, no stop before 0.6 x the length, at most 1.5 x, stop at
a sentence end, top-p 0.95, repetition penalty 1.1, over-generation 2, distinct), each on another
excerpt of weights/default/eval.txt and seed: how many of the candidates shown end a sentence
(`engine.sentences.ends_sentence`), and their mean length.

    .venv/bin/python bench/candidates.py [--model weights/default] [--requests 40]
        [--lengths 80 150]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from _continue import CONTEXT_CHARS, continue_settings

    from engine.checkpoint import load
    from engine.generate import Prompt, generate
    from engine.sentences import ends_sentence

    torch.set_num_threads(1)
    writer = load(args.model)
    text = (ROOT / "weights" / "default" / "eval.txt").read_text(encoding="utf-8")
    rng = random.Random(7)
    result: dict[str, Any] = {"model": args.model, "requests": args.requests, "lengths": {}}
    for length in args.lengths:
        settings = continue_settings(length)
        shown: list[str] = []
        for i in range(args.requests):
            start = rng.randrange(0, len(text) - CONTEXT_CHARS)
            prompt = Prompt(
                text[start : start + CONTEXT_CHARS], n=3, seed=100 * i, settings=settings
            )
            shown += [c.text for c in generate(writer.model, writer.vocab, [prompt])[0]]
        result["lengths"][str(length)] = {
            "candidates": len(shown),
            "end_a_sentence": sum(ends_sentence(t) for t in shown),
            "mean_chars": round(statistics.mean(len(t) for t in shown), 1),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "weights" / "default"))
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--lengths", type=int, nargs="+", default=[80, 150])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(measure(args), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
