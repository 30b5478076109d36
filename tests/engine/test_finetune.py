"""Fine-tunes that learn a chat's style without forgetting, the gate, and the finetune command."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from engine import checkpoint
from engine._start import init_from
from engine.data import Document
from engine.errors import CheckpointError, DataError, EngineError
from engine.evaluate import evaluate
from engine.finetune import Figures, by_language, finetune, gate, read_excerpts, split_held_out
from engine.train import train
from engine.train_options import Recipe, TrainOptions
from storage import artifacts
from tests.engine.conftest import run_engine, tiny_options

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = Path(__file__).parent / "data"
# Quick and small: the test texts are one batch per epoch, so many short epochs; a gentle rate
# and twice as much replay keep the tiny base's English and Korean. (The anchor's nominal
# strength is for 10,000 characters: on 1,400 it would be 7 times stronger.)
QUICK = Recipe(
    epochs=20,
    lr=3e-3,
    replay_ratio=2,
    anchor=0.003,
    eval_points=10,
    patience=0,
    min_char_count=1,
)


def _lines(name: str) -> list[str]:
    return (DATA / name).read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny base writer of English and Korean prose, with its replay and evaluation texts
    (the last lines of each text, never trained on) beside it, as weights/default has them."""
    en, ko = _lines("base_en.txt"), _lines("base_ko.txt")
    trained = ["\n".join(en[:-4]), "\n".join(ko[:-4])]
    folder = tmp_path_factory.mktemp("base") / "base"
    train(trained, folder, tiny_options(epochs=30))
    (folder / "replay.txt").write_text("\n\n".join(trained) + "\n", encoding="utf-8")
    held = ["\n".join(en[-4:]), "\n".join(ko[-4:])]
    (folder / "eval.txt").write_text("\n\n".join(held) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tuned(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One fine-tune of the base on the sea-shanty chat text."""
    out = tmp_path_factory.mktemp("chat") / "v1"
    summary = finetune(base_dir, [DATA / "chat_sea.txt"], out, recipe=QUICK)
    return out, summary


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_style_is_learned_without_forgetting_the_base_text(
    tuned: tuple[Path, dict[str, Any]], base_dir: Path
) -> None:
    """The chat's held-out loss falls clearly; the base text rises less than the margin, in
    each language; the figures in the summary are the new folder's own."""
    out, summary = tuned
    assert summary["promoted"], summary["reason"]
    assert summary["chat_bits_after"] < summary["chat_bits_before"] - 0.5
    assert summary["base_bits_after"] <= summary["base_bits_before"] + QUICK.max_forget_bits
    record = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["finetune"]
    for part in record["base_by_language"].values():
        assert part["bits_after"] <= part["bits_before"] + QUICK.max_forget_bits
    loaded = checkpoint.load(out)
    held = split_held_out((DATA / "chat_sea.txt").read_text(encoding="utf-8"), 0.1)[1]
    measured = evaluate(loaded.model, loaded.vocab, [held])["bits_per_char"]
    assert measured == pytest.approx(summary["chat_bits_after"], abs=1e-3)


def test_the_folder_holds_a_complete_checkpoint_its_figures_and_a_png(
    tuned: tuple[Path, dict[str, Any]], base_dir: Path
) -> None:
    """model (weights in float16, as shipped) + config + vocab + metrics with lineage and
    curves, and loss.png is a PNG."""
    out, summary = tuned
    checkpoint.load(out)
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        names = weights.keys()  # a safe_open handle is not iterable itself
        assert {weights.get_tensor(k).dtype for k in names} == {torch.float16}
    record = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["finetune"]
    assert record["status"] == "promoted" and record["parent"] == str(base_dir)
    assert record["lineage"] == [str(base_dir)]
    assert record["held_out_chars"] == summary["held_out_chars"] > 0
    assert set(record["curves"]) >= {"train", "chat", "base_en", "base_ko"}
    png = (out / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    assert not list(out.parent.glob(".*"))  # no work folder left behind


def test_fine_tuning_never_writes_into_another_folder(base_dir: Path, tmp_path: Path) -> None:
    """The parent and a sibling version are bit-identical after a fine-tune of the parent."""
    parent = Path(shutil.copytree(base_dir, tmp_path / "parent"))
    sibling = Path(shutil.copytree(base_dir, tmp_path / "sibling"))
    before = {p: _sha256(p) for folder in (parent, sibling) for p in folder.iterdir()}
    quick = Recipe(epochs=1, lr=1e-2, eval_points=1, min_char_count=1)
    finetune(parent, [DATA / "chat_sea.txt"], tmp_path / "child", recipe=quick)
    assert {p: _sha256(p) for p in before} == before
    assert sorted(p.name for p in parent.iterdir()) == sorted(p.name for p in base_dir.iterdir())


def test_a_run_that_gains_nothing_is_rejected_with_its_reason(
    base_dir: Path, tmp_path: Path
) -> None:
    """Fine-tuning on text the base already knows cannot gain 1 bit/char: the version is
    written, marked rejected, and the reason quotes the figures."""
    text = tmp_path / "known.txt"
    text.write_text((DATA / "base_en.txt").read_text(encoding="utf-8"), encoding="utf-8")
    recipe = Recipe(epochs=1, lr=1e-3, eval_points=2, min_gain_bits=1.0, min_char_count=1)
    summary = finetune(base_dir, [text], tmp_path / "v", recipe=recipe)
    assert not summary["promoted"]
    assert summary["reason"].startswith("the writer did not get better on this chat's text (")
    figures = f"{summary['chat_bits_before']:.2f} → {summary['chat_bits_after']:.2f}"
    assert figures in summary["reason"]
    assert summary["verdict"] == {
        "code": "no_gain",
        "language": None,
        "before": summary["chat_bits_before"],
        "after": summary["chat_bits_after"],
        "limit": 1.0,
    }
    record = json.loads((tmp_path / "v" / "metrics.json").read_text(encoding="utf-8"))
    assert record["finetune"]["status"] == "rejected"


def test_the_gate_names_the_language_that_would_be_forgotten() -> None:
    """A gain on the chat's text with English 0.08 worse is refused, saying so."""
    chars = {"ko": 100, "en": 100}
    before = Figures(chat=4.21, base={"ko": 4.70, "en": 2.00}, chars=chars)
    after = Figures(chat=3.80, base={"ko": 4.60, "en": 2.08}, chars=chars)
    verdict = gate(before, after, Recipe())
    assert not verdict.promoted
    assert verdict.reason == (
        "it would forget too much of what it knew "
        "(English base text 2.00 → 2.08 bits/char, limit +0.05)"
    )
    assert (verdict.code, verdict.language, verdict.limit) == ("forgetting", "en", 0.05)
    assert (verdict.before, verdict.after) == (2.00, 2.08)
    assert before.base_overall == pytest.approx(3.35)
    fine = Figures(chat=3.80, base={"ko": 4.70, "en": 2.04}, chars=chars)
    assert gate(before, fine, Recipe()).promoted
    small = Figures(chat=4.20, base={"ko": 4.70, "en": 2.00}, chars=chars)
    assert gate(before, small, Recipe()).code == "no_gain"


def test_vocabulary_growth_keeps_the_parents_rows(
    tuned: tuple[Path, dict[str, Any]], base_dir: Path
) -> None:
    """Characters new to the parent get rows at the end; the old tokens keep their indices."""
    out, summary = tuned
    parent, child = checkpoint.load(base_dir), checkpoint.load(out)
    assert summary["new_chars"], "the chat text should bring characters the base lacks"
    assert child.vocab.tokens[: len(parent.vocab)] == parent.vocab.tokens
    assert child.vocab.tokens[len(parent.vocab) :] == summary["new_chars"]
    assert child.model.config.vocab_size == len(parent.vocab) + len(summary["new_chars"])


def test_held_out_slice_is_the_last_tenth_from_a_line_start() -> None:
    """split_held_out: the tail tenth of a text, cut at a line start."""
    text = "".join(f"line {i:02d} of the story\n" for i in range(40))
    head, tail = split_held_out(text, 0.1)
    assert tail.startswith("line 36") and head.endswith("line 35 of the story")
    assert abs(len(tail) - len(text) * 0.1) < 25


def test_excerpts_are_split_by_language() -> None:
    """eval.txt excerpts are grouped into Korean and English, as the gate weighs them."""
    parts = by_language(read_excerpts(DATA / "README.md"))
    assert set(parts) == {"en"}
    docs = read_excerpts(DATA / "base_ko.txt")
    assert set(by_language(docs)) == {"ko"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_engine("finetune", *args)


@pytest.mark.slow
def test_cli_json_prints_the_documented_keys_and_heartbeats(
    base_dir: Path, tmp_path: Path
) -> None:
    """`finetune --json --progress jsonl`: one JSON object on stdout with the documented keys,
    progress lines on stderr; exit 0."""
    out = tmp_path / "v1"
    done = _cli(
        "--parent", str(base_dir), "--text", str(DATA / "chat_sea.txt"), "--out", str(out),
        "--epochs", "2", "--lr", "0.01", "--eval-points", "2", "--json", "--progress", "jsonl",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.strip().splitlines()
    summary = json.loads(line)
    assert set(summary) == {
        "promoted", "reason", "verdict", "chat_bits_before", "chat_bits_after", "base_bits_before",
        "base_bits_after", "chars", "seconds", "out", "new_chars", "held_out_chars",
    }  # fmt: skip
    assert summary["out"] == str(out) and (out / "model.safetensors").exists()
    beats = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    assert beats and all(b["event"] == "progress" for b in beats)
    assert {b["phase"] for b in beats} <= {"train", "eval"}
    assert beats[-1]["fraction"] == 1.0


@pytest.mark.slow
def test_cli_reads_and_publishes_versions_on_s3(
    base_dir: Path, s3_url: str, tmp_path: Path
) -> None:
    """--parent and --out as s3:// locations: the version is published there whole, the
    summary's "out" is the location, the lineage names the parent's location; a second run to
    the same location is refused (versions never change)."""
    parent, out = f"{s3_url}/chat-1/run-1", f"{s3_url}/chat-1/run-2"
    artifacts.publish(base_dir, parent)
    args = ("--parent", parent, "--base", str(base_dir), "--text", str(DATA / "chat_sea.txt"),
            "--out", out, "--epochs", "1", "--eval-points", "1", "--json")  # fmt: skip
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["out"] == out and artifacts.exists(out)
    metrics = json.loads((artifacts.local_copy(out, tmp_path) / "metrics.json").read_text("utf-8"))
    assert metrics["finetune"]["lineage"][-1] == parent
    again = _cli(*args)
    assert again.returncode == 2 and "already there" in again.stderr


def test_cli_refuses_a_corrupt_parent_and_missing_text_with_exit_2(
    base_dir: Path, tmp_path: Path
) -> None:
    """A broken parent checkpoint or a missing text file: exit 2, 'error: ...' on stderr."""
    parent = Path(shutil.copytree(base_dir, tmp_path / "parent"))
    weights = parent / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    done = _cli("--parent", str(parent), "--text", str(DATA / "chat_sea.txt"),
                "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("error: ")
    assert "model.safetensors" in done.stderr and not (tmp_path / "out").exists()
    missing = _cli("--parent", str(base_dir), "--text", str(tmp_path / "nope.txt"),
                   "--out", str(tmp_path / "out"))  # fmt: skip
    assert missing.returncode == 2 and "nope.txt" in missing.stderr


def test_bad_inputs_raise_engine_errors(base_dir: Path, tmp_path: Path) -> None:
    """Binary or empty text, a corrupt parent and --out = --parent are refused in-process."""
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x00\x01\x02")
    empty = tmp_path / "e.txt"
    empty.write_text("  \n", encoding="utf-8")
    for text in (binary, empty):
        with pytest.raises(DataError):
            finetune(base_dir, [text], tmp_path / "x", recipe=QUICK)
    broken = Path(shutil.copytree(base_dir, tmp_path / "broken"))
    (broken / "config.json").write_text("{", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"config\.json"):
        finetune(broken, [DATA / "chat_sea.txt"], tmp_path / "y", recipe=QUICK)
    with pytest.raises(EngineError, match="folder of its own"):
        finetune(base_dir, [DATA / "chat_sea.txt"], base_dir, recipe=QUICK)
    assert torch.get_num_threads() == 1


def test_the_anchor_pulls_toward_the_checkpoint_it_is_told(base_dir: Path, tmp_path: Path) -> None:
    """anchor_to "parent" remembers the parent's weights, "base" the shipped base's (the rows
    both have), so a lineage's versions are pulled back toward where every chat started."""
    quick = Recipe(epochs=1, lr=1e-2, eval_points=1, min_char_count=1)
    finetune(base_dir, [DATA / "chat_sea.txt"], tmp_path / "child", recipe=quick)
    docs = [Document((DATA / "chat_sea.txt").read_text(encoding="utf-8"))]
    for target, expected in (("parent", tmp_path / "child"), ("base", base_dir)):
        options = TrainOptions(
            from_dir=str(tmp_path / "child"),
            anchor=0.1,
            anchor_dir=str(base_dir) if target == "base" else None,
        )
        *_, anchor = init_from(options, tmp_path / target, torch.device("cpu"), docs, [], "x")
        assert anchor is not None
        weights = checkpoint.load(expected).model.state_dict()
        assert all(torch.equal(start, weights[name]) for name, start in anchor.start.items())
    parent, base = (checkpoint.load(d).model.state_dict() for d in (tmp_path / "child", base_dir))
    assert not torch.equal(parent["output.bias"], base["output.bias"])  # they differ
