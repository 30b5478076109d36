"""Parity of textgenrnn's published models, imported, with textgenrnn's own equations.

Each model in --textgenrnn-dir (textgenrnn_weights.hdf5 and weights/*.hdf5) is imported with
`python -m engine import-textgenrnn`; `python -m engine next --mode window --top V --json` lists
its whole next-character distribution after several prefixes, which is compared with the
independent NumPy reference (tests/engine/numpy_textgenrnn.py). Both commands run in-process
through the real CLI parser. Target: max |p_ours - p_reference| <= 1e-5.

`next` computes in float32, as textgenrnn did; on the fine-tuned models (large weights, logits
near 84) float32 rounding alone moves p by up to ~2e-5. So the imported model is also run in
float64 (`float64_max_abs_diff`): that isolates the importer's own error from float32 rounding.

As a check that the weights were read the right way (a wrong kernel layout still gives a valid
distribution, just a useless one), it also reports each imported model's window-mode loss on the
first titles of its own dataset (its training data; the bundled model: all datasets).

Prints ONE JSON object on stdout; progress goes to stderr.
    python bench/textgenrnn_parity.py [--textgenrnn-dir ../shared/textgenrnn] [--titles 200]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from engine.checkpoint import load  # noqa: E402
from engine.cli import main as engine_main  # noqa: E402
from tests.engine.numpy_textgenrnn import NumpyTextgenrnn  # noqa: E402

PREFIXES = {
    "empty": "",
    "english": "Show HN: I built a ",
    "unknown_chars": "Café ☃ 한국어 naïve — «quoted» 🙂 ok",
    "longer_than_40": "Ask HN: What is the best way to learn about recurrent networks today?",
    "one_char": "T",
}
TARGET = 1e-5


def _run_cli(argv: list[str]) -> dict[str, Any]:
    """Run `python -m engine ...` in-process; return the one JSON object it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = engine_main(argv)
    if rc != 0:
        raise SystemExit(f"python -m engine {' '.join(argv)} exited {rc}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def _titles(data_dir: Path, model_name: str, count: int) -> list[str]:
    """The first titles of the model's own dataset (same words in the file name), or of all."""
    files = sorted(data_dir.glob("*.txt"))
    words = set(model_name.split("_"))
    own = [path for path in files if words <= set(path.stem.split("_"))]
    files = own or files
    share = max(1, count // max(1, len(files)))
    titles: list[str] = []
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()[1:]  # a "title" header line
        titles += [line for line in lines if line.strip()][:share]
    return titles


@torch.inference_mode()
def _nats_per_char(folder: Path, titles: list[str]) -> float:
    """textgenrnn's training objective: <s> + title + <s>, each token predicted from its window."""
    checkpoint = load(folder)
    model, vocab = checkpoint.model, checkpoint.vocab
    length = model.config.max_length
    windows: list[list[int]] = []
    targets: list[int] = []
    for title in titles:
        ids = [vocab.start_index, *vocab.encode(title), vocab.start_index]
        for t in range(1, len(ids)):
            window = ids[max(0, t - length) : t]
            windows.append([0] * (length - len(window)) + window)
            targets.append(ids[t])
    total = 0.0
    for start in range(0, len(windows), 2048):
        logits, _, _ = model(torch.tensor(windows[start : start + 2048]), mode="window")  # (B, V)
        total += float(
            torch.nn.functional.cross_entropy(
                logits, torch.tensor(targets[start : start + 2048]), reduction="sum"
            )
        )
    return total / max(1, len(targets))


@torch.inference_mode()
def _float64_diff(folder: Path, reference: NumpyTextgenrnn) -> float:
    """The importer's own error: the imported model run in float64 against the reference."""
    checkpoint = load(folder)
    model, vocab = checkpoint.model.double(), checkpoint.vocab
    length = model.config.max_length
    worst = 0.0
    for prefix in PREFIXES.values():
        ids = [vocab.start_index, *vocab.encode(prefix)][-length:]
        ids = [vocab.pad_index] * (length - len(ids)) + ids
        logits, _, _ = model(torch.tensor([ids]), mode="window")  # (1, V)
        probs = torch.softmax(logits, dim=-1)[0].numpy()
        worst = max(worst, float(abs(probs - reference.probabilities(prefix)).max()))
    return worst


def _parity(folder: Path, reference: NumpyTextgenrnn, vocab_size: int) -> dict[str, float]:
    """Max |p| difference per prefix over the whole distribution listed by `next`."""
    tokens = load(folder).vocab.tokens
    index = {token: i for i, token in enumerate(tokens)}
    diffs: dict[str, float] = {}
    for label, prefix in PREFIXES.items():
        listed = _run_cli(
            [
                "next",
                "--model",
                str(folder),
                "--prefix",
                prefix,
                "--mode",
                "window",
                "--top",
                str(vocab_size),
                "--json",
            ]
        )["next"]
        if len(listed) != vocab_size:
            raise SystemExit(f"next listed {len(listed)} of {vocab_size} tokens")
        expected = reference.probabilities(prefix)
        diffs[label] = max(
            abs(float(row["p"]) - float(expected[index[row["char"]]])) for row in listed
        )
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--textgenrnn-dir", type=Path, default=REPO / ".." / "shared" / "textgenrnn"
    )
    parser.add_argument(
        "--titles", type=int, default=200, help="titles for the loss check (0 = skip it)"
    )
    args = parser.parse_args()
    root: Path = args.textgenrnn_dir.resolve()
    vocab, config = root / "textgenrnn_vocab.json", root / "textgenrnn_config.json"
    models = [root / "textgenrnn_weights.hdf5", *sorted((root / "weights").glob("*.hdf5"))]
    max_length = json.loads(config.read_text(encoding="utf-8")).get("max_length", 40)
    report: dict[str, Any] = {
        "bench": "textgenrnn_parity",
        "target_max_abs_diff": TARGET,
        "via": "python -m engine next --mode window --top V --json (in-process CLI)",
        "reference": "tests/engine/numpy_textgenrnn.py (float64)",
        "prefixes": PREFIXES,
        "loss_titles_per_model": args.titles,
        "models": {},
    }
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for weights in models:
            started = time.perf_counter()
            name = weights.stem
            folder = Path(tmp) / name
            imported = _run_cli(
                [
                    "import-textgenrnn",
                    "--weights",
                    str(weights),
                    "--vocab",
                    str(vocab),
                    "--config",
                    str(config),
                    "--out",
                    str(folder),
                    "--json",
                ]
            )
            reference = NumpyTextgenrnn(weights, vocab, max_length=max_length)
            diffs = _parity(folder, reference, imported["vocab_size"])
            entry: dict[str, Any] = {
                "layouts": imported["layouts"],
                "max_abs_diff": max(diffs.values()),
                "per_prefix": diffs,
                "float64_max_abs_diff": _float64_diff(folder, reference),
            }
            if args.titles:
                titles = _titles(root / "datasets", name, args.titles)
                entry["nats_per_char_on_titles"] = round(_nats_per_char(folder, titles), 4)
            worst = max(worst, entry["max_abs_diff"])
            report["models"][name] = entry
            print(
                f"{name}: max |dp| {entry['max_abs_diff']:.2e} "
                f"({time.perf_counter() - started:.1f} s)",
                file=sys.stderr,
            )
    report["worst_max_abs_diff"] = worst
    report["pass"] = bool(worst <= TARGET and not math.isnan(worst))
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
