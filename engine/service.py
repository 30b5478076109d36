"""`python -m engine serve`: the bot's writer worker, speaking JSON lines on stdin/stdout.

The bot process never imports torch; it starts this as a child process. One JSON object per
line, primitives only:

    worker -> {"event": "ready", "info": {...}}             once the base writer is loaded
    bot    -> {"id": 7, "op": "generate", "writer": "", "context": "...", "keyword": "",
               "n": 3, "seed": 700, "temperature": 0.8, "max_chars": 225, "min_chars": 90,
               "top_k": 0, "top_p": 0.95, "repetition_penalty": 1.1, "overgenerate": 2,
               "stop_at_sentence_end": true, "distinct": true}
    worker -> {"id": 7, "ok": true,
               "candidates": [{"text", "mean_logprob", "temperature", "seed"}, ...]}
    bot    -> {"id": 8, "op": "info", "writer": ""}   -> {"id": 8, "ok": true, "info": {
               "model": "default", "layers": 2, "rnn": "LSTM", "rnn_size": 384,
               "parameters": 3500203, "characters": 1391, "device": "cpu", "int8": false,
               "held_out_bits": {"ko": 4.27, "en": 1.79}, "validation_bits": null,
               "steps": 10955, "chars_seen": 44912000}}   (numbers: the bot words them)
    bot    -> {"id": 9, "op": "ping"}                  -> {"id": 9, "ok": true}
    any failure -> {"id": N, "ok": false, "error": "message safe to show"}

"writer" is a checkpoint folder; "" is the base writer (--model). The worker applies exactly what
it is sent: every field of a generate request is required and typed (a missing, mistyped or
unknown field fails that request, naming it), and no sampling policy lives here. Candidate i of
a request uses seed + i for i < n * overgenerate. With "distinct", fewer than n may come back.

With `--quantize int8` every writer is loaded as an int8 copy for the CPU (engine/quantize.py).

"writer" may also be an s3:// location (storage/artifacts.py): it is downloaded once into a
local cache (the system temp's relaytale-versions, or Worker's cache_dir) and read from there
after; one that cannot be fetched fails only its own requests.

Writers are loaded on first use and kept in an LRU of at most --max-loaded (the base counts as
one and is never evicted). A version is taken to be immutable: a new version is a new folder or
location, so switching a chat to it is just naming it, and nothing fails during the switch.
Requests that arrive together are answered writer by writer, one batched `generate` per writer;
a writer that cannot be loaded fails only its own requests.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from engine import checkpoint
from engine.checkpoint import Checkpoint
from engine.errors import EngineError
from engine.generate import generate
from engine.model import pick_device
from engine.quantize import Quantize
from engine.requests import Prompt, SampleSettings
from storage import artifacts

__all__ = [
    "FIELDS",
    "RequestError",
    "Worker",
    "candidates_of",
    "main_serve",
    "parse_generate",
    "serve",
]

BASE = ""  # the writer name of the base model
# Every field of a generate request, with its JSON type.
FIELDS: dict[str, type] = {
    "writer": str,
    "context": str,
    "keyword": str,
    "n": int,
    "seed": int,
    "temperature": float,
    "max_chars": int,
    "min_chars": int,
    "top_k": int,
    "top_p": float,
    "repetition_penalty": float,
    "overgenerate": int,
    "stop_at_sentence_end": bool,
    "distinct": bool,
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}

Send = Callable[[dict[str, Any]], None]


class RequestError(EngineError):
    """A request the worker cannot act on: the message names the field or the writer."""


def _typed(value: Any, kind: type) -> bool:
    if isinstance(value, bool):  # JSON true is not a number here
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def parse_generate(request: dict[str, Any]) -> tuple[str, Prompt]:
    """A generate request -> (writer, Prompt), exactly as sent; RequestError naming a missing,
    mistyped or unknown field, EngineError for values out of range."""
    for name, kind in FIELDS.items():
        if name not in request:
            raise RequestError(f"generate: missing field {name!r}")
        if not _typed(request[name], kind):
            raise RequestError(f"generate: field {name!r} must be {_TYPE_NAMES[kind]}")
    unknown = sorted(set(request) - set(FIELDS) - {"id", "op"})
    if unknown:
        raise RequestError(f"generate: unknown field {unknown[0]!r}")
    r = request
    settings = SampleSettings(
        max_chars=r["max_chars"],
        min_chars=r["min_chars"],
        temperatures=(float(r["temperature"]),),
        top_k=r["top_k"],
        top_p=float(r["top_p"]),
        repetition_penalty=float(r["repetition_penalty"]),
        stop_at_sentence_end=r["stop_at_sentence_end"],
        overgenerate=r["overgenerate"],
        distinct=r["distinct"],
    )
    prompt = Prompt(r["context"], r["keyword"], n=r["n"], seed=r["seed"], settings=settings)
    return r["writer"], prompt


class Worker:
    """The loaded writers (an LRU around the pinned base) and what they can answer."""

    def __init__(
        self,
        model_dir: str,
        device: torch.device,
        max_loaded: int = 8,
        quantize: Quantize = "none",
        cache_dir: str | Path | None = None,
    ) -> None:
        if max_loaded < 1:
            raise EngineError("--max-loaded must be at least 1 (the base writer)")
        self.device = device
        self.quantize = quantize  # applied to every writer loaded (engine/quantize.py)
        self.max_loaded = max_loaded
        self.base_dir = Path(model_dir).resolve()
        # Where s3:// versions are downloaded to (once; versions never change).
        self.cache_dir = Path(cache_dir) if cache_dir else artifacts.default_cache()
        self.base = checkpoint.load(self.base_dir, device, quantize)
        self.loaded: OrderedDict[Path, Checkpoint] = OrderedDict()  # least recent first

    def writer(self, name: str) -> Checkpoint:
        """The writer a request names, loaded on first use; RequestError if it cannot be."""
        folder = self._folder(name)
        if folder is None:
            return self.base
        if folder in self.loaded:
            self.loaded.move_to_end(folder)
            return self.loaded[folder]
        found = self.load(name)
        self.loaded[folder] = found
        while len(self.loaded) + 1 > self.max_loaded:  # + 1: the base
            self.loaded.popitem(last=False)
        return found

    def load(self, name: str) -> Checkpoint:
        """The writer a name means, read now (no cache: `writer` keeps the LRU here, Serve's
        multiplexing keeps it on a fleet replica); RequestError if it cannot be."""
        folder = self._folder(name)
        if folder is None:
            return self.base
        try:
            return checkpoint.load(folder, self.device, self.quantize)
        except EngineError as exc:
            raise RequestError(f"the writer {name!r} could not be loaded: {exc}") from exc

    def _folder(self, name: str) -> Path | None:
        """The folder a writer name means, or None for the base: an s3:// version is
        downloaded into the cache the first time (RequestError naming it if it cannot be)."""
        if name == BASE:
            return None
        if artifacts.is_remote(name):
            try:
                return artifacts.local_copy(name, self.cache_dir).resolve()
            except artifacts.ArtifactError as exc:
                raise RequestError(f"the writer {name!r} could not be fetched: {exc}") from exc
        folder = Path(name).resolve()
        return None if folder == self.base_dir else folder

    def info(self, name: str = BASE) -> dict[str, Any]:
        """Facts about a writer for /model, as numbers (the bot words them in the chat's
        language): folder, size, device, held-out bits/char per language, training."""
        return self.facts(self.writer(name), name)

    def facts(self, loaded: Checkpoint, name: str) -> dict[str, Any]:
        """`info` of a writer already loaded under this name."""
        config, metrics = loaded.model.config, loaded.metrics
        return {
            "model": artifacts.name(name) if name != BASE else self.base_dir.name,
            "layers": config.rnn_layers,
            "rnn": config.rnn_type.upper(),
            "rnn_size": config.rnn_size,
            "parameters": sum(p.numel() for p in loaded.model.parameters()),
            "characters": len(loaded.vocab),
            "device": self.device.type,
            "int8": self.quantize == "int8",
            "held_out_bits": {
                lang: round(float(figures["bits_per_char"]), 4)
                for lang, figures in metrics.get("held_out", {}).items()
            },
            "validation_bits": (
                round(float(metrics["val_bits_per_char"]), 4)
                if "val_bits_per_char" in metrics
                else None
            ),
            "steps": int(metrics["steps"]) if "steps" in metrics else None,
            "chars_seen": int(metrics["chars_seen"]) if "chars_seen" in metrics else None,
        }

    def answer(self, prompts: list[Prompt], name: str) -> list[list[dict[str, Any]]]:
        """One batched generate for the prompts of one writer -> candidates per prompt."""
        return candidates_of(self.writer(name), prompts)


def candidates_of(loaded: Checkpoint, prompts: list[Prompt]) -> list[list[dict[str, Any]]]:
    """One batched generate for the prompts of one loaded writer, as the protocol's fields."""
    results = generate(loaded.model, loaded.vocab, prompts)
    return [
        [
            {
                "text": s.text,
                "mean_logprob": s.mean_logprob,
                "temperature": s.temperature,
                "seed": s.seed,
            }
            for s in samples
        ]
        for samples in results
    ]


