"""What both Trainer implementations share: the reasons a run fails, as the chat is told, the
trainer's summary read into a version's figures, and the artifact store where versions are
discarded and looked up. The process trainer (bot/trainer_client.py) and the fleet's
(bot/fleet_trainer.py) read the same `engine finetune --json` summary and fail runs with the
same words.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bot.core.errors import N_
from bot.core.ports import FinetuneJob, TrainerFailed
from bot.core.records import VersionFigures
from storage import artifacts

__all__ = [
    "CRASHED",
    "KILLED",
    "NO_SUMMARY",
    "SILENT",
    "UNREACHABLE",
    "StoredVersions",
    "figures",
    "json_line",
    "refused",
]

log = logging.getLogger(__name__)

# Why a run failed, as the chat is told (in its language: these are in the catalogue).
KILLED = N_("the trainer was killed.")
SILENT = N_("the trainer stopped answering, so it was stopped.")
CRASHED = N_("the trainer stopped with an error.")
NO_SUMMARY = N_("the trainer finished without saying how the new version did.")
UNREACHABLE = N_("the trainer of the writer fleet could not be reached.")


def refused(said: str) -> str:
    """A run the trainer refused, in the engine's own words (they name what was wrong)."""
    return f"the trainer refused: {said}"


def json_line(line: str) -> dict[str, Any] | None:
    """One JSON object of a line; None for anything else."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def figures(
    summary: dict[str, Any] | None, job: FinetuneJob, path: str | None = None
) -> VersionFigures:
    """The version's figures from the trainer's summary (what `engine finetune --json` prints);
    `path`: where the version is recorded (default the summary's "out")."""
    if summary is None or "promoted" not in summary:
        raise TrainerFailed(NO_SUMMARY)
    return VersionFigures(
        path=path or str(summary.get("out") or job.out),
        promoted=bool(summary["promoted"]),
        reason=str(summary.get("reason", "")),
        chars=int(summary.get("chars") or 0),
        chat_bits_before=_number(summary.get("chat_bits_before")),
        chat_bits_after=_number(summary.get("chat_bits_after")),
        base_bits_before=_number(summary.get("base_bits_before")),
        base_bits_after=_number(summary.get("base_bits_after")),
        info_json=json.dumps(summary, ensure_ascii=False),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class StoredVersions:
    """The Trainer port's discard and kept, through the artifact store (storage/artifacts.py:
    a folder, or s3://), off the event loop."""

    async def discard(self, path: str) -> None:
        """Delete a version from its store (it holds ~7 MB of weights)."""
        try:
            await asyncio.to_thread(artifacts.delete, path)
        except artifacts.ArtifactError as exc:  # housekeeping: the next prune tries again
            log.warning("could not delete a writer version: %s", exc)

    async def kept(self, path: str) -> bool:
        """Whether a version is still in its store."""
        try:
            return await asyncio.to_thread(artifacts.exists, path)
        except artifacts.ArtifactError as exc:
            # The store did not answer: say kept, and let the writer's own fetch tell the chat.
            log.warning("could not look a writer version up: %s", exc)
            return True
