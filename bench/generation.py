"""Generation speed and memory: prints ONE JSON object on stdout.

Each configuration runs in a fresh child process (so its peak RSS, `ru_maxrss`, is its own:
torch + model + generation), on the CPU with every `--quantize` asked for, and on CUDA (float
only) when a GPU is present:

* stream-1, stream-16, window-1, window-16: P prompts x 3 candidates x 300 chars, stream or
  window mode, plain sampling (temperature 0.8) with stops off, so every row samples the full
  length; chars/s = P x 3 x 300 over the wall time of one `generate` call, priming included.
* batched-30: 10 prompts x 3 candidates x 300 chars (30 rows), stops off, with the bot's policy
  (top-p 0.95, repetition penalty 1.1: the per-row sort of top-p is part of the cost).
* stream-1024x9 (CUDA only): 1,024 prompts x 9 candidates x 300 chars.
* continue: one `/continue` as the bot sends it (config.toml [writer]): a 600-character story
  tail, 3 candidates of length 150 (max 225, no stop before 90, stop at a sentence end),
  over-generation 2, top-p 0.95, repetition penalty 1.1, distinct; the p50 and p90 latency over
  `--continue-repeats` calls, each on another story tail and seed.

On CUDA, stream mode replays a captured step (engine/_decode_graph.py); each CUDA figure is also
measured without it (RELAYTALE_CUDA_GRAPHS=0, "cuda_graphs": false) for comparison. With graphs,
a run reports "graph_capture_error" (null when the capture held; else the figure is the ordinary
loop's) and "graph_texts_equal_eager": how many candidates the replayed step wrote exactly as
the ordinary loop did.

Contexts are excerpts of weights/default/eval.txt (Korean and English prose), else random
letters. The figure is the median of `--repeats` calls after one warm-up call.

    python bench/generation.py [--model DIR] [--threads 1] [--repeats 3] [--quantize none int8]
        [--configs stream-1 continue ...] [--devices cpu cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _continue import CONTEXT_CHARS, continue_settings  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
EVAL_TEXT = ROOT / "weights" / "default" / "eval.txt"
# name -> (mode, prompts, candidates, max_chars)
SPEED = {
    "stream-1": ("stream", 1, 3, 300),
    "stream-16": ("stream", 16, 3, 300),
    "window-1": ("window", 1, 3, 300),
    "window-16": ("window", 16, 3, 300),
    "batched-30": ("stream", 10, 3, 300),
    "stream-1024x9": ("stream", 1024, 9, 300),  # CUDA only: the many-chats figure
}
CONFIGS = [*SPEED, "continue"]
CPU_CONFIGS = [c for c in CONFIGS if c != "stream-1024x9"]
# The switch of engine/generate.py for the CUDA-graph step.
GRAPHS = "RELAYTALE_CUDA_GRAPHS"
# The bot's generation policy (config.toml [writer]) for a /continue of length 150.
LENGTH = 150


def _model(model_dir: str | None, device: str, quantize: str) -> tuple[Any, Any, str]:
    """The checkpoint given, or a random default-size model (emb 100, 2 x LSTM 128) over ~1000
    characters (ASCII and Hangul syllables)."""
    import torch

    from engine.checkpoint import load
    from engine.model import CharRNN
    from engine.model_config import ModelConfig
    from engine.quantize import quantize_model
    from engine.vocab import Vocab

    if model_dir:
        checkpoint = load(model_dir, device, quantize)  # type: ignore[arg-type]
        return checkpoint.model, checkpoint.vocab, f"checkpoint {model_dir}"
    chars = [chr(c) for c in range(32, 127)] + ["\n"] + [chr(0xAC00 + i) for i in range(904)]
    vocab = Vocab(["<pad>", "<unk>", "<s>", *chars])
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(vocab))).to(device).eval()
    model = quantize_model(model, quantize, device)  # type: ignore[arg-type]
    return model, vocab, f"random-initialised default-size model, vocab {len(vocab)}"


def _contexts(vocab: Any, count: int, rng: random.Random, low: int, high: int) -> list[str]:
    """`count` story tails of low..high characters: prose excerpts, else random letters."""
    if EVAL_TEXT.exists():
        text = EVAL_TEXT.read_text(encoding="utf-8")
        out = []
        for _ in range(count):
            size = rng.randint(low, high)
            start = rng.randrange(0, len(text) - size)
            out.append(text[start : start + size])
        return out
    letters = [t for t in vocab.tokens if len(t) == 1]
    return ["".join(rng.choices(letters, k=rng.randint(low, high))) for _ in range(count)]


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _speed(args: argparse.Namespace, model: Any, vocab: Any) -> dict[str, Any]:
    from engine.generate import Prompt, SampleSettings, generate

    mode, count, candidates, max_chars = SPEED[args.config]
    contexts = _contexts(vocab, count, random.Random(0), 200, 500)
    if args.config == "batched-30":
        settings = SampleSettings(
            max_chars=max_chars, temperatures=(0.8,), top_p=0.95, repetition_penalty=1.1
        )
    else:
        settings = SampleSettings(max_chars=max_chars, temperatures=(0.8,))
    prompts = [Prompt(c, n=candidates, seed=i, settings=settings) for i, c in enumerate(contexts)]
    generate(model, vocab, prompts, mode)  # warm-up
    times, text_chars = [], 0
    for _ in range(args.repeats):
        _sync(args.device)
        start = time.perf_counter()
        out = generate(model, vocab, prompts, mode)
        _sync(args.device)
        times.append(time.perf_counter() - start)
        text_chars = sum(len(s.text) for cands in out for s in cands)
    seconds = statistics.median(times)
    result: dict[str, Any] = {}
    if args.device == "cuda" and os.environ.get(GRAPHS) != "0":
        result["graph_texts_equal_eager"] = _graph_agreement(model, vocab, prompts, mode, out)
    return result | {
        "mode": mode,
        "prompts": count,
        "candidates": candidates,
        "max_chars": max_chars,
        "seconds": round(seconds, 4),
        "chars_per_s": round(count * candidates * max_chars / seconds),
        "text_chars_after_trim": text_chars,
    }


def _graph_agreement(model: Any, vocab: Any, prompts: list[Any], mode: str, out: Any) -> str:
    """How many candidates the captured step wrote exactly as the ordinary loop does, "k/n".
    (Not always all: cuDNN's LSTM and `torch.lstm_cell` may round differently.)"""
    from engine.generate import generate

    os.environ[GRAPHS] = "0"
    try:
        eager = generate(model, vocab, prompts, mode)
    finally:
        os.environ[GRAPHS] = "1"
    pairs = [
        (a, b)
        for graph_cands, eager_cands in zip(out, eager, strict=True)
        for a, b in zip(
            sorted(c.text for c in graph_cands), sorted(c.text for c in eager_cands), strict=True
        )
    ]
    return f"{sum(a == b for a, b in pairs)}/{len(pairs)}"


def _continue(args: argparse.Namespace, model: Any, vocab: Any) -> dict[str, Any]:
    """Latency of one /continue, as the bot's worker answers it."""
    from engine.generate import Prompt, generate

    settings = continue_settings(LENGTH)
    rng = random.Random(1)
    tails = _contexts(vocab, args.continue_repeats + 1, rng, CONTEXT_CHARS, CONTEXT_CHARS)
    prompts = [Prompt(t, n=3, seed=100 * i, settings=settings) for i, t in enumerate(tails)]
    generate(model, vocab, prompts[:1])  # warm-up
    times, lengths = [], []
    for prompt in prompts[1:]:
        _sync(args.device)
        start = time.perf_counter()
        out = generate(model, vocab, [prompt])[0]
        _sync(args.device)
        times.append(time.perf_counter() - start)
        lengths.extend(len(s.text) for s in out)
    times.sort()
    return {
        "mode": "stream",
        "requests": len(times),
        "candidates": 3,
        "overgenerate": 2,
        "length": LENGTH,
        "context_chars": CONTEXT_CHARS,
        "p50_seconds": round(statistics.median(times), 4),
        "p90_seconds": round(times[min(len(times) - 1, round(0.9 * (len(times) - 1)))], 4),
        "mean_candidate_chars": round(statistics.mean(lengths), 1) if lengths else 0,
    }


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration, measured in this (fresh) process."""
    import torch

    torch.set_num_threads(args.threads)
    model, vocab, what = _model(args.model, args.device, args.quantize)
    measure = _continue if args.config == "continue" else _speed
    result: dict[str, Any] = {"config": args.config, "device": args.device}
    result.update(quantize=args.quantize, **measure(args, model, vocab))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result.update(threads=torch.get_num_threads(), model=what)
    if args.device == "cuda":
        from engine.generate import capture_error

        result["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        # A capture the GPU refused: the figure is the ordinary loop's, whatever was asked.
        result["graph_capture_error"] = capture_error()
    return result


def _run_child(
    args: argparse.Namespace, config: str, device: str, quantize: str, graphs: bool = True
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--config", config, "--device", device]
    cmd += ["--quantize", quantize, "--threads", str(args.threads)]
    cmd += ["--repeats", str(args.repeats), "--continue-repeats", str(args.continue_repeats)]
    if args.model:
        cmd += ["--model", args.model]
    env = {**os.environ, GRAPHS: "1" if graphs else "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        error = done.stderr.strip().splitlines()[-1:]
        return {"config": config, "device": device, "quantize": quantize, "error": error}
    result: dict[str, Any] = json.loads(done.stdout)
    if device == "cuda":
        result["cuda_graphs"] = graphs
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, metavar="DIR")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--continue-repeats", type=int, default=15)
    parser.add_argument("--quantize", nargs="+", choices=["none", "int8"], default=["none"])
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=CONFIGS)
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=["cpu", "cuda"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="stream-1", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        args.quantize = args.quantize[0]
        print(json.dumps(child(args)))
        return 0

    import torch

    plan = [("cpu", q, True) for q in args.quantize] if "cpu" in args.devices else []
    if torch.cuda.is_available() and "cuda" in args.devices:
        plan += [("cuda", "none", True), ("cuda", "none", False)]
    load_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    for device, quantize, graphs in plan:
        for config in args.configs:
            if device == "cpu" and config not in CPU_CONFIGS:
                continue
            run = _run_child(args, config, device, quantize, graphs)
            runs.append(run)
            figure = run.get("chars_per_s", run.get("p50_seconds", run.get("error")))
            rss = run.get("peak_rss_mb")
            print(f"{device} {quantize} {config}: {figure}, {rss} MB", file=sys.stderr)
    report = {
        "benchmark": "generation",
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "threads": args.threads,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "model": next((r["model"] for r in runs if "model" in r), None),
        "runs": runs,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