def _read_lines(stream: IO[str], inbox: queue.Queue[str | None]) -> None:
    for line in stream:
        inbox.put(line)
    inbox.put(None)  # end of input: the bot went away


def serve(worker: Worker, stdin: IO[str], out: IO[str], batch_wait: float) -> None:
    """Answer requests until stdin ends; what arrives within `batch_wait` s is one batch."""
    inbox: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(stdin, inbox), daemon=True).start()

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message, ensure_ascii=False) + "\n")
        out.flush()

    send({"event": "ready", "info": worker.info()})
    while True:
        first = inbox.get()
        if first is None:
            return
        batch = [first]
        deadline = time.monotonic() + batch_wait
        while True:  # gather what else arrives within the batch window
            try:
                more = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if more is None:
                inbox.put(None)
                break
            batch.append(more)
        answer_batch(worker, batch, send)


def answer_batch(worker: Worker, lines: list[str], send: Send) -> None:
    """Answer info and ping at once; then generate writer by writer, in order of arrival."""
    by_writer: dict[str, list[tuple[Any, Prompt]]] = {}
    for line in lines:
        try:
            request = json.loads(line)
            op = request["op"]
        except (json.JSONDecodeError, KeyError, TypeError):
            send({"id": None, "ok": False, "error": "malformed request"})
            continue
        rid = request.get("id")
        try:
            if op == "generate":
                name, prompt = parse_generate(request)
                by_writer.setdefault(name, []).append((rid, prompt))
            elif op == "info":
                name = request.get("writer", BASE)
                if not isinstance(name, str):
                    raise RequestError("info: field 'writer' must be a string")
                send({"id": rid, "ok": True, "info": worker.info(name)})
            elif op == "ping":
                send({"id": rid, "ok": True})
            else:
                send({"id": rid, "ok": False, "error": f"unknown op {op!r}"})
        except EngineError as exc:
            send({"id": rid, "ok": False, "error": str(exc)})
    for name, requests in by_writer.items():
        try:
            results = worker.answer([prompt for _, prompt in requests], name)
        except EngineError as exc:  # only this writer's requests fail
            for rid, _ in requests:
                send({"id": rid, "ok": False, "error": str(exc)})
            continue
        for (rid, _), candidates in zip(requests, results, strict=True):
            send({"id": rid, "ok": True, "candidates": candidates})


def main_serve(args: argparse.Namespace) -> int:
    # The protocol owns the real stdout; anything else printed goes to stderr.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    device = torch.device(args.device) if args.device else pick_device()
    quantize = args.quantize
    if quantize != "none" and device.type != "cpu" and not args.device:
        # int8 is for the CPU; a GPU found by itself generates fast without it.
        print(f"--quantize {quantize} ignored: generating on {device}", file=sys.stderr)
        quantize = "none"
    # One thread: a generation step is small work, and the bot process needs the other core.
    torch.set_num_threads(1)
    worker = Worker(args.model, device, args.max_loaded, quantize)
    serve(worker, sys.stdin, protocol_out, args.batch_wait_ms / 1000)
    return 0
