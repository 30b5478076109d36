"""The living writer's records: versions of each lineage, which one writes, and the training
queue (queued -> running -> succeeded | failed) that survives restarts.

A lineage is "chat-<id>" (one chat's own writer) or "shared"; the store treats it as a name, and
the text a run reads is scoped by chat (one chat, or every chat when `chat_id` is None).
"""

from __future__ import annotations

from bot.core.records import (
    Chat,
    RunTrigger,
    TrainingRun,
    TrainingText,
    VersionFigures,
    WriterVersion,
)
from storage._rows import (
    CHAT_COLUMNS,
    TRAINING_RUN_COLUMNS,
    WRITER_VERSION_COLUMNS,
    prefixed,
    to_chat,
    to_training_run,
    to_writer_version,
    width,
)
from storage._sql import NO_LIMIT, SqlDatabase, SqlSession
from storage.errors import NotFound

_CHAT_END = width(CHAT_COLUMNS)

SQL_HEAD = f"""
SELECT {prefixed("v", WRITER_VERSION_COLUMNS)}
FROM writer_heads h JOIN writer_versions v ON v.id = h.version_id WHERE h.lineage = ?
"""
SQL_VERSIONS = f"""
SELECT {WRITER_VERSION_COLUMNS} FROM writer_versions WHERE lineage = ? ORDER BY number DESC LIMIT ?
"""
SQL_VERSION_BY_NUMBER = (
    f"SELECT {WRITER_VERSION_COLUMNS} FROM writer_versions WHERE lineage = ? AND number = ?"
)
SQL_VERSION = f"SELECT {WRITER_VERSION_COLUMNS} FROM writer_versions WHERE id = ?"
SQL_SET_HEAD = """
INSERT INTO writer_heads (lineage, version_id, changed_at) VALUES (?, ?, ?)
ON CONFLICT (lineage) DO UPDATE
    SET version_id = excluded.version_id, changed_at = excluded.changed_at
"""
SQL_DROP_HEAD = "DELETE FROM writer_heads WHERE lineage = ?"
SQL_INSERT_VERSION = f"""
INSERT INTO writer_versions (lineage, number, parent_id, path, status, reason, chars,
    chat_bits_before, chat_bits_after, base_bits_before, base_bits_after, info_json, created_at)
VALUES (?, (SELECT COALESCE(MAX(number), 0) + 1 FROM writer_versions WHERE lineage = ?),
        ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING {WRITER_VERSION_COLUMNS}
"""

