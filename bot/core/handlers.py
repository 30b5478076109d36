"""The command handlers: a command's arguments -> one core call -> a result to render.

A handler is all a command needs in the core besides its entry in the table (registry.py):
the router (router.py) has already checked who may run it, and the platform renders what it
returns through the phrase layer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import RelayError
from bot.core.relay import Relay
from bot.core.views import (
    Actor,
    ChatKey,
    ContinueResult,
    ExportFile,
    Help,
    LineAdded,
    LineRemoved,
    ModelView,
    NovelList,
    RoundResult,
    RoundView,
    SettingsView,
    StoryEnded,
    StoryList,
    StoryRenamed,
    StoryStarted,
    StoryView,
    TrainingStatus,
    VoteResult,
)

Result = (
    StoryStarted
    | StoryView
    | StoryEnded
    | StoryRenamed
    | StoryList
    | ExportFile
    | LineAdded
    | LineRemoved
    | ContinueResult
    | VoteResult
    | RoundView
    | RoundResult
    | SettingsView
    | NovelList
    | TrainingStatus
    | ModelView
    | Help
)


@dataclass(frozen=True)
class Upload:
    """A file that came with the command (a novel for /novel add). It is read only after the
    router and the core accepted who sent it, its name and its size, so a member's upload or an
    oversized one is never downloaded."""

    filename: str
    size: int  # as the platform announces it; the data is checked again once read
    read: Callable[[], Awaitable[bytes]]

    @classmethod
    def of(cls, filename: str, data: bytes) -> Upload:
        """A file already in memory (the console's)."""

        async def read() -> bytes:
            return data

        return cls(filename, len(data), read)


@dataclass(frozen=True)
class Call:
    """One command as the core receives it, whatever the platform: who, where, the arguments
    by name (absent optional ones are missing), and an uploaded file."""

    key: ChatKey
    actor: Actor
    args: Mapping[str, Any] = field(default_factory=dict)
    upload: Upload | None = None

    def text(self, name: str) -> str:
        return str(self.args.get(name) or "")

    def number(self, name: str) -> int:
        """A required whole-number argument (the parser and Discord's options made it one)."""
        return int(self.args[name])

    def maybe_number(self, name: str) -> int | None:
        value = self.args.get(name)
        return None if value is None else int(value)


Handler = Callable[[Relay, Call], Awaitable[Result]]


async def story_new(r: Relay, c: Call) -> Result:
    return StoryStarted(await r.new_story(c.key, c.actor, c.text("title")))


async def story_show(r: Relay, c: Call) -> Result:
    return await r.show_story(c.key)


async def story_export(r: Relay, c: Call) -> Result:
    return await r.export_story(c.key, c.text("format").lower() or "txt")


async def story_list(r: Relay, c: Call) -> Result:
    return StoryList(await r.list_stories(c.key))


async def story_rename(r: Relay, c: Call) -> Result:
    return await r.rename_story(c.key, c.text("title"))


async def story_end(r: Relay, c: Call) -> Result:
    return StoryEnded(await r.end_story(c.key, c.actor))


async def write(r: Relay, c: Call) -> Result:
    return LineAdded(await r.write(c.key, c.actor, c.text("text")))


async def continue_story(r: Relay, c: Call) -> Result:
    return await r.continue_story(c.key, c.actor, c.text("keyword"), c.maybe_number("length"))


async def vote(r: Relay, c: Call) -> Result:
    return await r.vote(c.key, c.actor, c.number("n"))


async def unvote(r: Relay, c: Call) -> Result:
    return await r.unvote(c.key, c.actor)


async def round_show(r: Relay, c: Call) -> Result:
    return await r.current_round(c.key)


async def round_close(r: Relay, c: Call) -> Result:
    return await r.close_round(c.key, c.actor)


async def round_cancel(r: Relay, c: Call) -> Result:
    return await r.cancel_round(c.key, c.actor)


async def undo(r: Relay, c: Call) -> Result:
    return LineRemoved(await r.undo(c.key, c.actor))


async def settings_show(r: Relay, c: Call) -> Result:
    return await r.settings(c.key)


async def settings_set(r: Relay, c: Call) -> Result:
    return await r.change_setting(c.key, c.text("name"), c.text("value"))


async def novel_add(r: Relay, c: Call) -> Result:
    if c.upload is None:
        raise RelayError("Attach a .txt file to /novel add.")
    r.check_novel_upload(c.upload.filename, c.upload.size)
    data = await c.upload.read()
    return await r.add_novel(c.key, c.actor, c.upload.filename, data)


async def novel_list(r: Relay, c: Call) -> Result:
    return await r.list_novels(c.key)


async def novel_remove(r: Relay, c: Call) -> Result:
    return await r.remove_novel(c.key, c.actor, c.number("novel_id"))


async def train_now(r: Relay, c: Call) -> Result:
    return await r.train_now(c.key, c.actor)


async def train_status(r: Relay, c: Call) -> Result:
    return await r.training_status(c.key)


async def model_show(r: Relay, c: Call) -> Result:
    return await r.model(c.key)


async def model_rollback(r: Relay, c: Call) -> Result:
    return await r.rollback(c.key, c.actor, c.number("version"))
