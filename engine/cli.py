"""`python -m engine train | generate | eval | next | finetune | serve | fleet | import-...`.

Each subcommand's work lives in its own module; this file only declares the arguments.
With `--json` a command prints exactly one JSON object on stdout (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import sys

from engine.errors import EngineError
from engine.requests import CONTEXT_CHARS, Prompt, SampleSettings
from engine.train_options import (
    NEW_MODEL,
    NEW_MODEL_DECAY,
    NEW_MODEL_LR,
    PRECISIONS,
    Recipe,
    TrainOptions,
)

# engine/quantize.py's choices, spelled here so that `--help` does not load torch.
QUANTIZE_CHOICES = ("none", "int8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a new model or fine-tune one (--from)")
    train.add_argument("--text", nargs="+", required=True, metavar="FILE", help="UTF-8 text files")
    train.add_argument("--out", required=True, metavar="DIR", help="checkpoint folder to write")
    train.add_argument("--from", dest="from_dir", metavar="DIR", help="start from this checkpoint")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="number of passes over the data")
    budget.add_argument(
        "--time-budget", type=float, metavar="SECONDS", help="stop after this long"
    )
    train.add_argument("--mode", choices=["stream", "window"], default="stream")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--line-docs",
        action="store_true",
        help="each line of a file is its own document (titles, tweets)",
    )
    train.add_argument(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the documents in a new order each epoch (default: with --line-docs)",
    )
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--val-fraction", type=float, default=0.05)
    train.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per step (default: 32 stream tracks, 128 windows)",
    )
    train.add_argument("--seq-len", type=int, default=128)
    train.add_argument("--lr", type=float, default=NEW_MODEL_LR)
    train.add_argument(
        "--decay",
        type=float,
        default=NEW_MODEL_DECAY,
        help="the last fraction of the run over which the rate falls to 0 (1: all of it)",
    )
    train.add_argument(
        "--weight-decay",
        type=float,
        default=TrainOptions.weight_decay,
        help="AdamW's decoupled decay (0: Adam)",
    )
    train.add_argument(
        "--clip", type=float, default=TrainOptions.clip, help="max gradient norm of a step"
    )
    train.add_argument(
        "--min-char-count",
        type=int,
        default=1,
        help="characters rarer than this become <unk> in a new vocabulary",
    )
    train.add_argument("--dim-embeddings", type=int, default=100)
    train.add_argument("--rnn-size", type=int, default=NEW_MODEL["rnn_size"])
    train.add_argument("--rnn-layers", type=int, default=2)
    train.add_argument("--rnn-type", choices=["lstm", "gru"], default="lstm")
    train.add_argument("--rnn-bidirectional", action="store_true")
    train.add_argument("--dropout", type=float, default=NEW_MODEL["dropout"])
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="of each step's forward (auto: bfloat16 where the hardware computes it)",
    )
    train.add_argument(
        "--window",
        type=int,
        default=None,
        help="stream-mode attention span of a new model (default: engine.train_options)",
    )
    train.add_argument(
        "--attention",
        choices=["vector", "query"],
        default=None,
        help="textgenrnn's attention or one with a query (stream mode; default: train_options)",
    )
    train.add_argument(
        "--hangul",
        choices=["syllables", "jamo"],
        default="syllables",
        help="a new model reads Korean as syllables or as their letters (jamo)",
    )
    train.add_argument("--attention-dim", type=int, default=None, help="query attention width")
    train.add_argument("--max-length", type=int, default=40)
    train.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    train.add_argument("--json", action="store_true")

    generate = sub.add_parser("generate", help="sample continuations of a prefix")
    settings, prompt = SampleSettings(), Prompt()
    generate.add_argument("--model", required=True, metavar="DIR")
    generate.add_argument("--prefix", default="")
    generate.add_argument(
        "--context-chars",
        type=int,
        default=CONTEXT_CHARS,
        metavar="N",
        help="read only the last N characters of the prefix (0: all of it)",
    )
    generate.add_argument("--keyword", default=None)
    generate.add_argument("-n", type=int, default=prompt.n)
    generate.add_argument("--max-chars", type=int, default=settings.max_chars)
    generate.add_argument("--min-chars", type=int, default=settings.min_chars)
    generate.add_argument(
        "--temperature", type=float, nargs="+", default=list(settings.temperatures)
    )
    generate.add_argument("--top-k", type=int, default=settings.top_k)
    generate.add_argument("--top-p", type=float, default=settings.top_p)
    generate.add_argument("--repetition-penalty", type=float, default=settings.repetition_penalty)
    generate.add_argument(
        "--stop",
        choices=["sentence", "length"],
        default="sentence" if settings.stop_at_sentence_end else "length",
    )
    generate.add_argument(
        "--overgenerate",
        type=int,
        default=settings.overgenerate,
        help="sample this many times n candidates and keep the best n",
    )
    generate.add_argument(
        "--distinct",
        action="store_true",
        default=settings.distinct,
        help="only candidates whose texts differ (may return fewer than n)",
    )
    generate.add_argument("--mode", choices=["stream", "window"], default="stream")
    generate.add_argument("--seed", type=int, default=prompt.seed)
    generate.add_argument("--device", default=None)
    generate.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none")
    generate.add_argument("--json", action="store_true")

    tune = sub.add_parser(
        "finetune", help="fine-tune a writer on a chat's text, gated against forgetting"
    )
    recipe = Recipe()
    tune.add_argument("--parent", required=True, metavar="DIR", help="the writer to start from")
    tune.add_argument("--text", nargs="+", required=True, metavar="FILE", help="UTF-8 text files")
    tune.add_argument("--out", required=True, metavar="DIR", help="the new version's folder")
    tune.add_argument("--base", metavar="DIR", help="the shipped base (default: --parent)")
    tune.add_argument("--replay", metavar="FILE", help="default: BASE/replay.txt if present")
    tune.add_argument("--base-eval", metavar="FILE", help="default: BASE/eval.txt")
    tune_budget = tune.add_mutually_exclusive_group()
    tune_budget.add_argument("--epochs", type=int, help=f"default {recipe.epochs}")
    tune_budget.add_argument("--time-budget", type=float, metavar="SECONDS")
    tune.add_argument("--threads", type=int, default=recipe.threads)
    tune.add_argument("--min-gain-bits", type=float, default=recipe.min_gain_bits)
    tune.add_argument("--max-forget-bits", type=float, default=recipe.max_forget_bits)
    tune.add_argument("--lr", type=float, default=recipe.lr)
    tune.add_argument("--replay-ratio", type=float, default=recipe.replay_ratio)
    tune.add_argument("--anchor", type=float, default=recipe.anchor, help="L2 pull strength")
    tune.add_argument("--anchor-to", choices=["parent", "base"], default=recipe.anchor_to)
    tune.add_argument("--eval-points", type=int, default=recipe.eval_points)
    tune.add_argument("--patience", type=int, default=recipe.patience)
    tune.add_argument("--seed", type=int, default=recipe.seed)
    tune.add_argument("--json", action="store_true")
    tune.add_argument(
        "--progress", choices=["jsonl"], default=None, help="heartbeat lines on stderr"
    )

    evaluate = sub.add_parser("eval", help="held-out loss of a model on a text file")
    evaluate.add_argument("--model", required=True, metavar="DIR")
    evaluate.add_argument("--text-file", required=True, metavar="FILE")
    evaluate.add_argument("--mode", choices=["stream", "window"], default="stream")
    evaluate.add_argument("--line-docs", action="store_true")
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none")
    evaluate.add_argument("--json", action="store_true")

    nxt = sub.add_parser("next", help="the most likely next characters after a prefix")
    nxt.add_argument("--model", required=True, metavar="DIR")
    nxt.add_argument("--prefix", default="")
    nxt.add_argument("--mode", choices=["stream", "window"], default="window")
    nxt.add_argument("--top", type=int, default=10)
    nxt.add_argument(
        "--interactive",
        action="store_true",
        help="pick characters one at a time from the top list, as textgenrnn did",
    )
    nxt.add_argument("--json", action="store_true")

    imp = sub.add_parser("import-textgenrnn", help="convert textgenrnn .hdf5 weights")
    imp.add_argument("--weights", required=True, metavar="W.hdf5")
    imp.add_argument("--vocab", required=True, metavar="V.json")
    imp.add_argument("--config", default=None, metavar="C.json")
    imp.add_argument("--out", required=True, metavar="DIR")
    imp.add_argument("--json", action="store_true")

    serve = sub.add_parser("serve", help="the bot's worker: JSON lines on stdin/stdout")
    serve.add_argument("--model", required=True, metavar="DIR")
    serve.add_argument("--device", default=None)
    serve.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        default="none",
        help="int8: generate with int8 LSTM and linear weights (CPU only; faster, see README)",
    )
    serve.add_argument(
        "--batch-wait-ms",
        type=float,
        default=5.0,
        help="how long to wait for more requests to batch together",
    )
    serve.add_argument(
        "--max-loaded",
        type=int,
        default=8,
        metavar="N",
        help="writers kept loaded, least recently used dropped first (the base counts as one)",
    )
    _add_fleet(sub)
    return parser


def _add_fleet(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fleet deploy`: the writer fleet on a Ray cluster (engine/fleet.py's FleetOptions)."""
    fleet = sub.add_parser("fleet", help="the writer as a Ray Serve fleet shared by bot processes")
    actions = fleet.add_subparsers(dest="fleet_command", required=True)
    deploy = actions.add_parser("deploy", help="deploy it on a running cluster; prints its URL")
    deploy.add_argument("--address", required=True, help="the cluster, e.g. 127.0.0.1:6379")
    deploy.add_argument("--name", default="writer", help="the application, served at /NAME")
    deploy.add_argument("--model", default="weights/default", metavar="DIR", help="the base")
    deploy.add_argument("--replicas", type=int, default=1, metavar="N")
    deploy.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="X")
    deploy.add_argument(
        "--gpus-per-replica", type=float, default=0.0, metavar="X", help="> 0: on a GPU"
    )
    deploy.add_argument("--threads", type=int, default=1, help="torch threads per replica")
    deploy.add_argument(
        "--max-loaded", type=int, default=8, metavar="N", help="writers a replica keeps loaded"
    )
    deploy.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none")
    deploy.add_argument("--batch-wait-ms", type=float, default=5.0)
    deploy.add_argument("--max-batch", type=int, default=64, help="requests in one batch")
    deploy.add_argument(
        "--host", default="127.0.0.1", help="where Serve listens (0.0.0.0: other machines)"
    )
    deploy.add_argument("--port", type=int, default=8000)
    deploy.add_argument(
        "--trainer",
        action="store_true",
        help="also the trainer (fine-tunes as Ray tasks) at /trainer (or /--trainer-name); its "
        "URL on a second line",
    )
    deploy.add_argument(
        "--trainer-name", default="trainer", help="the trainer's application, served at /NAME"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported lazily so that `--help` answers without loading torch.
    try:
        if args.command == "train":
            from engine._cli_train import main_train

            return main_train(args)
        if args.command == "eval":
            from engine.evaluate import main_eval

            return main_eval(args)
        if args.command == "generate":
            from engine._cli_generate import main_generate

            return main_generate(args)
        if args.command == "next":
            from engine._cli_generate import main_next

            return main_next(args)
        if args.command == "import-textgenrnn":
            from engine.textgenrnn import main_import

            return main_import(args)
        if args.command == "finetune":
            from engine.finetune import main_finetune

            return main_finetune(args)
        if args.command == "fleet":
            from engine._cli_fleet import main_fleet

            return main_fleet(args)
        if args.command == "serve":
            from engine.service import main_serve

            return main_serve(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(args.command)