SQL_PENDING = f"""
SELECT {TRAINING_RUN_COLUMNS} FROM training_runs
WHERE lineage = ? AND status IN ('queued', 'running')
"""
SQL_QUEUE = f"""
INSERT INTO training_runs (lineage, chat_id, status, trigger, requested_by, queued_at)
VALUES (?, ?, 'queued', ?, ?, ?)
RETURNING {TRAINING_RUN_COLUMNS}
"""
SQL_AHEAD = """
SELECT COUNT(*) FROM training_runs
WHERE id <> ? AND (status = 'running' OR (status = 'queued' AND id < ?))
"""
SQL_NEXT_QUEUED = (
    "SELECT id, lineage FROM training_runs WHERE status = 'queued' ORDER BY id LIMIT 1"
)
SQL_CLAIM = f"""
UPDATE training_runs
SET status = 'running', started_at = ?, heartbeat_at = ?, progress = 0,
    parent_id = (SELECT version_id FROM writer_heads WHERE lineage = ?)
WHERE id = ? AND status = 'queued'
RETURNING {TRAINING_RUN_COLUMNS}
"""
SQL_HEARTBEAT = """
UPDATE training_runs SET heartbeat_at = ?, progress = ? WHERE id = ? AND status = 'running'
"""
SQL_SUCCEED = f"""
UPDATE training_runs
SET status = 'succeeded', finished_at = ?, version_id = ?, novel_mark = ?, line_mark = ?,
    chars = ?, progress = 1
WHERE id = ? AND status = 'running'
RETURNING {TRAINING_RUN_COLUMNS}
"""
SQL_FAIL = f"""
UPDATE training_runs SET status = 'failed', finished_at = ?, error = ?
WHERE id = ? AND status IN ('queued', 'running')
RETURNING {TRAINING_RUN_COLUMNS}
"""
# Running runs (with ?3: only those whose last heartbeat is older than it) failed with ?2.
SQL_FAIL_RUNNING = f"""
UPDATE training_runs SET status = 'failed', finished_at = ?1, error = ?2
WHERE status = 'running'
  AND (CAST(?3 AS DOUBLE PRECISION) IS NULL OR COALESCE(heartbeat_at, started_at) < ?3)
RETURNING {TRAINING_RUN_COLUMNS}
"""
SQL_GET_RUN = f"SELECT {TRAINING_RUN_COLUMNS} FROM training_runs WHERE id = ?"
SQL_RUNS = f"""
SELECT {TRAINING_RUN_COLUMNS} FROM training_runs WHERE lineage = ? ORDER BY id DESC LIMIT ?
"""
# Novels a promoted version has learned; a NULL ?2 means every chat (a shared lineage). The
# CASTs name the parameters' types for PostgreSQL, which cannot infer them from IS NULL.
SQL_MARK_TRAINED = """
UPDATE novels SET status = 'trained'
WHERE status = 'queued' AND id <= ?1 AND (CAST(?2 AS BIGINT) IS NULL OR chat_id = ?2)
"""

# What a run reads: every novel and every story (its lines, one per line) of the scope.
SQL_NOVEL_TEXTS = """
SELECT id, title, text FROM novels
WHERE status <> 'removed' AND (CAST(?1 AS BIGINT) IS NULL OR chat_id = ?1) ORDER BY id
"""
SQL_STORY_TEXTS = """
SELECT s.id, s.title, l.id, l.text FROM stories s JOIN lines l ON l.story_id = s.id
WHERE l.removed = 0 AND (CAST(?1 AS BIGINT) IS NULL OR s.chat_id = ?1) ORDER BY s.id, l.position
"""
# Per chat: characters of text (novels not removed, lines not undone) newer than the last
# finished run of lineage ?1, or of each chat's own lineage "chat-<id>" when ?1 is NULL (novel
# and line ids only grow, so a run's marks split old text from new).
_FRESH_CHARS = """
WITH marks AS (
    SELECT lineage, MAX(novel_mark) AS novel_mark, MAX(line_mark) AS line_mark
    FROM training_runs WHERE status = 'succeeded' GROUP BY lineage
), fresh AS (
    SELECT c.id AS chat_id, CAST(
      (SELECT COALESCE(SUM(n.chars), 0) FROM novels n
       WHERE n.chat_id = c.id AND n.status <> 'removed' AND n.id > COALESCE(m.novel_mark, 0))
      + (SELECT COALESCE(SUM(LENGTH(l.text)), 0) FROM lines l JOIN stories s ON s.id = l.story_id
         WHERE s.chat_id = c.id AND l.removed = 0 AND l.id > COALESCE(m.line_mark, 0))
      AS BIGINT) AS chars
    FROM chats c LEFT JOIN marks m ON m.lineage = COALESCE(CAST(?1 AS TEXT), 'chat-' || c.id)
)
"""
# One lineage's new text in the scope ?2 (one chat, or every chat when NULL).
SQL_NEW_CHARS = f"""{_FRESH_CHARS}
SELECT CAST(COALESCE(SUM(chars), 0) AS BIGINT) FROM fresh
WHERE CAST(?2 AS BIGINT) IS NULL OR chat_id = ?2
"""
# Per-chat lineages: the chats with at least ?2 characters their own lineage has not learned.
SQL_NEW_CHARS_PER_CHAT = f"""{_FRESH_CHARS}
SELECT {prefixed("c", CHAT_COLUMNS)}, fresh.chars
FROM fresh JOIN chats c ON c.id = fresh.chat_id WHERE fresh.chars >= ?2 ORDER BY c.id
"""


