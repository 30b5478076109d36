"""The writer's requests and replies as the engine spells them, for both of the bot's writers.

The process worker (bot/engine_client.py, JSON lines) and the fleet (bot/fleet_client.py, HTTP)
take the same fields and answer the same ones: engine/service.py defines them (`FIELDS`). Here
the core's records become those fields and back, once for both.
"""

from __future__ import annotations

from typing import Any

from bot.core.ports import WriterCandidate, WriterRequest
from bot.core.records import WriterFacts

__all__ = ["candidates_from", "facts_from", "generate_fields"]


def generate_fields(request: WriterRequest) -> dict[str, Any]:
    """A generate request's fields (engine/service.py `FIELDS`): every knob is sent, the engine
    applies what it is sent."""
    return {
        "writer": request.writer,
        "context": request.context,
        "keyword": request.keyword,
        "n": request.n,
        "seed": request.seed,
        "temperature": request.temperature,
        "max_chars": request.max_chars,
        "min_chars": request.min_chars,
        "top_k": request.top_k,
        "top_p": request.top_p,
        "repetition_penalty": request.repetition_penalty,
        "overgenerate": request.overgenerate,
        "stop_at_sentence_end": True,
        "distinct": True,
    }


def candidates_from(reply: dict[str, Any]) -> list[WriterCandidate]:
    """A generate reply's candidates as the core's records."""
    return [
        WriterCandidate(
            text=c["text"],
            mean_logprob=float(c["mean_logprob"]),
            temperature=float(c["temperature"]),
            seed=int(c["seed"]),
        )
        for c in reply["candidates"]
    ]


def facts_from(info: dict[str, Any]) -> WriterFacts:
    """An info reply's facts as the core's record."""

    def number(key: str) -> int | None:
        return None if info.get(key) is None else int(info[key])

    validation = info.get("validation_bits")
    return WriterFacts(
        model=str(info["model"]),
        layers=int(info["layers"]),
        rnn=str(info["rnn"]),
        rnn_size=int(info["rnn_size"]),
        parameters=int(info["parameters"]),
        characters=int(info["characters"]),
        device=str(info["device"]),
        int8=bool(info["int8"]),
        held_out_bits={k: float(v) for k, v in dict(info["held_out_bits"]).items()},
        validation_bits=None if validation is None else float(validation),
        steps=number("steps"),
        chars_seen=number("chars_seen"),
    )
