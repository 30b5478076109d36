"""Train the shipped default writer (weights/default) from the public-domain corpora.

A developer's tool, not used at run time: it reads ../shared/corpora (see its SOURCES.md), holds
out whole works per language, trains one Korean + English model, measures held-out bits per
character per language, and writes the checkpoint with its model card (README.md).

    .venv/bin/python tools/train_default_weights.py --corpora ../shared/corpora \\
        --out weights/default --time-budget 2400
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from engine import checkpoint
from engine.data import read_text_file
from engine.evaluate import evaluate
from engine.train import TrainOptions, train

# Whole works kept out of training, so the held-out figures are on unseen books.
HELD_OUT = {
    "ko": [
        "koconovel__hyeon_jingeon__unsu_joteun_nal.txt",
        "koconovel__kim_yujeong__bombom.txt",
        "koconovel__yi_hyoseok__memilkkot_pil_muryeop.txt",
    ],
    "en": ["carroll__alice_in_wonderland.txt"],
}
# Not narrative prose: a play script and a philosophy book would pull the writer off stories.
SKIPPED = ["shakespeare__tinyshakespeare.txt", "nietzsche__keras_nietzsche.txt"]
# Korean is a tenth of the English text and has 15x the characters: repeat it so both count.
KOREAN_REPEATS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="../shared/corpora")
    parser.add_argument("--out", default="weights/default")
    parser.add_argument("--time-budget", type=float, default=2400.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-char-count", type=int, default=5)
    args = parser.parse_args()

    corpora = Path(args.corpora)
    training: list[str] = []
    sources: list[str] = []
    held_out: dict[str, list[str]] = {"ko": [], "en": []}
    for lang in ("ko", "en"):
        for path in sorted((corpora / lang).glob("*.txt")):
            if path.name in SKIPPED:
                continue
            text = read_text_file(path)
            if path.name in HELD_OUT[lang]:
                held_out[lang].append(text)
                continue
            sources.append(f"{lang}/{path.name}")
            training.extend([text] * (KOREAN_REPEATS if lang == "ko" else 1))

    options = TrainOptions(
        time_budget=args.time_budget,
        seed=args.seed,
        threads=args.threads,
        min_char_count=args.min_char_count,
        sample_chars=200,
    )
    started = time.time()
    train(
        training, args.out, options, val_texts=held_out["ko"][:1] + held_out["en"], sources=sources
    )
    seconds = time.time() - started

    loaded = checkpoint.load(args.out)
    per_language = {
        lang: evaluate(loaded.model, loaded.vocab, texts) for lang, texts in held_out.items()
    }
    metrics = dict(loaded.metrics)
    metrics["held_out"] = {
        lang: {"works": HELD_OUT[lang], **figures} for lang, figures in per_language.items()
    }
    metrics["hardware"] = (
        f"{platform.processor() or platform.machine()}, "
        f"{args.threads} CPU threads, torch {torch.__version__}"
    )
    checkpoint.save(checkpoint.Checkpoint(loaded.model, loaded.vocab, metrics), args.out)
    print(
        json.dumps(
            {
                "out": args.out,
                "seconds": round(seconds),
                "held_out": per_language,
                "vocab": len(loaded.vocab),
                "parameters": sum(p.numel() for p in loaded.model.parameters()),
                "steps": metrics.get("steps"),
                "chars_seen": metrics.get("chars_seen"),
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
