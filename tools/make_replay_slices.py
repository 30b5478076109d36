"""Cut the default writer's replay and evaluation texts from the corpora it was trained on.

A developer's tool, not used at run time. It reads ../shared/corpora and the base checkpoint's
own record of what it trained on (metrics.json: `data_files`, `held_out`), and writes beside it:

* replay.txt: excerpts of the base's OWN training text, Korean and English in the base's mix
  (Korean counted as many times as training repeated it: metrics.json `korean_repeats`), so
  that a fine-tune can rehearse what the base knew. Whole lines, taken at evenly spaced places
  in every training work but NOT_REPLAYED.
* eval.txt: excerpts of the works the base never saw (its held-out works), Korean and English
  about equally, to measure what a fine-tune forgets. Nothing in it is in replay.txt.

Excerpts are separated by one blank line (the corpora have none inside a work), so each is read
as its own document. Deterministic: the same corpora and checkpoint give the same bytes.

    .venv/bin/python tools/make_replay_slices.py --corpora ../shared/corpora \\
        --base weights/default
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.data import read_text_file

# Characters of replay text in all, and the excerpt size aimed at per language.
REPLAY_CHARS = 160_000
REPLAY_EXCERPT = {"ko": 1_000, "en": 2_500}
# Trained on, but not copied into the repository: works that SOURCES.md says may still be under
# (URAA-restored) US copyright, being first published in 1930 or later by authors who died
# between 1946 and 1962. They are public domain in Korea; replay.txt is redistributed text.
NOT_REPLAYED = [
    "ko/wikisource__chae_mansik__taepyeongcheonha.txt",
    "ko/wikisource__chae_mansik__miseuteo_bang.txt",
    "ko/wikisource__kim_dongin__balgaraki_damatda.txt",
]
# Characters of evaluation text per language, and excerpts per held-out work.
EVAL_CHARS = {"ko": 20_000, "en": 20_000}
EVAL_EXCERPTS_PER_WORK = {"ko": 1, "en": 4}


def excerpt(text: str, start: int, size: int) -> str:
    """Whole lines from the first line that starts at or after `start`, until `size` chars."""
    if start > 0:
        newline = text.find("\n", start - 1)
        start = len(text) if newline < 0 else newline + 1
    lines: list[str] = []
    length = 0
    for line in text[start:].split("\n"):
        if length >= size:
            break
        if line.strip():
            lines.append(line.strip())
            length += len(line) + 1
    return "\n".join(lines)


def spaced(text: str, count: int, size: int) -> list[str]:
    """`count` excerpts of about `size` chars at evenly spaced places in the text."""
    room = max(0, len(text) - size)
    starts = [round(room * (i + 0.5) / count) if count > 1 else 0 for i in range(count)]
    return [e for e in (excerpt(text, s, size) for s in starts) if e]


def replay(
    corpora: Path, files: list[str], korean_repeats: int
) -> tuple[list[str], dict[str, int]]:
    """Excerpts of the training works, each language's share as in the base's training mix."""
    texts = {name: read_text_file(corpora / name) for name in files if name not in NOT_REPLAYED}
    weight = {
        lang: sum(len(t) for n, t in texts.items() if n.startswith(f"{lang}/"))
        * (korean_repeats if lang == "ko" else 1)
        for lang in ("ko", "en")
    }
    total = sum(weight.values())
    out: list[str] = []
    chars: dict[str, int] = {}
    for lang in ("ko", "en"):
        budget = REPLAY_CHARS * weight[lang] / total
        works = {n: t for n, t in texts.items() if n.startswith(f"{lang}/")}
        lang_chars = sum(len(t) for t in works.values())
        for name in sorted(works):
            share = budget * len(works[name]) / lang_chars
            count = max(1, round(share / REPLAY_EXCERPT[lang]))
            pieces = spaced(works[name], count, round(share / count))
            out.extend(pieces)
            chars[lang] = chars.get(lang, 0) + sum(len(p) for p in pieces)
    return out, chars


def evaluation(corpora: Path, held_out: dict[str, list[str]]) -> tuple[list[str], dict[str, int]]:
    """Excerpts of the held-out works, EVAL_CHARS per language."""
    out: list[str] = []
    chars: dict[str, int] = {}
    for lang in ("ko", "en"):
        works = held_out[lang]
        count = EVAL_EXCERPTS_PER_WORK[lang]
        size = EVAL_CHARS[lang] // (len(works) * count)
        for name in works:
            text = read_text_file(corpora / lang / name)
            pieces = spaced(text, count, size)
            out.extend(pieces)
            chars[lang] = chars.get(lang, 0) + sum(len(p) for p in pieces)
    return out, chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="../shared/corpora")
    parser.add_argument("--base", default="weights/default")
    args = parser.parse_args()

    corpora, base = Path(args.corpora), Path(args.base)
    metrics = json.loads((base / "metrics.json").read_text(encoding="utf-8"))
    held_out = {lang: list(f["works"]) for lang, f in metrics["held_out"].items()}
    trained = list(metrics["data_files"])
    unseen = {f"{lang}/{name}" for lang, names in held_out.items() for name in names}
    assert not unseen & set(trained), "a held-out work is among the training files"

    repeats = int(metrics["korean_repeats"])  # written by tools/train_default_weights.py
    replay_parts, replay_chars = replay(corpora, trained, repeats)
    eval_parts, eval_chars = evaluation(corpora, held_out)
    assert not set(replay_parts) & set(eval_parts)
    for name, parts in (("replay.txt", replay_parts), ("eval.txt", eval_parts)):
        (base / name).write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                "replay": {"excerpts": len(replay_parts), "chars": replay_chars},
                "eval": {"excerpts": len(eval_parts), "chars": eval_chars},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
