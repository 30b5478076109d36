"""The generation policy: how a /continue becomes one request to the writer.

Every knob lives in [writer] of config.toml (`WriterConfig`) and travels in the request; the
engine applies exactly what it is sent. Seeds follow from the round and the order of its
requests, so replaying a session replays its candidates, and every request of a round samples
with seeds of its own (a second /continue never re-draws the first one's).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import WriterConfig
from bot.core.ports import WriterRequest
from bot.core.records import Line

# Seeds of round r start at r * SEEDS_PER_ROUND + 1; a round's requests take blocks from there.
SEEDS_PER_ROUND = 100


def clean_keyword(keyword: str, policy: WriterConfig) -> str:
    """One line of single-spaced words, cut to writer.keyword_chars."""
    return " ".join(keyword.split())[: policy.keyword_chars]


def story_tail(lines: Sequence[Line], policy: WriterConfig) -> str:
    """The end of the story the writer reads: the last writer.context_chars characters of its
    lines (one per line), starting at a word when one starts near the cut, and a newline after
    it so the writer begins a new line."""
    text = "\n".join(line.text for line in lines)
    if not text:
        return ""
    limit = policy.context_chars
    if len(text) > limit:
        text = text[-limit:]
        space = next((i for i, c in enumerate(text[: limit // 5]) if c.isspace()), -1)
        text = text[space + 1 :]
    return text + "\n"


def seeds_needed(policy: WriterConfig, n: int) -> int:
    """How many seeds a request for n candidates samples with (over-generation included)."""
    return n * policy.overgenerate


def first_seed(round_id: int, taken: int) -> int:
    """The first seed of a request, when the round's earlier requests took `taken` seeds."""
    return round_id * SEEDS_PER_ROUND + 1 + taken


def writer_request(
    policy: WriterConfig,
    *,
    writer: str,
    context: str,
    keyword: str,
    n: int,
    length: int,
    temperature: float,
    seed: int,
) -> WriterRequest:
    """The request for n candidates of about `length` characters, stopped at a sentence end."""
    return WriterRequest(
        context=context,
        keyword=keyword,
        n=n,
        length=length,
        temperature=temperature,
        seed=seed,
        max_chars=max(1, round(length * policy.length_slack)),
        min_chars=int(length * policy.min_length_fraction),
        top_k=policy.top_k,
        top_p=policy.top_p,
        repetition_penalty=policy.repetition_penalty,
        overgenerate=policy.overgenerate,
        writer=writer,
    )


def one_paragraph(text: str) -> str:
    """A candidate becomes one story line: one paragraph, no stray whitespace. Two candidates
    are the same when this makes them equal."""
    return " ".join(text.split())
