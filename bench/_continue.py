"""The sampling settings of one `/continue` as the bot sends it (config.toml [writer]), shared by
the benchmarks that measure it: bench/generation.py (its latency), bench/candidates.py (how its
candidates end). Imported after `sys.path` holds the project root."""

from __future__ import annotations

from typing import Any

# The story tail the bot sends, in characters.
CONTEXT_CHARS = 600


def continue_settings(length: int) -> Any:
    """SampleSettings of a /continue of `length` characters: no stop before 0.6 x, at most
    1.5 x, stop at a sentence end, top-p 0.95, repetition penalty 1.1, over-generation 2,
    distinct."""
    from engine.generate import SampleSettings

    return SampleSettings(
        max_chars=round(length * 1.5),
        min_chars=round(length * 0.6),
        temperatures=(0.8,),
        top_p=0.95,
        repetition_penalty=1.1,
        stop_at_sentence_end=True,
        overgenerate=2,
        distinct=True,
    )
