"""Training benchmark; prints one JSON object.

* target characters per second while training the default-size model (embedding 100, 2 x LSTM 128)
  on textgenrnn's titles, in stream mode and, for comparison, window mode (textgenrnn's way);
* the peak RSS of each run (every run is a child process reporting its own getrusage);
* with --titles-200s: held-out nats/char after 200 s of training from scratch on the titles
  (one title per line, 10 % of the titles held out), the figure textgenrnn reaches 1.99 on.

Every run trains the attention given: `--attention vector` (textgenrnn's, window 1 unless
`--window`) or `query` (`--window`, `--attention-dim`; defaults from engine/train_options.py),
at the default size (2 x LSTM 128, no dropout) unless `--rnn-size` / `--dropout` / `--rnn-type` /
`--rnn-layers`; `--lr`, `--warmup`, `--decay`, `--weight-decay`, `--clip`, `--batch-size`,
`--seq-len` and `--shuffle` (the titles in a new order each epoch) change the recipe, and
`--seed` the draw of the weights and batches (0 unless given; the held-out titles are those of
seed 0 whatever the seed). `--engine-train-defaults` starts from what `python -m engine train
--line-docs` gives a new model instead (2 x LSTM 256, dropout 0.1, lr 6e-3 held until the last
fifth of the run, bfloat16 forwards where the hardware has them, the titles shuffled each
epoch), the figure issue 19 asks of "the defaults".
Several values (`--attention vector query`) run each in turn under the same budget, one after
the other (never at once: they would share the cores), for an equal-wall-time comparison.

    .venv/bin/python bench/training.py [--data DIR] [--seconds 20] [--titles-200s] \
        [--attention vector query] [--window N] [--attention-dim N] [--rnn-size N] [--dropout P] \
        [--rnn-type lstm|gru] [--rnn-layers N] [--lr LR] [--warmup F] [--decay F] \
        [--weight-decay WD] [--clip NORM] [--batch-size N] [--seq-len N] [--shuffle] \
        [--precision float32|bfloat16|auto] [--seed N] [--engine-train-defaults]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.train_options import (  # noqa: E402 (no torch)
    NEW_MODEL,
    NEW_MODEL_DECAY,
    NEW_MODEL_LR,
    PRECISIONS,
)

DEFAULT_DATA = ROOT.parent / "shared" / "textgenrnn" / "datasets"


# The options of a run that the command line may set (None: the bench's own or TrainOptions').
RUN_OPTIONS = (
    "lr",
    "warmup",
    "decay",
    "weight_decay",
    "clip",
    "seed",
    "batch_size",
    "seq_len",
    "precision",
    "shuffle",
)


def titles(data: Path) -> list[str]:
    """The four titles files without their 'title' header line, one string per file."""
    files = sorted(p for p in data.glob("*.txt") if not p.name.endswith("_context.txt"))
    if not files:
        raise SystemExit(f"no titles files in {data}")
    texts = []
    for path in files:
        lines = path.read_text(encoding="utf-8").split("\n")
        texts.append("\n".join(lines[1:] if lines and lines[0].strip() == "title" else lines))
    return texts


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One training run in this process; returns its figures and this process's peak RSS."""
    sys.path.insert(0, str(ROOT))
    import torch

    from engine.train import TrainOptions, train

    texts = titles(Path(spec["data"]))
    options = TrainOptions(
        time_budget=spec["seconds"],
        mode=spec["mode"],
        seed=spec.get("seed", 0),
        split_seed=0,  # every seed is measured on the same held-out titles
        line_docs=True,
        val_fraction=0.1,
        batch_size=spec.get("batch_size"),
        seq_len=spec.get("seq_len", 128),
        lr=spec.get("lr", TrainOptions.lr),
        warmup=spec.get("warmup", TrainOptions.warmup),
        decay=spec.get("decay", TrainOptions.decay),
        weight_decay=spec.get("weight_decay", TrainOptions.weight_decay),
        clip=spec.get("clip", TrainOptions.clip),
        precision=spec.get("precision", TrainOptions.precision),
        shuffle=spec.get("shuffle", TrainOptions.shuffle),
        samples=False,
        progress=False,
        device=spec.get("device"),
        model=spec.get("model", {}),
    )
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train(texts, Path(tmp) / "model", options)
        config = json.loads((Path(tmp) / "model" / "config.json").read_text(encoding="utf-8"))
    return {
        "mode": spec["mode"],
        "attention": {k: config.get(k) for k in ("attention", "window", "attention_dim")},
        "size": {k: config.get(k) for k in ("rnn_type", "rnn_size", "rnn_layers", "dropout")},
        "batch_size": metrics["options"]["batch_size"],
        "lr": metrics["options"]["lr"],
        "warmup": metrics["options"]["warmup"],
        "decay": metrics["options"]["decay"],
        "weight_decay": metrics["options"]["weight_decay"],
        "clip": metrics["options"]["clip"],
        "seed": metrics["options"]["seed"],
        "seq_len": metrics["options"]["seq_len"],
        "shuffle": metrics["options"]["shuffle"],
        "precision": metrics["options"]["precision"],
        "target_chars_per_second": round(metrics["chars_per_second"]),
        "val_nats_per_char": round(metrics["val_nats_per_char"], 4),
        "val_bits_per_char": round(metrics["val_bits_per_char"], 4),
        "val_chars": metrics["chars"]["val"],
        "train_chars": metrics["chars"]["train"],
        "epochs": metrics["epochs"],
        "steps": metrics["steps"],
        "seconds": round(metrics["seconds"], 1),
        "train_seconds": round(metrics["train_seconds"], 1),
        "device": metrics["device"],
        "threads": torch.get_num_threads(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child run failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each speed run")
    parser.add_argument("--titles-200s", action="store_true", help="also the 200 s quality run")
    parser.add_argument("--budget", type=float, default=200.0, help="seconds of the quality run")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--attention", nargs="+", choices=["vector", "query"], default=["vector"])
    parser.add_argument("--window", type=int, default=None, help="attention span (all runs)")
    parser.add_argument("--attention-dim", type=int, default=None, help="query attention width")
    parser.add_argument("--rnn-size", type=int, default=None, help="LSTM width (all runs)")
    parser.add_argument("--dropout", type=float, default=None, help="dropout (all runs)")
    parser.add_argument("--rnn-type", choices=["lstm", "gru"], default=None, help="(all runs)")
    parser.add_argument("--rnn-layers", type=int, default=None, help="(all runs)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (all runs)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up fraction (all runs)")
    parser.add_argument("--decay", type=float, default=None, help="fraction the rate falls over")
    parser.add_argument("--weight-decay", type=float, default=None, help="AdamW's (all runs)")
    parser.add_argument("--clip", type=float, default=None, help="max gradient norm (all runs)")
    parser.add_argument("--seed", type=int, default=None, help="of every run (default 0)")
    parser.add_argument("--batch-size", type=int, default=None, help="tracks per batch")
    parser.add_argument("--seq-len", type=int, default=None, help="characters per track")
    parser.add_argument("--precision", choices=PRECISIONS, help="of each training step's forward")
    parser.add_argument(
        "--shuffle", action="store_true", default=None, help="titles in a new order each epoch"
    )
    parser.add_argument(
        "--engine-train-defaults",
        action="store_true",
        help="start from what `engine train` gives a new model (engine/train_options.py "
        "NEW_MODEL, NEW_MODEL_LR, precision auto) instead of textgenrnn's 2 x 128 at 4e-3",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "load_before": os.getloadavg()}
    started = time.monotonic()
    for attention in args.attention:
        model: dict[str, Any] = {"attention": attention}
        base: dict[str, Any] = {"data": str(args.data), "device": args.device, "model": model}
        if args.engine_train_defaults:
            model.update(NEW_MODEL)
            base.update(lr=NEW_MODEL_LR, decay=NEW_MODEL_DECAY, precision="auto")
            base["shuffle"] = True  # as engine train --line-docs
        if args.window is not None:
            model["window"] = args.window
        if args.attention_dim is not None and attention == "query":
            model["attention_dim"] = args.attention_dim
        for name in ("rnn_size", "dropout", "rnn_type", "rnn_layers"):
            if getattr(args, name) is not None:
                model[name] = getattr(args, name)
        for name in RUN_OPTIONS:
            if getattr(args, name) is not None:
                base[name] = getattr(args, name)
        # Keyed by the attention when several are compared; the plain layout otherwise.
        into = report if len(args.attention) == 1 else report.setdefault(attention, {})
        if not args.skip_speed:
            # The trainer's default batches: 32 tracks x 128 characters (stream); 128 windows of
            # 40 characters with one target each (window, as textgenrnn).
            into["stream"] = run_child({**base, "mode": "stream", "seconds": args.seconds})
            if attention == "vector":
                window = {**base, "mode": "window", "seconds": args.seconds, "model": {}}
                into["window"] = run_child(window)
        if args.titles_200s:
            into["titles_200s"] = run_child({**base, "mode": "stream", "seconds": args.budget})
            into["titles_200s"]["textgenrnn_reference_nats_per_char"] = 1.99
    report["load_after"] = os.getloadavg()
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
