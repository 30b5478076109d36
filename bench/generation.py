"""Generation speed and memory: prints ONE JSON object on stdout.

For stream and window mode, 1 prompt x 3 candidates x 300 chars and 16 prompts x 3 x 300, each in
a fresh child process (so its peak RSS, `ru_maxrss`, is its own: torch + model + generation).
chars/s counts sampled characters (prompts x candidates x max_chars; stops are off, so every row
samples the full length) over the wall time of one `generate` call, priming included; the median
of `--repeats` calls after one warm-up call. On CUDA too when a GPU is present.

    python bench/generation.py [--model DIR] [--threads 1] [--repeats 3]
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

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [("stream", 1), ("stream", 16), ("window", 1), ("window", 16)]
CANDIDATES, MAX_CHARS = 3, 300


def _model(model_dir: str | None, device: str) -> tuple[Any, Any, str]:
    """The checkpoint given, or a random default-size model (emb 100, 2 x LSTM 128) over ~1000
    characters (ASCII and Hangul syllables)."""
    import torch

    from engine.checkpoint import load
    from engine.config import ModelConfig
    from engine.model import CharRNN
    from engine.vocab import Vocab

    if model_dir:
        checkpoint = load(model_dir, device)
        return checkpoint.model, checkpoint.vocab, f"checkpoint {model_dir}"
    chars = [chr(c) for c in range(32, 127)] + ["\n"] + [chr(0xAC00 + i) for i in range(904)]
    vocab = Vocab(["<pad>", "<unk>", "<s>", *chars])
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(vocab))).to(device).eval()
    return model, vocab, f"random-initialised default-size model, vocab {len(vocab)}"


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration, measured in this (fresh) process."""
    import torch

    from engine.sample import Prompt, SampleSettings, generate

    torch.set_num_threads(args.threads)
    model, vocab, what = _model(args.model, args.device)
    rng = random.Random(0)
    letters = [t for t in vocab.tokens if len(t) == 1]
    # Story tails of 200-500 characters, a different one per prompt.
    contexts = [
        "".join(rng.choices(letters, k=rng.randint(200, 500))) for _ in range(args.prompts)
    ]
    settings = SampleSettings(max_chars=MAX_CHARS, temperatures=(0.8,))
    prompts = [Prompt(c, n=CANDIDATES, seed=i, settings=settings) for i, c in enumerate(contexts)]
    generate(model, vocab, prompts, args.mode)  # warm-up
    times, text_chars = [], 0
    for _ in range(args.repeats):
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = generate(model, vocab, prompts, args.mode)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        text_chars = sum(len(s.text) for cands in out for s in cands)
    seconds = statistics.median(times)
    sampled = args.prompts * CANDIDATES * MAX_CHARS
    result: dict[str, Any] = {
        "mode": args.mode,
        "device": args.device,
        "prompts": args.prompts,
        "candidates": CANDIDATES,
        "max_chars": MAX_CHARS,
        "seconds": round(seconds, 4),
        "chars_per_s": round(sampled / seconds),
        "text_chars_after_trim": text_chars,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": torch.get_num_threads(),
        "model": what,
    }
    if args.device == "cuda":
        result["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, metavar="DIR")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="stream", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        print(json.dumps(child(args)))
        return 0

    import torch

    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    load_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    for device in devices:
        for mode, prompts in CONFIGS:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "--mode",
                mode,
                "--prompts",
                str(prompts),
                "--device",
                device,
                "--threads",
                str(args.threads),
                "--repeats",
                str(args.repeats),
            ]
            if args.model:
                cmd += ["--model", args.model]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                runs.append(
                    {
                        "mode": mode,
                        "prompts": prompts,
                        "device": device,
                        "error": done.stderr.strip().splitlines()[-1:],
                    }
                )
                continue
            runs.append(json.loads(done.stdout))
            print(
                f"{device} {mode} {prompts} prompts: {runs[-1]['chars_per_s']} chars/s, "
                f"{runs[-1]['peak_rss_mb']} MB",
                file=sys.stderr,
            )
    report = {
        "benchmark": "generation",
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if "cuda" in devices else None,
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
