"""Fine-tune a writer on a chat's text without forgetting what it knew, and gate the result.

Fine-tuning is training from another starting point (engine.train with `from_dir`); this module
is the recipe around that one loop and the gate after it:

1. The last tenth of each text file (each novel, the story) is held out: never trained on in
   this run, it measures whether the writer got better at *this* chat's text.
2. Training mixes in replay documents of the base's own text (`BASE/replay.txt`), pulls every
   weight toward the shipped base's (L2 anchor; `Recipe.anchor_to`, measured against pulling
   toward the parent's), grows the vocabulary for new characters, and
   evaluates several times per run on the held-out slice and on the base's evaluation text
   (`BASE/eval.txt`), keeping the best state that forgets no more than allowed.
3. The gate promotes the result only if the held-out loss fell by at least `min_gain_bits` from
   the parent's, and its loss on the base's evaluation text is at most `max_forget_bits` above
   the *shipped base's* own (not the parent's, so drift cannot pile up over many versions).
   The base text is held to that limit language by language (Korean, English), so a gain in
   one cannot hide a loss in the other; the overall figure is within it whenever both are.

The gate's verdict travels as data too ("verdict": code, language, the deciding figure before
and after, its limit), so the bot can word it in each chat's language.

The new version is a complete checkpoint folder (weights in float16, as shipped) written aside
and renamed into place, with its figures, lineage and curves in metrics.json ("finetune") and a
loss-curve picture, loss.png.
A rejected version is written too, with the reason. Nothing is ever written into the parent.

`--parent` and `--out` may be s3:// locations (storage/artifacts.py): the parent is read from a
local copy, and the new version is written to a scratch folder and then published to `--out`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine import checkpoint as ckpt
from engine._heartbeat import Heartbeat
from engine._plot import draw_loss_curve
from engine._start import check_out
from engine.data import Document, as_documents, read_text_file
from engine.errors import DataError, EngineError
from engine.evaluate import evaluate
from engine.gate import Figures, gate
from engine.model import pick_device
from engine.train import TrainOptions, train
from engine.train_options import ANCHOR_CHARS, Recipe
from engine.vocab import is_korean
from storage import artifacts

__all__ = [
    "Figures",
    "Recipe",
    "finetune",
    "finetune_command",
    "gate",
    "main_finetune",
    "split_held_out",
]

LN2 = math.log(2)
REPLAY_FILE, EVAL_FILE, PLOT_FILE = "replay.txt", "eval.txt", "loss.png"
HALF = torch.float16  # how a version's weights are stored


def split_held_out(text: str, fraction: float) -> tuple[str, str]:
    """(train, held out): the held-out part is the text's last `fraction`, starting at a line
    start when one is near the cut (else exactly at it)."""
    text = text.strip()
    cut = len(text) - max(1, round(len(text) * fraction))
    newline = text.find("\n", cut)
    if 0 <= newline < len(text) - 1 and newline - cut <= (len(text) - cut) // 2:
        cut = newline + 1
    return text[:cut].rstrip(), text[cut:].strip()


def read_excerpts(path: Path) -> list[Document]:
    """A replay or evaluation file: excerpts separated by blank lines, each its own document."""
    text = read_text_file(path)
    return [Document(part.strip()) for part in re.split(r"\n\s*\n", text) if part.strip()]


def by_language(docs: list[Document]) -> dict[str, list[Document]]:
    """Excerpts by language: Korean when at least 30% of their characters are Hangul."""
    parts: dict[str, list[Document]] = {}
    for doc in docs:
        parts.setdefault("ko" if is_korean(doc.text) else "en", []).append(doc)
    return parts


@dataclass
class _Inputs:
    train_texts: list[str]
    train_docs: list[Document]
    held_docs: list[Document]
    replay_docs: list[Document]
    replay_path: Path | None
    eval_parts: dict[str, list[Document]]
    eval_path: Path


def _read_inputs(
    texts: Sequence[str | Path],
    base: Path,
    replay: str | Path | None,
    base_eval: str | Path | None,
    recipe: Recipe,
) -> _Inputs:
    replay_path: Path | None = Path(replay) if replay is not None else base / REPLAY_FILE
    if replay is None and not (base / REPLAY_FILE).exists():
        replay_path = None  # a base without replay text: the anchor alone guards it
    eval_path = Path(base_eval) if base_eval is not None else base / EVAL_FILE
    if base_eval is None and not eval_path.exists():
        raise DataError(f"{eval_path}: missing; give the base's evaluation text (--base-eval)")
    train_texts, held_texts = [], []
    for path in texts:
        text = read_text_file(path)
        if not text.strip():
            raise DataError(f"{path}: no text")
        head, tail = split_held_out(text, recipe.held_out_fraction)
        train_texts.append(head)
        held_texts.append(tail)
    train_docs = as_documents([t for t in train_texts if t])
    held_docs = as_documents([t for t in held_texts if t])
    if not train_docs or not held_docs:
        raise DataError("too little text to fine-tune on")
    eval_parts = by_language(read_excerpts(eval_path))
    if not eval_parts:
        raise DataError(f"{eval_path}: no text")
    replay_docs = read_excerpts(replay_path) if replay_path is not None else []
    return _Inputs(
        train_texts, train_docs, held_docs, replay_docs, replay_path, eval_parts, eval_path
    )


def finetune(
    parent: str | Path,
    texts: Sequence[str | Path],
    out: str | Path,
    *,
    base: str | Path | None = None,
    replay: str | Path | None = None,
    base_eval: str | Path | None = None,
    recipe: Recipe | None = None,
    heartbeat: Heartbeat | None = None,
    parent_name: str | None = None,
) -> dict[str, Any]:
    """Fine-tune `parent` on the text files; write the new version to `out`; return the summary
    that `finetune --json` prints. Raises EngineError (DataError, CheckpointError) on bad input.
    `parent_name`: what the lineage records for the parent (its location, when `parent` is a
    local copy of it)."""
    recipe = recipe or Recipe()
    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)  # evaluations too: the machine is shared
    try:
        beat = heartbeat or Heartbeat(enabled=False)
        return _finetune(parent, texts, out, base, replay, base_eval, recipe, beat, parent_name)
    finally:
        torch.set_num_threads(threads)


def _finetune(
    parent: str | Path,
    texts: Sequence[str | Path],
    out: str | Path,
    base: str | Path | None,
    replay: str | Path | None,
    base_eval: str | Path | None,
    recipe: Recipe,
    beat: Heartbeat,
    parent_name: str | None,
) -> dict[str, Any]:
    started = time.monotonic()
    parent, out = Path(parent), Path(out)
    base = Path(base) if base is not None else parent
    if out.resolve() in (parent.resolve(), base.resolve()):
        raise EngineError(f"{out}: the new version must go to a folder of its own")
    check_out(out)
    inputs = _read_inputs(texts, base, replay, base_eval, recipe)

    # What the gate compares against: the parent on the chat's held-out slice, and the shipped
    # base on its own evaluation text.
    device = pick_device()
    loaded_parent = ckpt.load(parent, device)
    loaded_base = loaded_parent if base.resolve() == parent.resolve() else ckpt.load(base, device)
    lineage = [*loaded_parent.metrics.get("finetune", {}).get("lineage", [])]
    lineage.append(parent_name or str(parent))

    def waiting(fraction: float) -> None:
        beat.update("eval", 0.0)

    chars = {k: sum(len(d.text) for d in docs) for k, docs in inputs.eval_parts.items()}
    before = Figures(
        chat=_bits(loaded_parent, inputs.held_docs, waiting),
        base={k: _bits(loaded_base, docs, waiting) for k, docs in inputs.eval_parts.items()},
        chars=chars,
    )
    del loaded_parent, loaded_base

    options = TrainOptions(
        epochs=None if recipe.time_budget is not None else recipe.epochs,
        time_budget=recipe.time_budget,
        seed=recipe.seed,
        lr=recipe.lr,
        warmup=recipe.warmup,
        min_char_count=recipe.min_char_count,
        device=str(device),
        threads=recipe.threads,
        from_dir=str(parent),
        samples=False,
        progress=False,
        checkpoint_every_epoch=False,
        replay_ratio=recipe.replay_ratio if inputs.replay_docs else 0.0,
        anchor=recipe.anchor * ANCHOR_CHARS / sum(len(t) for t in inputs.train_texts),
        anchor_dir=str(base) if recipe.anchor_to == "base" else None,
        eval_points=recipe.eval_points,
        keep_best=True,
        limits={f"base_{k}": (b + recipe.max_forget_bits) * LN2 for k, b in before.base.items()},
        min_gain=recipe.min_gain_bits * LN2,
        patience=recipe.patience,
    )

    def progress(event: dict[str, Any]) -> None:
        beat.update(event["phase"], event["fraction"], event.get("loss"))

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.finetune.", dir=out.parent))
    try:
        metrics = train(
            inputs.train_docs,
            work / "model",
            options,
            val_texts=inputs.held_docs,
            sources=[str(p) for p in texts],
            on_progress=progress,
            replay=inputs.replay_docs,
            extra_evals={f"base_{k}": docs for k, docs in inputs.eval_parts.items()},
        )
        kept = metrics["selected"]["nats_per_char"]
        after = Figures(kept["val"] / LN2, {k: kept[f"base_{k}"] / LN2 for k in chars}, chars)
        verdict = gate(before, after, recipe)
        promoted = verdict.promoted
        summary = {
            "promoted": promoted,
            "reason": verdict.reason,
            "verdict": {
                "code": verdict.code,
                "language": verdict.language,
                "before": round(verdict.before, 4),
                "after": round(verdict.after, 4),
                "limit": verdict.limit,
            },
            "chat_bits_before": round(before.chat, 4),
            "chat_bits_after": round(after.chat, 4),
            "base_bits_before": round(before.base_overall, 4),
            "base_bits_after": round(after.base_overall, 4),
            "chars": sum(len(t) for t in inputs.train_texts),
            "seconds": round(time.monotonic() - started, 1),
            "out": str(out),
            "new_chars": metrics.get("new_chars", []),
            "held_out_chars": sum(len(d.text) for d in inputs.held_docs),
        }
        metrics["finetune"] = _record(summary, recipe, lineage, base, inputs, before, after)
        metrics["finetune"]["curves"] = _curves(metrics)
        # Stored in float16, as the shipped writer is: half the disk of every version, and a
        # measured version's eval.txt figure moved by 0.00001 bits/char.
        final = ckpt.load(work / "model")
        ckpt.save(ckpt.Checkpoint(final.model, final.vocab, metrics), work / "model", dtype=HALF)
        title = f"{parent.name} -> {out.name}: {'promoted' if promoted else 'rejected'}"
        draw_loss_curve(metrics, work / "model" / PLOT_FILE, title)
        ckpt.publish(work / "model", out)
        summary["seconds"] = round(time.monotonic() - started, 1)
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bits(loaded: ckpt.Checkpoint, docs: list[Document], progress: Any) -> float:
    return float(evaluate(loaded.model, loaded.vocab, docs, progress=progress)["bits_per_char"])


def _record(
    summary: dict[str, Any],
    recipe: Recipe,
    lineage: list[str],
    base: Path,
    inputs: _Inputs,
    before: Figures,
    after: Figures,
) -> dict[str, Any]:
    """metrics.json's "finetune": the gate's figures, lineage and inputs."""
    return {
        **{k: v for k, v in summary.items() if k != "out"},
        "status": "promoted" if summary["promoted"] else "rejected",
        "min_gain_bits": recipe.min_gain_bits,
        "max_forget_bits": recipe.max_forget_bits,
        "base_by_language": {
            k: {
                "chars": before.chars[k],
                "bits_before": round(before.base[k], 4),
                "bits_after": round(after.base[k], 4),
            }
            for k in before.base
        },
        "parent": lineage[-1],
        "base": str(base),
        "lineage": lineage,
        "replay_file": None if inputs.replay_path is None else str(inputs.replay_path),
        "replay_chars": sum(len(d.text) for d in inputs.replay_docs),
        "base_eval_file": str(inputs.eval_path),
        "recipe": dataclasses.asdict(recipe),
        "plot": PLOT_FILE,
    }


def _curves(metrics: dict[str, Any]) -> dict[str, list[list[float]]]:
    """[characters trained on, bits/char] for training and every evaluated text."""
    curves = {"train": [[p[1], round(p[2] / LN2, 4)] for p in metrics.get("train_loss", [])]}
    for point in metrics.get("evals", []):
        for name, nats in point["nats_per_char"].items():
            key = "chat" if name == "val" else name
            curves.setdefault(key, []).append([point["chars_seen"], round(nats / LN2, 4)])
    return curves


def main_finetune(args: argparse.Namespace) -> int:
    """`python -m engine finetune --parent DIR --text FILE... --out DIR [...]`."""
    with Heartbeat(enabled=args.progress == "jsonl") as beat:
        summary = finetune_command(args, beat)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        verdict = "promoted" if summary["promoted"] else "not promoted"
        print(f"{summary['out']}: {verdict}: {summary['reason']} ({summary['seconds']} s)")
    return 0


def finetune_command(args: argparse.Namespace, beat: Heartbeat) -> dict[str, Any]:
    """What `finetune` does with its arguments, up to the summary it prints: the command line
    and a fleet's fine-tune task (engine/fleet_training.py, which parses the same arguments)
    run exactly this. Raises EngineError, a store's failure included."""
    names = {f.name for f in dataclasses.fields(Recipe)}
    chosen = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if args.time_budget is not None:
        chosen["epochs"] = None
    recipe = Recipe(**chosen)
    try:
        with tempfile.TemporaryDirectory(prefix="relaytale-version-") as scratch:
            return _finetune_at(args, recipe, beat, Path(scratch))
    except artifacts.ArtifactError as exc:  # the store's words name the version, not a key
        raise EngineError(str(exc)) from exc


def _finetune_at(
    args: argparse.Namespace, recipe: Recipe, beat: Heartbeat, scratch: Path
) -> dict[str, Any]:
    """`finetune` where --parent and --out may be s3:// locations: the parent is read from a
    local copy, the new version is written to `scratch` and then published to --out (whole,
    and never over an existing version); the summary's "out" is the location."""
    remote_out = artifacts.is_remote(args.out)
    if remote_out and artifacts.exists(args.out):
        raise EngineError(f"{args.out}: a version is already there (versions never change)")
    parent = args.parent
    if artifacts.is_remote(parent):
        parent = artifacts.local_copy(parent, artifacts.default_cache())
    out = scratch / artifacts.name(args.out) if remote_out else args.out
    summary = finetune(
        parent,
        args.text,
        out,
        base=args.base,
        replay=args.replay,
        base_eval=args.base_eval,
        recipe=recipe,
        heartbeat=beat,
        parent_name=args.parent if parent != args.parent else None,
    )
    if remote_out:
        artifacts.publish(out, args.out)
        summary["out"] = args.out
    return summary
