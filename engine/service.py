"""`python -m engine serve`: the bot's writer worker, speaking JSON lines on stdin/stdout.

The bot process never imports torch; it starts this as a child process. Protocol (one JSON object
per line, primitives only):

    worker -> {"event": "ready", "info": {...}}                       once the model is loaded
    bot    -> {"id": 7, "op": "generate", "context": "...", "keyword": "", "n": 3,
               "length": 150, "temperature": 0.8, "seed": 1}
    worker -> {"id": 7, "ok": true,
               "candidates": [{"text", "mean_logprob", "temperature", "seed"}, ...]}
    bot    -> {"id": 8, "op": "info"}          -> {"id": 8, "ok": true, "info": {...}}
    bot    -> {"id": 9, "op": "reload", "model": "DIR"}   swap in another checkpoint
    any failure -> {"id": N, "ok": false, "error": "message"}

Requests that arrive together (from many chats) are generated in one batch.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import torch

from engine import checkpoint
from engine.errors import EngineError
from engine.model import pick_device
from engine.sample import Prompt, SampleSettings, generate


class Worker:
    """Holds the current model and answers batches of requests."""

    def __init__(self, model_dir: str, device: torch.device) -> None:
        self.device = device
        self.model_dir = model_dir
        self.loaded = checkpoint.load(model_dir, device)

    def info(self) -> dict[str, str]:
        config = self.loaded.model.config
        params = sum(p.numel() for p in self.loaded.model.parameters())
        metrics = self.loaded.metrics
        facts = {
            "model": Path(self.model_dir).name,
            "size": f"{config.rnn_layers} x {config.rnn_type.upper()} {config.rnn_size}, "
            f"{params / 1e6:.2f} M parameters, {len(self.loaded.vocab)} characters",
            "device": str(self.device),
        }
        if "val_bits_per_char" in metrics:
            facts["held-out loss"] = f"{float(metrics['val_bits_per_char']):.2f} bits/char"
        for lang, figures in metrics.get("held_out", {}).items():
            facts[f"held-out {lang}"] = f"{float(figures['bits_per_char']):.2f} bits/char"
        if "steps" in metrics:
            facts["trained"] = (
                f"{int(metrics['steps']):,} steps, "
                f"{int(metrics.get('chars_seen', 0)) / 1e6:.1f} M characters"
            )
        return facts

    def reload(self, model_dir: str) -> None:
        self.loaded = checkpoint.load(model_dir, self.device)  # the old one serves until here
        self.model_dir = model_dir

    def generate_batch(self, requests: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        prompts = [_prompt(r) for r in requests]
        results = generate(self.loaded.model, self.loaded.vocab, prompts)
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


def _prompt(request: dict[str, Any]) -> Prompt:
    """A /continue request -> sampling settings: aim for `length`, stop at a sentence end."""
    length = int(request["length"])
    settings = SampleSettings(
        max_chars=max(1, int(length * 1.5)),
        min_chars=int(length * 0.6),
        temperatures=(float(request["temperature"]),),
        top_p=0.95,
        repetition_penalty=1.1,
        stop_at_sentence_end=True,
        overgenerate=2,
    )
    return Prompt(
        context=str(request["context"]),
        keyword=str(request.get("keyword", "")),
        n=int(request["n"]),
        seed=int(request["seed"]),
        settings=settings,
    )


def _read_lines(stream: IO[str], inbox: queue.Queue[str | None]) -> None:
    for line in stream:
        inbox.put(line)
    inbox.put(None)  # end of input: the bot went away


def serve(worker: Worker, stdin: IO[str], out: IO[str], batch_wait: float) -> None:
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
        _answer(worker, batch, send)


def _answer(worker: Worker, lines: list[str], send: Any) -> None:
    generate_requests: list[dict[str, Any]] = []
    for line in lines:
        try:
            request = json.loads(line)
            op = request["op"]
        except (json.JSONDecodeError, KeyError, TypeError):
            send({"id": None, "ok": False, "error": "malformed request"})
            continue
        try:
            if op == "generate":
                generate_requests.append(request)
            elif op == "info":
                send({"id": request.get("id"), "ok": True, "info": worker.info()})
            elif op == "reload":
                worker.reload(str(request["model"]))
                send({"id": request.get("id"), "ok": True, "info": worker.info()})
            elif op == "ping":
                send({"id": request.get("id"), "ok": True})
            else:
                send({"id": request.get("id"), "ok": False, "error": f"unknown op {op!r}"})
        except (EngineError, KeyError, ValueError) as exc:
            send({"id": request.get("id"), "ok": False, "error": str(exc)})
    if not generate_requests:
        return
    try:
        results = worker.generate_batch(generate_requests)
    except (EngineError, KeyError, ValueError, TypeError) as exc:
        for request in generate_requests:
            send({"id": request.get("id"), "ok": False, "error": str(exc)})
        return
    for request, candidates in zip(generate_requests, results, strict=True):
        send({"id": request.get("id"), "ok": True, "candidates": candidates})


def main_serve(args: argparse.Namespace) -> int:
    # The protocol owns the real stdout; anything else printed goes to stderr.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    device = torch.device(args.device) if args.device else pick_device()
    # One thread: a generation step is small work, and the bot process needs the other core.
    torch.set_num_threads(1)
    worker = Worker(args.model, device)
    serve(worker, sys.stdin, protocol_out, args.batch_wait_ms / 1000)
    return 0