class WriterQueries:
    """Writer versions, heads and the training queue; mixed into SqlStore."""

    _db: SqlDatabase

    # -- versions and heads ---------------------------------------------------------------------

    async def writer_head(self, lineage: str) -> WriterVersion | None:
        """The version the lineage writes with; None: the shipped base."""
        row = await self._db.fetch_one(SQL_HEAD, (lineage,))
        return None if row is None else to_writer_version(row)

    async def writer_versions(self, lineage: str, limit: int | None = 10) -> list[WriterVersion]:
        """The lineage's versions, newest first (promoted and rejected); None: all of them."""
        rows = await self._db.fetch_all(
            SQL_VERSIONS, (lineage, NO_LIMIT if limit is None else limit)
        )
        return [to_writer_version(r) for r in rows]

    async def writer_version(self, lineage: str, number: int) -> WriterVersion | None:
        row = await self._db.fetch_one(SQL_VERSION_BY_NUMBER, (lineage, number))
        return None if row is None else to_writer_version(row)

    async def get_writer_version(self, version_id: int) -> WriterVersion | None:
        row = await self._db.fetch_one(SQL_VERSION, (version_id,))
        return None if row is None else to_writer_version(row)

    async def set_writer_head(self, lineage: str, version_id: int | None, at: float) -> None:
        """Make a version the one that writes (None: back to the shipped base), in one
        transaction; NotFound for a version of another lineage or none."""
        async with self._db.transaction() as tx:
            if version_id is None:
                await tx.execute(SQL_DROP_HEAD, (lineage,))
                return
            row = await tx.fetch_one(SQL_VERSION, (version_id,))
            if row is None or to_writer_version(row).lineage != lineage:
                raise NotFound(f"writer version {version_id} of {lineage}")
            await tx.execute(SQL_SET_HEAD, (lineage, version_id, at))

    # -- the queue ------------------------------------------------------------------------------

    async def queue_training(
        self, lineage: str, chat_id: int | None, trigger: RunTrigger, requested_by: str, at: float
    ) -> tuple[TrainingRun, bool]:
        """Queue a run for the lineage, unless one is already queued or running: (the pending
        run, whether it was queued now)."""
        async with self._db.transaction() as tx:
            pending = await tx.fetch_one(SQL_PENDING, (lineage,))
            if pending is not None:
                return to_training_run(pending), False
            row = await tx.inserted(SQL_QUEUE, (lineage, chat_id, trigger, requested_by, at))
        return to_training_run(row), True

    async def pending_training(self, lineage: str) -> TrainingRun | None:
        row = await self._db.fetch_one(SQL_PENDING, (lineage,))
        return None if row is None else to_training_run(row)

    async def training_ahead(self, run_id: int) -> int:
        """How many runs go before this one (a running one included, unless it is this one:
        the trainer may claim the run between reading it and asking this)."""
        return int(await self._db.single_value(SQL_AHEAD, (run_id, run_id)))

    async def claim_training(self, at: float) -> TrainingRun | None:
        """The oldest queued run, now running from its lineage's current version; None when
        the queue is empty."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_NEXT_QUEUED)
            if row is None:
                return None
            claimed = await tx.inserted(SQL_CLAIM, (at, at, row[1], row[0]))
        return to_training_run(claimed)

    async def heartbeat_training(self, run_id: int, progress: float, at: float) -> None:
        await self._db.execute(SQL_HEARTBEAT, (at, progress, run_id))

    async def finish_training(
        self,
        run_id: int,
        made: VersionFigures,
        scope: int | None,
        text: TrainingText,
        at: float,
    ) -> tuple[TrainingRun, WriterVersion]:
        """A run that made a version: the version is recorded (promoted or rejected), a promoted
        one becomes the lineage's head and the novels it learned are marked trained — all in one
        transaction, so a crash leaves the run either running (then failed at restart) or done."""
        async with self._db.transaction() as tx:
            run = await _run(tx, run_id)
            version = to_writer_version(
                await tx.inserted(
                    SQL_INSERT_VERSION,
                    (
                        run.lineage,
                        run.lineage,
                        run.parent_id,
                        made.path,
                        "promoted" if made.promoted else "rejected",
                        made.reason,
                        made.chars,
                        made.chat_bits_before,
                        made.chat_bits_after,
                        made.base_bits_before,
                        made.base_bits_after,
                        made.info_json,
                        at,
                    ),
                )
            )
            if made.promoted:
                await tx.execute(SQL_SET_HEAD, (run.lineage, version.id, at))
                await tx.execute(SQL_MARK_TRAINED, (text.novel_mark, scope))
            row = await tx.fetch_one(
                SQL_SUCCEED,
                (at, version.id, text.novel_mark, text.line_mark, made.chars, run_id),
            )
            if row is None:
                raise NotFound(f"running training run {run_id}")
        return to_training_run(row), version

    async def fail_training(self, run_id: int, error: str, at: float) -> TrainingRun | None:
        """A queued or running run failed (None if it had already ended)."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_FAIL, (at, error, run_id))
        return None if row is None else to_training_run(row)

    async def fail_running_training(
        self, error: str, at: float, *, silent_since: float | None = None
    ) -> list[TrainingRun]:
        """Runs left running are failed with the reason: every one (a restart of the only
        process), or with `silent_since` only those whose heartbeat stopped before it (their
        process died; the others' are alive)."""
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all(SQL_FAIL_RUNNING, (at, error, silent_since))
        return [to_training_run(r) for r in rows]

    async def training_runs(self, lineage: str, limit: int = 5) -> list[TrainingRun]:
        """The lineage's runs, newest first."""
        rows = await self._db.fetch_all(SQL_RUNS, (lineage, limit))
        return [to_training_run(r) for r in rows]

    # -- what there is to learn -----------------------------------------------------------------

    async def training_text(self, scope: int | None) -> TrainingText:
        """Every novel (not removed) and every story's lines (not undone) of one chat, or of
        every chat when scope is None; each its own text."""
        novels = await self._db.fetch_all(SQL_NOVEL_TEXTS, (scope,))
        rows = await self._db.fetch_all(SQL_STORY_TEXTS, (scope,))
        texts = [(f"novel {r[0]}: {r[1]}", r[2]) for r in novels]
        stories: dict[int, tuple[str, list[str]]] = {}
        for story_id, title, _line_id, line in rows:
            stories.setdefault(story_id, (title, []))[1].append(line)
        texts += [
            (f"story {sid}: {title}", "\n".join(lines)) for sid, (title, lines) in stories.items()
        ]
        return TrainingText(
            texts=texts,
            novel_mark=max((r[0] for r in novels), default=0),
            line_mark=max((r[2] for r in rows), default=0),
        )

    async def new_training_chars(self, lineage: str, scope: int | None) -> int:
        """Characters of text (novels, story lines) added since the lineage's last finished run."""
        return int(await self._db.single_value(SQL_NEW_CHARS, (lineage, scope)))

    async def chats_with_new_text(self, min_chars: int) -> list[tuple[Chat, int]]:
        """Chats whose own lineage has at least `min_chars` of new text, with that amount."""
        rows = await self._db.fetch_all(SQL_NEW_CHARS_PER_CHAT, (None, min_chars))
        return [(to_chat(tuple(r)[:_CHAT_END]), int(r[_CHAT_END])) for r in rows]


async def _run(tx: SqlSession, run_id: int) -> TrainingRun:
    row = await tx.fetch_one(SQL_GET_RUN, (run_id,))
    if row is None:
        raise NotFound(f"training run {run_id}")
    return to_training_run(row)
