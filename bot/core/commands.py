"""Text commands (`/continue dragon 120`) parsed once for every platform that reads text.

The console and Telegram hand a message's text here; Discord's slash commands call `Relay`
directly with typed options. `COMMANDS` is the table shown by /help and registered with the
platforms' command menus.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    ModelInfo,
    NovelList,
    RoundResult,
    RoundView,
    SettingsView,
    StoryEnded,
    StoryList,
    StoryStarted,
    StoryView,
    VoteResult,
)

# (usage, description): the command table of design.md, in the order /help shows it.
COMMANDS: list[tuple[str, str]] = [
    ("/story new <title>", "start a story in this chat"),
    ("/story show", "the latest lines"),
    ("/story export [txt|md]", "the whole story as a file"),
    ("/story list", "the stories of this chat"),
    ("/story end", "close the story (moderators)"),
    ("/write <text>", "add your line to the story"),
    ("/continue [keyword] [length]", "the writer proposes candidates; vote for one"),
    ("/vote <n>", "vote for candidate n (again to move your vote)"),
    ("/unvote", "take your vote back"),
    ("/round", "the open round: candidates, votes, time left"),
    ("/round close", "close the round now (moderators)"),
    ("/round cancel", "drop the round (moderators)"),
    ("/undo", "remove the last line, kept in history (moderators)"),
    ("/settings [temperature|candidates|vote_time <value>]", "show or change (moderators)"),
    ("/novel add", "add a .txt novel to train on (moderators)"),
    ("/novel list", "the novels queued for training"),
    ("/novel remove <id>", "drop a novel (moderators)"),
    ("/model", "the writer's version and held-out loss"),
    ("/help", "this list"),
]

Result = (
    StoryStarted
    | StoryView
    | StoryEnded
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
    | ModelInfo
    | Help
)


@dataclass(frozen=True)
class Attachment:
    """A file that came with the command (a novel for /novel add)."""

    filename: str
    data: bytes


def split_command(text: str) -> tuple[str, str]:
    """'/Continue@relaytale_bot  dragon 120' -> ('continue', 'dragon 120')."""
    head, _, rest = text.strip().partition(" ")
    if not head.startswith("/") or len(head) < 2:
        raise RelayError("Commands start with /. Try /help.")
    name = head[1:].split("@", 1)[0].lower()
    return name, rest.strip()


def parse_continue(args: str) -> tuple[str, int | None]:
    """'dark castle 120' -> ('dark castle', 120); a trailing number is the length."""
    words = args.split()
    if words and words[-1].isdigit():
        return " ".join(words[:-1]), int(words[-1])
    return " ".join(words), None


def parse_number(args: str, what: str) -> int:
    word = args.strip().lstrip("#")
    if not word.isdigit():
        raise RelayError(f"Give the {what} as a number.")
    return int(word)


class CommandRouter:
    """Parses a text command and makes the one matching core call."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def handle(
        self, key: ChatKey, actor: Actor, text: str, attachment: Attachment | None = None
    ) -> Result:
        name, args = split_command(text)
        relay = self.relay
        if name in ("help", "start"):
            return Help(COMMANDS)
        if name == "story":
            return await self._story(key, actor, args)
        if name == "write":
            return LineAdded(await relay.write(key, actor, args))
        if name == "continue":
            keyword, length = parse_continue(args)
            return await relay.continue_story(key, actor, keyword, length)
        if name == "vote":
            return await relay.vote(key, actor, parse_number(args, "candidate"))
        if name == "unvote":
            return await relay.unvote(key, actor)
        if name == "round":
            return await self._round(key, actor, args)
        if name == "undo":
            return LineRemoved(await relay.undo(key, actor))
        if name == "settings":
            setting, _, value = args.partition(" ")
            return await relay.settings(key, actor, setting, value.strip())
        if name == "novel":
            return await self._novel(key, actor, args, attachment)
        if name == "model":
            return ModelInfo(await relay.model_info())
        if name == "train":
            raise RelayError("Fine-tuning on this chat's novels is not available yet.")
        raise RelayError(f"Unknown command /{name}. Try /help.")

    async def _story(self, key: ChatKey, actor: Actor, args: str) -> Result:
        sub, _, rest = args.partition(" ")
        sub = sub.lower()
        if sub == "new":
            return StoryStarted(await self.relay.new_story(key, actor, rest))
        if sub in ("show", ""):
            return await self.relay.show_story(key)
        if sub == "export":
            return await self.relay.export_story(key, rest.strip().lower() or "txt")
        if sub == "end":
            return StoryEnded(await self.relay.end_story(key, actor))
        if sub == "list":
            return StoryList(await self.relay.list_stories(key))
        raise RelayError(
            "Use /story new <title>, /story show, /story export, /story list or /story end."
        )

    async def _round(self, key: ChatKey, actor: Actor, args: str) -> Result:
        sub = args.strip().lower()
        if sub == "":
            return await self.relay.current_round(key)
        if sub == "close":
            return await self.relay.close_round(key, actor)
        if sub == "cancel":
            return await self.relay.cancel_round(key, actor)
        raise RelayError("Use /round, /round close or /round cancel.")

    async def _novel(
        self, key: ChatKey, actor: Actor, args: str, attachment: Attachment | None
    ) -> Result:
        sub, _, rest = args.partition(" ")
        sub = sub.lower()
        if sub == "add":
            if attachment is None:
                raise RelayError("Attach a .txt file to /novel add.")
            return await self.relay.add_novel(key, actor, attachment.filename, attachment.data)
        if sub in ("list", ""):
            return await self.relay.list_novels(key)
        if sub == "remove":
            return await self.relay.remove_novel(key, actor, parse_number(rest, "novel id"))
        raise RelayError("Use /novel add, /novel list or /novel remove <id>.")
