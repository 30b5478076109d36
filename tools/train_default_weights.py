"""Train the shipped default writer (weights/default) from the public-domain corpora.

A developer's tool, not used at run time: it reads ../shared/corpora (see its SOURCES.md), keeps
whole works out per language, trains one Korean + English model, and writes the checkpoint
(weights stored in float16) with per-language figures in its metrics.json. The model card
(README.md beside the weights) is written by hand from those figures.

Three kinds of works:
* HELD_OUT: never trained on, never used to choose anything; the model card's figures (the same
  works for every version of the writer, so figures compare across versions);
* VALIDATION: never trained on; the run evaluates them at points spread over the budget and
  keeps the state with the lowest Korean + English loss (nats/char, summed, so that each
  language counts however much text it has), and stops early when neither improves;
* everything else (but SKIPPED and FINETUNE_BENCH) is training text, Korean repeated
  `--korean-repeats` times.

    .venv/bin/python tools/train_default_weights.py --corpora ../shared/corpora \\
        --out runs/default --time-budget 6000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

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
# Whole works kept out of training to choose the checkpoint (English: its first VAL_EN_CHARS).
VALIDATION = {
    "ko": [
        "wikisource__hyeon_jingeon__gohyang.txt",
        "wikisource__kim_dongin__gamja.txt",
        "wikisource__na_dohyang__mulrebanga.txt",
    ],
    "en": ["baum__wonderful_wizard_of_oz.txt"],
}
VAL_EN_CHARS = 60_000
# Not narrative prose: a play script and a philosophy book would pull the writer off stories.
SKIPPED = ["shakespeare__tinyshakespeare.txt", "nietzsche__keras_nietzsche.txt"]
# Kept out of training for bench/finetune.py, which fine-tunes the writer on a Korean style it
# never saw (심훈 「상록수」): a writer trained on it would make that figure meaningless.
FINETUNE_BENCH = ["wikisource__sim_hun__sangroksu.txt"]
# Korean is a fifth of the text (1.3 M of 6.4 M characters) once. Measured with the default
# size (8 min each): Korean reached 4.38 bits/char with Korean repeated twice, so English, the
# harder target, gets the larger share.
KOREAN_REPEATS = 1


def corpus(corpora: Path, repeats: int) -> tuple[list[str], list[str], dict[str, Any]]:
    """Training texts, their files, and the held-out and validation texts per language."""
    training: list[str] = []
    sources: list[str] = []
    held_out: dict[str, list[str]] = {"ko": [], "en": []}
    validation: dict[str, list[str]] = {"ko": [], "en": []}
    for lang in ("ko", "en"):
        for path in sorted((corpora / lang).glob("*.txt")):
            if path.name in SKIPPED or path.name in FINETUNE_BENCH:
                continue
            text = read_text_file(path)
            if path.name in HELD_OUT[lang]:
                held_out[lang].append(text)
            elif path.name in VALIDATION[lang]:
                validation[lang].append(text if lang == "ko" else text[:VAL_EN_CHARS])
            else:
                sources.append(f"{lang}/{path.name}")
                training.extend([text] * (repeats if lang == "ko" else 1))
    return training, sources, {"held_out": held_out, "validation": validation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="../shared/corpora")
    parser.add_argument("--out", default="runs/default")
    parser.add_argument("--time-budget", type=float, default=6000.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-char-count", type=int, default=5)
    parser.add_argument("--korean-repeats", type=int, default=KOREAN_REPEATS)
    parser.add_argument("--rnn-size", type=int, default=384)
    parser.add_argument("--rnn-layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--attention", choices=["vector", "query"], default="query")
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument(
        "--decay",
        type=float,
        default=TrainOptions.decay,
        help="the last fraction of the run the rate falls over",
    )
    parser.add_argument(
        "--shuffle",
        action="store_true",
        default=TrainOptions.shuffle,
        help="the blocks of text in a new order each pass",
    )
    parser.add_argument("--seq-len", type=int, default=128, help="target characters per track")
    parser.add_argument("--hangul", choices=["syllables", "jamo"], default="syllables")
    parser.add_argument("--eval-points", type=int, default=30)
    parser.add_argument("--patience", type=int, default=6, help="points without a better state")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    parser.add_argument(
        "--finish",
        metavar="DIR",
        help="train nothing: finish a run stopped before its budget (its last saved state, "
        "stored as --dtype, with the held-out figures in its metrics.json)",
    )
    parser.add_argument(
        "--measure",
        metavar="DIR",
        help="train nothing: print DIR's held-out figures per language, float and int8",
    )
    args = parser.parse_args()

    training, sources, texts = corpus(Path(args.corpora), args.korean_repeats)
    held_out, validation = texts["held_out"], texts["validation"]
    if args.measure:
        torch.set_num_threads(args.threads)
        figures = {
            how: {
                lang: evaluate(loaded.model, loaded.vocab, works)["bits_per_char"]
                for lang, works in held_out.items()
            }
            for how in ("none", "int8")
            for loaded in [checkpoint.load(args.measure, quantize=how)]
        }
        print(json.dumps({"model": args.measure, "held_out_bits_per_char": figures}, indent=2))
        return
    if args.finish:
        torch.set_num_threads(args.threads)
        stopped = json.loads((Path(args.finish) / "metrics.json").read_text(encoding="utf-8"))
        finish(args.finish, args, held_out, stopped["seconds"])
        return
    model: dict[str, Any] = {
        "rnn_size": args.rnn_size,
        "rnn_layers": args.rnn_layers,
        "dropout": args.dropout,
    }
    for name in ("attention", "window"):
        if getattr(args, name) is not None:
            model[name] = getattr(args, name)
    options = TrainOptions(
        time_budget=args.time_budget,
        seed=args.seed,
        threads=args.threads,
        lr=args.lr,
        decay=args.decay,
        shuffle=args.shuffle,
        seq_len=args.seq_len,
        hangul=args.hangul,
        min_char_count=args.min_char_count,
        sample_chars=200,
        model=model,
        eval_points=args.eval_points,
        keep_best=True,
        patience=args.patience,
        select_on={"val": 1.0, "en": 1.0},  # Korean validation ("val") + English
    )
    started = time.time()
    train(
        training,
        args.out,
        options,
        val_texts=validation["ko"],
        extra_evals={"en": validation["en"]},
        sources=sources,
    )
    finish(args.out, args, held_out, time.time() - started)


def finish(
    out: str, args: argparse.Namespace, held_out: dict[str, list[str]], seconds: float
) -> None:
    """Store the run's weights as shipped, measure them on the held-out works, print it all."""
    dtype = torch.float16 if args.dtype == "float16" else None
    loaded = checkpoint.load(checkpoint.save(checkpoint.load(out), out, dtype=dtype))
    per_language = {  # measured on the weights as shipped (float16)
        lang: evaluate(loaded.model, loaded.vocab, works) for lang, works in held_out.items()
    }
    metrics = dict(loaded.metrics)
    metrics["held_out"] = {
        lang: {"works": HELD_OUT[lang], **figures} for lang, figures in per_language.items()
    }
    metrics["validation_works"] = VALIDATION
    metrics["korean_repeats"] = args.korean_repeats
    metrics["weights_dtype"] = args.dtype
    metrics["hardware"] = (
        f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, torch {torch.__version__}"
        if torch.cuda.is_available()
        else f"{platform.processor() or platform.machine()}, "
        f"{args.threads} CPU threads, torch {torch.__version__}"
    )
    checkpoint.save(checkpoint.Checkpoint(loaded.model, loaded.vocab, metrics), out, dtype=dtype)
    print(
        json.dumps(
            {
                "out": out,
                "seconds": round(seconds),
                "held_out": per_language,
                "selected": metrics.get("selected"),
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
