"""`python -m engine train`: the command line around engine.train.train."""

from __future__ import annotations

import argparse
import dataclasses
import json

from engine.data import read_text_file
from engine.train import train
from engine.train_options import MODEL_FIELDS, SUMMARY, TrainOptions

__all__ = ["main_train"]


def main_train(args: argparse.Namespace) -> int:
    """`python -m engine train --text FILE... --out DIR [...]`."""
    model = {name: getattr(args, name) for name in MODEL_FIELDS if getattr(args, name) is not None}
    if args.shuffle is None:  # one title or line per document: their order means nothing
        args.shuffle = args.line_docs
    names = {f.name for f in dataclasses.fields(TrainOptions)}
    options = TrainOptions(model=model, **{k: v for k, v in vars(args).items() if k in names})
    texts = [read_text_file(path) for path in args.text]
    metrics = train(texts, args.out, options, sources=[str(p) for p in args.text])
    summary = {"out": str(args.out), **{key: metrics.get(key) for key in SUMMARY.split()}}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"saved {args.out}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0
