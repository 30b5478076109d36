"""Novels, model versions and training runs: what the writer learns from and what it became."""

from __future__ import annotations

from bot.core.ports import StoreConflict
from bot.core.records import ModelVersion, Novel, TrainingRun
from storage._rows import (
    MODEL_VERSION_COLUMNS,
    NOVEL_COLUMNS,
    TRAINING_RUN_COLUMNS,
    to_model_version,
    to_novel,
    to_training_run,
)
from storage.database import Database
from storage.errors import NotFound

MODEL_STATUSES = ("active", "retired", "rejected")
RUN_STATUSES = ("running", "succeeded", "failed")

SQL_NOVEL_BY_SHA = """
SELECT 1 FROM novels WHERE chat_id = ? AND sha256 = ? AND status <> 'removed'
"""
SQL_INSERT_NOVEL = f"""
INSERT INTO novels (chat_id, title, sha256, chars, text, status, added_by, created_at)
VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)
RETURNING {NOVEL_COLUMNS}
"""
SQL_NOVELS = f"""
SELECT {NOVEL_COLUMNS} FROM novels WHERE chat_id = ? AND (status <> 'removed' OR ?) ORDER BY id
"""
# remove_novel() is given no time, so the database's clock stamps it.
SQL_REMOVE_NOVEL = f"""
UPDATE novels SET status = 'removed', removed_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id = ? AND chat_id = ? AND status <> 'removed'
RETURNING {NOVEL_COLUMNS}
"""
SQL_NOVEL_TEXT = "SELECT text FROM novels WHERE id = ?"

SQL_RETIRE_ACTIVE = "UPDATE model_versions SET status = 'retired' WHERE status = 'active'"
SQL_INSERT_MODEL_VERSION = f"""
INSERT INTO model_versions (path, parent_id, status, val_loss, info_json, created_at)
VALUES (?, ?, ?, ?, ?, ?)
RETURNING {MODEL_VERSION_COLUMNS}
"""
SQL_ACTIVE_MODEL_VERSION = (
    f"SELECT {MODEL_VERSION_COLUMNS} FROM model_versions WHERE status = 'active'"
)
SQL_GET_MODEL_VERSION = f"SELECT {MODEL_VERSION_COLUMNS} FROM model_versions WHERE id = ?"
SQL_MODEL_VERSIONS = f"SELECT {MODEL_VERSION_COLUMNS} FROM model_versions ORDER BY id DESC LIMIT ?"
SQL_ACTIVATE_MODEL_VERSION = "UPDATE model_versions SET status = 'active' WHERE id = ?"

SQL_START_RUN = f"""
INSERT INTO training_runs (status, started_at) VALUES ('running', ?)
RETURNING {TRAINING_RUN_COLUMNS}
"""
SQL_FINISH_RUN = f"""
UPDATE training_runs SET status = ?, version_id = ?, metrics_json = ?, error = ?, finished_at = ?
WHERE id = ?
RETURNING {TRAINING_RUN_COLUMNS}
"""
SQL_TRAINING_RUNS = f"SELECT {TRAINING_RUN_COLUMNS} FROM training_runs ORDER BY id DESC LIMIT ?"


class LibraryQueries:
    """Novels, model versions and training runs; mixed into SqliteStore."""

    _db: Database

    # -- novels -------------------------------------------------------------------------------

    async def add_novel(
        self, chat_id: int, title: str, sha256: str, text: str, added_by: str, at: float
    ) -> Novel:
        """Queue a novel for training; StoreConflict("duplicate") if the chat already has it."""
        async with self._db.transaction() as tx:
            if await tx.fetch_one(SQL_NOVEL_BY_SHA, (chat_id, sha256)) is not None:
                raise StoreConflict("duplicate")
            row = await tx.inserted(
                SQL_INSERT_NOVEL, (chat_id, title, sha256, len(text), text, added_by, at)
            )
        return to_novel(row)

    async def novels(self, chat_id: int, *, include_removed: bool = False) -> list[Novel]:
        """The chat's novels, oldest first (without their text)."""
        rows = await self._db.fetch_all(SQL_NOVELS, (chat_id, include_removed))
        return [to_novel(r) for r in rows]

    async def remove_novel(self, chat_id: int, novel_id: int) -> Novel | None:
        """Mark the chat's novel removed (kept, no longer trained on); None if not found."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(SQL_REMOVE_NOVEL, (novel_id, chat_id))
        return None if row is None else to_novel(row)

    async def novel_text(self, novel_id: int) -> str:
        text = await self._db.single_value(SQL_NOVEL_TEXT, (novel_id,))
        if text is None:
            raise NotFound(f"novel {novel_id}")
        return str(text)

    # -- model versions -----------------------------------------------------------------------

    async def add_model_version(
        self,
        path: str,
        parent_id: int | None,
        status: str,
        val_loss: float | None,
        info_json: str,
        at: float,
    ) -> ModelVersion:
        """Record a version; adding one as 'active' retires the one that was."""
        if status not in MODEL_STATUSES:
            raise ValueError(f"model version status must be one of {MODEL_STATUSES}: {status!r}")
        async with self._db.transaction() as tx:
            if status == "active":
                await tx.execute(SQL_RETIRE_ACTIVE)
            row = await tx.inserted(
                SQL_INSERT_MODEL_VERSION, (path, parent_id, status, val_loss, info_json, at)
            )
        return to_model_version(row)

    async def active_model_version(self) -> ModelVersion | None:
        row = await self._db.fetch_one(SQL_ACTIVE_MODEL_VERSION)
        return None if row is None else to_model_version(row)

    async def set_active_model_version(self, version_id: int) -> None:
        """Make this version the one active version; the previously active one is retired."""
        async with self._db.transaction() as tx:
            if await tx.fetch_one(SQL_GET_MODEL_VERSION, (version_id,)) is None:
                raise NotFound(f"model version {version_id}")
            await tx.execute(SQL_RETIRE_ACTIVE)
            await tx.execute(SQL_ACTIVATE_MODEL_VERSION, (version_id,))

    async def get_model_version(self, version_id: int) -> ModelVersion | None:
        row = await self._db.fetch_one(SQL_GET_MODEL_VERSION, (version_id,))
        return None if row is None else to_model_version(row)

    async def model_versions(self, limit: int = 10) -> list[ModelVersion]:
        """The newest versions first (beyond the Store: for /model's history)."""
        rows = await self._db.fetch_all(SQL_MODEL_VERSIONS, (limit,))
        return [to_model_version(r) for r in rows]

    # -- training runs ------------------------------------------------------------------------

    async def start_training_run(self, at: float) -> TrainingRun:
        async with self._db.transaction() as tx:
            row = await tx.inserted(SQL_START_RUN, (at,))
        return to_training_run(row)

    async def finish_training_run(
        self,
        run_id: int,
        status: str,
        version_id: int | None,
        metrics_json: str,
        error: str,
        at: float,
    ) -> TrainingRun:
        """Record how a run ended ('succeeded' or 'failed'), what it made, and why it failed."""
        if status not in RUN_STATUSES:
            raise ValueError(f"training run status must be one of {RUN_STATUSES}: {status!r}")
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                SQL_FINISH_RUN, (status, version_id, metrics_json, error, at, run_id)
            )
        if row is None:
            raise NotFound(f"training run {run_id}")
        return to_training_run(row)

    async def training_runs(self, limit: int = 10) -> list[TrainingRun]:
        """The newest runs first."""
        rows = await self._db.fetch_all(SQL_TRAINING_RUNS, (limit,))
        return [to_training_run(r) for r in rows]
