"""What a generation request is: prompts with their settings, and the samples that answer them.

Plain frozen dataclasses shared by `generate.py` (the API), the CLI and the worker, so none of
those import each other for their types. No torch here: the CLI reads its argparse defaults from
these classes and `--help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import EngineError

__all__ = ["CONTEXT_CHARS", "Prompt", "Sample", "SampleSettings", "context_tail"]

# How much of a --prefix the `generate` and `next` commands read by default. `generate()` itself
# reads the whole context a Prompt carries: the caller decides how much of a story to send.
CONTEXT_CHARS = 500


@dataclass(frozen=True)
class SampleSettings:
    """How to sample; every prompt carries its own."""

    max_chars: int = 300  # hard cap on generated characters
    min_chars: int = 0  # never stop at a sentence end before this many
    temperatures: tuple[float, ...] = (0.8,)  # cycled over a prompt's candidates; 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off
    repetition_penalty: float = 1.0  # 1.0 = off
    stop_at_sentence_end: bool = False  # Korean and English sentence ends
    overgenerate: int = 1  # sample overgenerate*n, re-rank, keep the best n
    # Return only candidates whose texts differ (whitespace aside): fewer than n when the writer
    # had fewer ideas, rather than the same line twice on a ballot.
    distinct: bool = False
    # Re-rank over-generated candidates with the judges (engine/judges.py): how much more likely
    # a candidate is after its story than after none, and words it repeats.
    judges: bool = True

    def __post_init__(self) -> None:
        if self.max_chars < 0 or self.min_chars < 0:
            raise EngineError("max_chars and min_chars must not be negative")
        if any(t < 0 for t in self.temperatures):
            raise EngineError("temperatures must not be negative")
        if self.top_k < 0 or not 0.0 < self.top_p <= 1.0:
            raise EngineError("top_k must be >= 0 and top_p in (0, 1]")
        if self.repetition_penalty <= 0 or self.overgenerate < 1:
            raise EngineError("repetition_penalty must be > 0 and overgenerate >= 1")


@dataclass(frozen=True)
class Prompt:
    """One request: a story's text so far and how many candidates to continue it with.

    The whole context is read, so send only the tail that should count. The keyword counts
    towards max_chars; it is joined to the context as given (add a space to one of them when a
    new word should start)."""

    context: str = ""  # text so far, read whole
    keyword: str = ""  # the continuation is forced to begin with it
    n: int = 3  # candidates
    seed: int = 0  # candidate i uses its own generator seeded seed + i
    settings: SampleSettings = field(default_factory=SampleSettings)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise EngineError("n must be at least 1")


@dataclass(frozen=True)
class Sample:
    """One candidate continuation."""

    text: str  # the continuation only (not the context)
    mean_logprob: float  # mean log-probability of the sampled characters
    temperature: float
    seed: int
    # False: it was to stop at a sentence end but hit the length cap mid-sentence (it reads cut)
    finished: bool = True


def context_tail(context: str, chars: int) -> str:
    """The last `chars` characters of a context (all of it when `chars` <= 0 or it is shorter),
    starting at a word boundary when one is near, so the model does not begin mid-word."""
    if chars <= 0 or len(context) <= chars:
        return context
    cut = context[-chars:]
    space = next((i for i, c in enumerate(cut[: chars // 5]) if c.isspace()), -1)
    return cut[space + 1 :]
