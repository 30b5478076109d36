"""How the candidates of `/continue` end and whether they fit: prints ONE JSON object on stdout.

For each length asked, `--requests` requests as the bot sends them (config.toml [writer]: 600
characters of story tail, 3 candidates, no stop before 0.6 x the length, at most 1.5 x, stop at
a sentence end, top-p 0.95, repetition penalty 1.1, over-generation 2, distinct), each on another
excerpt of weights/default/eval.txt and seed, once without and once with the judges
(engine/judges.py); the same seeds, so both choose from the same pool. For the candidates shown:
how many end a sentence (`engine.sentences.ends_sentence`), their mean length, the share that
fit (more likely after their own story than after another request's story in the same
language, by the writer's own mean log-probability) and by how much on average (nats/char), the
share with a word said twice back to back and with a word pair said twice, and the time of a
request (p50, one torch thread).

    .venv/bin/python bench/candidates.py [--model weights/default] [--requests 40]
        [--lengths 80 150] [--judges off on]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def excerpts(text: str, count: int, chars: int) -> list[str]:
    """`count` story tails of `chars` characters at random places, the same every run."""
    rng = random.Random(7)
    starts = [rng.randrange(0, len(text) - chars) for _ in range(count)]
    return [text[s : s + chars] for s in starts]


def other_story(stories: list[str], korean: list[bool], i: int) -> str:
    """The next request's story in the same language as request i's."""
    same = [j for j in range(len(stories)) if j != i and korean[j] == korean[i]]
    return stories[min(same, key=lambda j: (j - i) % len(stories))]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from _continue import CONTEXT_CHARS, continue_settings

    from engine.checkpoint import load
    from engine.generate import Prompt, context_ids, generate
    from engine.judges import back_to_back, continuation_logprobs, word_repeats
    from engine.sentences import ends_sentence
    from engine.vocab import is_korean

    torch.set_num_threads(1)
    writer = load(args.model)
    model, vocab = writer.model, writer.vocab
    text = (ROOT / "weights" / "default" / "eval.txt").read_text(encoding="utf-8")
    stories = excerpts(text, args.requests, CONTEXT_CHARS)
    in_korean = [is_korean(story) for story in stories]
    result: dict[str, Any] = {"model": args.model, "requests": args.requests, "lengths": {}}
    for length in args.lengths:
        figures: dict[str, Any] = {}
        for judges in args.judges:
            settings = replace(continue_settings(length), judges=judges == "on")
            shown: list[tuple[int, str]] = []
            seconds: list[float] = []
            for i, story in enumerate(stories):
                prompt = Prompt(story, n=3, seed=100 * i, settings=settings)
                began = time.perf_counter()
                samples = generate(model, vocab, [prompt])[0]
                seconds.append(time.perf_counter() - began)
                shown += [(i, c.text) for c in samples]
            ids = [vocab.encode(t) for _, t in shown]
            after_own = [context_ids(vocab, stories[i]) for i, _ in shown]
            after_other = [
                context_ids(vocab, other_story(stories, in_korean, i)) for i, _ in shown
            ]
            own = continuation_logprobs(model, vocab, after_own, ids)
            other = continuation_logprobs(model, vocab, after_other, ids)
            fits = [a > b for a, b in zip(own, other, strict=True)]
            korean = [in_korean[i] for i, _ in shown]
            texts = [t for _, t in shown]

            def share(flags: list[bool], among: list[bool] | None = None) -> float:
                picked = [f for f, k in zip(flags, among or [True] * len(flags), strict=True) if k]
                return round(sum(picked) / max(1, len(picked)), 3)

            repeats = [back_to_back(t) > 0 for t in texts]
            pairs = [word_repeats(t) > back_to_back(t) for t in texts]
            margins = [a - b for a, b in zip(own, other, strict=True)]
            figures[judges] = {
                "candidates": len(texts),
                "end_a_sentence": sum(ends_sentence(t) for t in texts),
                "mean_chars": round(statistics.mean(len(t) for t in texts), 1),
                "fit": share(fits),
                "fit_korean": share(fits, korean),
                "fit_english": share(fits, [not k for k in korean]),
                "fit_margin": round(statistics.mean(margins), 4),
                "word_repeated": share(repeats),
                "word_repeated_korean": share(repeats, korean),
                "word_pair_repeated": share(pairs),
                "continue_p50_s": round(statistics.median(seconds), 3),
            }
        result["lengths"][str(length)] = figures
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "weights" / "default"))
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--lengths", type=int, nargs="+", default=[80, 150])
    parser.add_argument("--judges", nargs="+", default=["off", "on"], choices=["off", "on"])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(measure(args), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
