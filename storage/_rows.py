"""Column lists and row -> record converters shared by the store's query modules.

Each *_COLUMNS string is what every SELECT of that table returns, so one converter fits all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from bot.core.records import (
    Candidate,
    Chat,
    ChatSettings,
    GateVerdict,
    Line,
    LineKind,
    Novel,
    NovelStatus,
    Round,
    RoundStatus,
    RunStatus,
    RunTrigger,
    Story,
    StoryStatus,
    TrainingRun,
    VersionStatus,
    Vote,
    WriterVersion,
)
from storage._sql import Row

CHAT_COLUMNS = "id, platform, external_id, title, server"
SETTINGS_COLUMNS = "temperature, candidates, vote_seconds, language"
STORY_COLUMNS = "id, chat_id, title, status, created_by, created_at, ended_at"
LINE_COLUMNS = (
    "id, story_id, position, kind, author_id, author_name, text, round_id, removed, created_at"
)
ROUND_COLUMNS = (
    "id, story_id, status, opened_by, opened_by_name, created_at, deadline, closed_at, "
    "winner_candidate_id, close_reason, message_ref, show_by"
)
CANDIDATE_COLUMNS = (
    "id, round_id, ordinal, text, mean_logprob, keyword, length, temperature, seed, "
    "requested_by, requested_by_name"
)
VOTE_COLUMNS = "round_id, member_id, member_name, ordinal, cast_at"
# Never the text: it can be megabytes, and only the trainer needs it (training_text()).
NOVEL_COLUMNS = (
    "id, chat_id, title, sha256, chars, status, added_by, created_at, added_by_name, encoding"
)
WRITER_VERSION_COLUMNS = (
    "id, lineage, number, parent_id, path, status, reason, chars, chat_bits_before, "
    "chat_bits_after, base_bits_before, base_bits_after, created_at, info_json"
)
TRAINING_RUN_COLUMNS = (
    "id, lineage, chat_id, status, trigger, requested_by, queued_at, started_at, heartbeat_at, "
    "progress, finished_at, parent_id, version_id, novel_mark, line_mark, chars, error"
)


def prefixed(alias: str, columns: str) -> str:
    """'id, title' -> 'c.id, c.title': a column list for a query that joins several tables."""
    return ", ".join(f"{alias}.{name.strip()}" for name in columns.split(","))


def width(columns: str) -> int:
    """How many values a column list selects (to slice a joined row)."""
    return len(columns.split(","))


def to_chat(row: Sequence[Any]) -> Chat:
    return Chat(id=row[0], platform=row[1], external_id=row[2], title=row[3], server=row[4])


def to_settings(row: Row) -> ChatSettings:
    return ChatSettings(
        temperature=row[0], candidates=row[1], vote_seconds=row[2], language=row[3]
    )


def to_story(row: Sequence[Any]) -> Story:
    return Story(
        id=row[0],
        chat_id=row[1],
        title=row[2],
        status=cast(StoryStatus, row[3]),
        created_by=row[4],
        created_at=row[5],
        ended_at=row[6],
    )


def to_line(row: Row) -> Line:
    return Line(
        id=row[0],
        story_id=row[1],
        position=row[2],
        kind=cast(LineKind, row[3]),
        author_id=row[4],
        author_name=row[5],
        text=row[6],
        round_id=row[7],
        removed=bool(row[8]),
        created_at=row[9],
    )


def to_round(row: Sequence[Any]) -> Round:
    return Round(
        id=row[0],
        story_id=row[1],
        status=cast(RoundStatus, row[2]),
        opened_by=row[3],
        opened_by_name=row[4],
        created_at=row[5],
        deadline=row[6],
        closed_at=row[7],
        winner_candidate_id=row[8],
        close_reason=row[9],
        message_ref=row[10],
        show_by=row[11],
    )


def to_candidate(row: Row) -> Candidate:
    return Candidate(
        id=row[0],
        round_id=row[1],
        ordinal=row[2],
        text=row[3],
        mean_logprob=row[4],
        keyword=row[5],
        length=row[6],
        temperature=row[7],
        seed=row[8],
        requested_by=row[9],
        requested_by_name=row[10],
    )


def to_vote(row: Row) -> Vote:
    return Vote(
        round_id=row[0], member_id=row[1], member_name=row[2], ordinal=row[3], cast_at=row[4]
    )


def to_novel(row: Row) -> Novel:
    return Novel(
        id=row[0],
        chat_id=row[1],
        title=row[2],
        sha256=row[3],
        chars=row[4],
        status=cast(NovelStatus, row[5]),
        added_by=row[6],
        created_at=row[7],
        added_by_name=row[8],
        encoding=row[9],
    )


def to_writer_version(row: Row) -> WriterVersion:
    return WriterVersion(
        id=row[0],
        lineage=row[1],
        number=row[2],
        parent_id=row[3],
        path=row[4],
        status=cast(VersionStatus, row[5]),
        reason=row[6],
        chars=row[7],
        chat_bits_before=row[8],
        chat_bits_after=row[9],
        base_bits_before=row[10],
        base_bits_after=row[11],
        created_at=row[12],
        verdict=_verdict(row[13]),
    )


def _verdict(info_json: str) -> GateVerdict | None:
    """The gate's verdict in a version's trainer summary; None when it has none (or is bad)."""
    try:
        said = json.loads(info_json).get("verdict")
        return GateVerdict(
            code=str(said["code"]),
            language=None if said.get("language") is None else str(said["language"]),
            before=float(said["before"]),
            after=float(said["after"]),
            limit=float(said["limit"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def to_training_run(row: Row) -> TrainingRun:
    return TrainingRun(
        id=row[0],
        lineage=row[1],
        chat_id=row[2],
        status=cast(RunStatus, row[3]),
        trigger=cast(RunTrigger, row[4]),
        requested_by=row[5],
        queued_at=row[6],
        started_at=row[7],
        heartbeat_at=row[8],
        progress=row[9],
        finished_at=row[10],
        parent_id=row[11],
        version_id=row[12],
        novel_mark=row[13],
        line_mark=row[14],
        chars=row[15],
        error=row[16],
    )
