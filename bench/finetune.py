"""Fine-tuning benchmark: prints ONE JSON object on stdout (progress on stderr).

* finetune: wall time and characters per second of `python -m engine finetune` (its own
  process, one torch thread) of weights/default on a story of --story-chars characters, with
  the gate's figures and the base text by language;
* latency: a /continue-sized request (3 candidates x 150 characters, over-generated 2x) through
  `python -m engine serve`, p50/p99 over --requests requests, idle and while a fine-tune runs in
  its own process;
* memory: the worker's peak RSS with --max-loaded writers loaded (copies of the base in
  distinct folders, each asked once);
* season: --season successive fine-tunes of one chat as its story grows (the first k/season of
  the story at fine-tune k); each parent is the latest promoted version, the base is
  weights/default; the chat's held-out loss and the base text by language after each.

The story is a Korean work the shipped writer never saw (심훈 「상록수」, ko.wikisource, public
domain), read from ../shared/corpora like the other benches read their data.

    .venv/bin/python bench/finetune.py [--quick] [--story FILE] [--story-chars 100000]
        [--skip finetune serve season] [--recipe "--anchor-to base"]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "weights" / "default"
STORY = ROOT.parent / "shared" / "corpora" / "ko" / "wikisource__sim_hun__sangroksu.txt"
# What the bot sends for `/continue` with 3 candidates of 150 characters (full length here).
REQUEST = {
    "op": "generate",
    "writer": "",
    "keyword": "",
    "n": 3,
    "temperature": 0.8,
    "max_chars": 150,
    "min_chars": 0,
    "top_k": 0,
    "top_p": 0.95,
    "repetition_penalty": 1.1,
    "overgenerate": 2,
    "stop_at_sentence_end": False,
    "distinct": False,
}


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def engine(*args: str, threads: int = 1) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


# Extra `engine finetune` options for every run (--recipe), to measure a recipe change.
RECIPE: list[str] = []


def finetune(parent: Path, text: Path, out: Path) -> dict[str, Any]:
    """One `engine finetune --json` run; its summary, wall time and metrics."""
    began = time.perf_counter()
    process = engine("finetune", "--parent", str(parent), "--base", str(BASE),
                     "--text", str(text), "--out", str(out), "--json", *RECIPE)  # fmt: skip
    stdout, _ = process.communicate()
    wall = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"finetune failed with {process.returncode}")
    summary: dict[str, Any] = json.loads(stdout)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return {"summary": summary, "wall": wall, "metrics": metrics}


def finetune_figures(run: dict[str, Any], story_chars: int) -> dict[str, Any]:
    summary, metrics, wall = run["summary"], run["metrics"], run["wall"]
    record = metrics["finetune"]
    return {
        "story_chars": story_chars,
        "wall_seconds": round(wall, 1),
        "story_chars_per_second": round(story_chars / wall),
        "trained_chars_per_second": round(metrics["chars_seen"] / metrics["train_seconds"]),
        "chars_seen": metrics["chars_seen"],
        "steps": metrics["steps"],
        "kept_step": metrics["selected"]["step"],
        **{k: summary[k] for k in ("promoted", "reason", "chars", "held_out_chars")},
        "chat_bits": [summary["chat_bits_before"], summary["chat_bits_after"]],
        "chat_fall": round(summary["chat_bits_before"] - summary["chat_bits_after"], 4),
        "base_bits": [summary["base_bits_before"], summary["base_bits_after"]],
        "base_by_language": {
            k: {
                "before": v["bits_before"],
                "after": v["bits_after"],
                "rise": round(v["bits_after"] - v["bits_before"], 4),
            }
            for k, v in record["base_by_language"].items()
        },
    }


class Worker:
    """`python -m engine serve` driven over its pipes."""

    def __init__(self, max_loaded: int = 8) -> None:
        self.process = engine("serve", "--model", str(BASE), "--device", "cpu",
                              "--max-loaded", str(max_loaded))  # fmt: skip
        assert self.process.stdout is not None
        ready = json.loads(self.process.stdout.readline())
        assert ready["event"] == "ready", ready
        self.ids = 0

    def ask(self, request: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.ids += 1
        began = time.perf_counter()
        self.process.stdin.write(json.dumps({"id": self.ids, **request}) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        if not reply.get("ok"):
            raise SystemExit(f"worker: {reply}")
        return time.perf_counter() - began, reply

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def latencies(worker: Worker, context: str, count: int) -> dict[str, float]:
    times = []
    for i in range(count):
        seconds, _ = worker.ask({**REQUEST, "context": context, "seed": 1000 * i})
        times.append(seconds)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p99_ms": round(times[min(len(times) - 1, round(0.99 * (len(times) - 1)))] * 1000, 1),
        "requests": count,
    }


def latency_and_memory(args: argparse.Namespace, text: Path, tmp: Path) -> dict[str, Any]:
    context = text.read_text(encoding="utf-8")[-800:]
    worker = Worker(max_loaded=args.max_loaded)
    worker.ask({**REQUEST, "context": context, "seed": 0})  # warm-up
    idle = latencies(worker, context, args.requests)
    note(f"latency idle: {idle}")
    began = time.perf_counter()
    tuning = engine("finetune", "--parent", str(BASE), "--text", str(text),
                    "--out", str(tmp / "during"), "--json")  # fmt: skip
    time.sleep(3.0)  # past loading torch: measure while it trains
    busy = latencies(worker, context, args.requests)
    busy["finetune_still_running"] = tuning.poll() is None
    note(f"latency during a fine-tune: {busy}")
    tuning.communicate()
    busy["finetune_wall_seconds"] = round(time.perf_counter() - began, 1)
    for i in range(1, args.max_loaded):  # the base is one of the loaded writers
        copy = shutil.copytree(BASE, tmp / f"writer{i}")
        worker.ask({**REQUEST, "writer": str(copy), "context": context, "seed": i})
    memory = {"writers_loaded": args.max_loaded, "peak_rss_mb": round(worker.peak_rss_mb(), 1)}
    worker.close()
    return {"latency_idle": idle, "latency_during_finetune": busy, "memory": memory}


def season(args: argparse.Namespace, text: str, tmp: Path) -> list[dict[str, Any]]:
    """Successive fine-tunes of one chat as its story grows."""
    parent, rows = BASE, []
    for k in range(1, args.season + 1):
        part = tmp / f"story{k}.txt"
        part.write_text(story_slice(text, len(text) * k // args.season), encoding="utf-8")
        run = finetune(parent, part, tmp / f"v{k}")
        summary, record = run["summary"], run["metrics"]["finetune"]
        rows.append(
            {
                "version": k,
                "story_chars": len(part.read_text(encoding="utf-8")),
                "parent": parent.name,
                "promoted": summary["promoted"],
                "chat_bits": [summary["chat_bits_before"], summary["chat_bits_after"]],
                "base_bits": summary["base_bits_after"],
                "base_drift": round(summary["base_bits_after"] - summary["base_bits_before"], 4),
                "drift_by_language": {
                    lang: round(v["bits_after"] - v["bits_before"], 4)
                    for lang, v in record["base_by_language"].items()
                },
                "wall_seconds": round(run["wall"], 1),
                "reason": summary["reason"],
            }
        )
        note(f"season {k}: {rows[-1]}")
        if summary["promoted"]:
            parent = tmp / f"v{k}"
    return rows


def story_slice(text: str, chars: int) -> str:
    """The first `chars` characters of a text, ending at a line end."""
    cut = text.rfind("\n", 0, chars)
    return text[: cut + 1 if cut > 0 else chars]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--story", type=Path, default=STORY)
    parser.add_argument("--story-chars", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--max-loaded", type=int, default=8)
    parser.add_argument("--season", type=int, default=10)
    parser.add_argument("--skip", nargs="*", default=[], choices=["finetune", "serve", "season"])
    parser.add_argument("--quick", action="store_true", help="a 30k story, 3 fine-tunes, ...")
    parser.add_argument(
        "--recipe", default="", help='extra finetune options, e.g. "--anchor-to base"'
    )
    args = parser.parse_args()
    RECIPE[:] = args.recipe.split()
    if args.quick:
        args.story_chars, args.requests, args.max_loaded, args.season = 30_000, 10, 3, 3

    text = story_slice(args.story.read_text(encoding="utf-8"), args.story_chars)
    result: dict[str, Any] = {"cpu_cores": os.cpu_count(), "quick": args.quick}
    result["recipe"] = RECIPE
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as folder:
        tmp = Path(folder)
        path = tmp / "story.txt"
        path.write_text(text, encoding="utf-8")
        if "finetune" not in args.skip:
            note(f"fine-tune on {len(text):,} characters ...")
            result["finetune"] = finetune_figures(finetune(BASE, path, tmp / "v"), len(text))
            note(f"fine-tune: {result['finetune']}")
        if "serve" not in args.skip:
            result.update(latency_and_memory(args, path, tmp))
        if "season" not in args.skip:
            rows = season(args, text, tmp)
            result["season"] = rows
            # The chat's writer is the latest promoted version: rejected ones never serve.
            active = [r for r in rows if r["promoted"]] or rows
            result["season_promoted"] = sum(r["promoted"] for r in rows)
            result["season_max_base_drift"] = max(r["base_drift"] for r in active)
            result["season_max_drift_by_language"] = {
                lang: max(r["drift_by_language"][lang] for r in active) for lang in ("ko", "en")
            }
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
