"""Every chat command, declared once: name, subcommand, arguments, who may run it, help text.

This table drives the text router (console, Telegram), /help, Telegram's command menu and
Discord's slash commands, and the README's command table is checked against it. Adding a
command is one entry here, its core handler, and its rendering on each platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.errors import RelayError
from bot.core.relay import Relay
from bot.core.texts import N_
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
    StoryStarted,
    StoryView,
    TrainingStatus,
    VoteResult,
)

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
    | TrainingStatus
    | ModelView
    | Help
)

ArgKind = Literal["text", "word", "int", "choice", "file"]


@dataclass(frozen=True)
class Arg:
    """One argument. text: the rest of the message (may hold spaces); word: one word; int: a
    whole number; choice: one of `choices`; file: an attached file (not typed)."""

    name: str  # also the Discord option name
    kind: ArgKind
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        """How /help shows it: <title> when required, [length] when not."""
        label = "|".join(self.choices) if self.choices else self.name
        return f"<{label}>" if self.required else f"[{label}]"


@dataclass(frozen=True)
class Attachment:
    """A file that came with the command (a novel for /novel add)."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Call:
    """One command as the core receives it, whatever the platform: who, where, the arguments
    by name (absent optional ones are missing), and an attached file."""

    key: ChatKey
    actor: Actor
    args: Mapping[str, Any] = field(default_factory=dict)
    attachment: Attachment | None = None

    def text(self, name: str) -> str:
        return str(self.args.get(name) or "")

    def number(self, name: str) -> int | None:
        value = self.args.get(name)
        return None if value is None else int(value)


Handler = Callable[[Relay, Call], Awaitable[Result]]


@dataclass(frozen=True)
class Command:
    """One command (or subcommand) of the table."""

    name: str  # the command word: "story"
    sub: str  # its subcommand: "new"; "" for a command without subcommands
    help: str  # one sentence: /help, command menus, slash-command descriptions
    run: Handler
    args: tuple[Arg, ...] = ()
    moderator: bool = False  # only moderators may run it (the core checks; this tells people)
    slow: bool = False  # may outlast a platform's quick-answer window (Discord defers it)
    slash: bool = True  # a slash command on Discord (votes there are reactions, not commands)
    default: bool = False  # the subcommand a bare "/name" runs
    aliases: tuple[str, ...] = ()  # other command words for it

    @property
    def usage(self) -> str:
        """'/story new <title>', '/continue [keyword] [length]'."""
        words = [f"/{self.name}", self.sub, *(a.shown for a in self.args)]
        return " ".join(w for w in words if w)


# -- the handlers: arguments -> one core call -> a result ---------------------------------------


async def _story_new(r: Relay, c: Call) -> Result:
    return StoryStarted(await r.new_story(c.key, c.actor, c.text("title")))


async def _story_show(r: Relay, c: Call) -> Result:
    return await r.show_story(c.key)


async def _story_export(r: Relay, c: Call) -> Result:
    return await r.export_story(c.key, c.text("format").lower() or "txt")


async def _story_list(r: Relay, c: Call) -> Result:
    return StoryList(await r.list_stories(c.key))


async def _story_end(r: Relay, c: Call) -> Result:
    return StoryEnded(await r.end_story(c.key, c.actor))


async def _write(r: Relay, c: Call) -> Result:
    return LineAdded(await r.write(c.key, c.actor, c.text("text")))


async def _continue(r: Relay, c: Call) -> Result:
    return await r.continue_story(c.key, c.actor, c.text("keyword"), c.number("length"))


async def _vote(r: Relay, c: Call) -> Result:
    ordinal = c.number("n")
    assert ordinal is not None  # a required argument
    return await r.vote(c.key, c.actor, ordinal)


async def _unvote(r: Relay, c: Call) -> Result:
    return await r.unvote(c.key, c.actor)


async def _round_show(r: Relay, c: Call) -> Result:
    return await r.current_round(c.key)


async def _round_close(r: Relay, c: Call) -> Result:
    return await r.close_round(c.key, c.actor)


async def _round_cancel(r: Relay, c: Call) -> Result:
    return await r.cancel_round(c.key, c.actor)


async def _undo(r: Relay, c: Call) -> Result:
    return LineRemoved(await r.undo(c.key, c.actor))


async def _settings(r: Relay, c: Call) -> Result:
    return await r.settings(c.key, c.actor, c.text("name"), c.text("value"))


async def _novel_add(r: Relay, c: Call) -> Result:
    if c.attachment is None:
        raise RelayError("Attach a .txt file to /novel add.")
    return await r.add_novel(c.key, c.actor, c.attachment.filename, c.attachment.data)


async def _novel_list(r: Relay, c: Call) -> Result:
    return await r.list_novels(c.key)


async def _novel_remove(r: Relay, c: Call) -> Result:
    novel_id = c.number("novel_id")
    assert novel_id is not None  # a required argument
    return await r.remove_novel(c.key, c.actor, novel_id)


async def _train_now(r: Relay, c: Call) -> Result:
    return await r.train_now(c.key, c.actor)


async def _train_status(r: Relay, c: Call) -> Result:
    return await r.training_status(c.key)


async def _model_show(r: Relay, c: Call) -> Result:
    return await r.model(c.key)


async def _model_rollback(r: Relay, c: Call) -> Result:
    number = c.number("version")
    assert number is not None  # a required argument
    return await r.rollback(c.key, c.actor, number)


async def _help(r: Relay, c: Call) -> Result:
    return Help([(command.usage, command.help) for command in COMMANDS])


# -- the table, in the order /help shows it -------------------------------------------------------

SETTINGS = ("temperature", "candidates", "vote_time", "language")

# The arguments, named first (so the message extractor finds their help texts).
TITLE = Arg("title", "text", "What the story is called", required=True)
FORMAT = Arg(
    "format", "choice", "txt: the text only; md: with who wrote it", choices=("txt", "md")
)
TEXT = Arg("text", "text", "Your line, as it should appear in the story", required=True)
KEYWORD = Arg("keyword", "text", "A word the candidates start from")
LENGTH = Arg("length", "int", "About how many characters each candidate has")
CANDIDATE = Arg("n", "int", "The candidate's number", required=True)
SETTING = Arg("name", "choice", "The setting to change; leave out to see all", choices=SETTINGS)
VALUE = Arg("value", "word", "Its new value")
FILE = Arg("file", "file", "A .txt file (UTF-8 or the CP949 of Korean files)", required=True)
NOVEL = Arg("novel_id", "int", "The novel's number, as /novel list shows it", required=True)
VERSION = Arg("version", "int", "The version's number, as /model shows it", required=True)

COMMANDS: tuple[Command, ...] = (
    Command(
        "story",
        "new",
        "Start a story in this chat.",
        _story_new,
        (TITLE,),
    ),
    Command("story", "show", "The latest lines of the story.", _story_show, default=True),
    Command(
        "story",
        "export",
        "The whole story as a file (markdown credits every author).",
        _story_export,
        (FORMAT,),
        slow=True,
    ),
    Command("story", "list", "The stories of this chat.", _story_list),
    Command(
        "story", "end", "Close the story; an open round is cancelled.", _story_end, moderator=True
    ),
    Command(
        "write",
        "",
        "Add your line to the story.",
        _write,
        (TEXT,),
    ),
    Command(
        "continue",
        "",
        "The writer proposes candidates for the next line; vote for one.",
        _continue,
        (KEYWORD, LENGTH),
        slow=True,
    ),
    Command(
        "vote",
        "",
        "Vote for candidate n (again to move your vote).",
        _vote,
        (CANDIDATE,),
        slash=False,
    ),
    Command("unvote", "", "Take your vote back.", _unvote, slash=False),
    Command(
        "round", "show", "The open round: candidates, votes, time left.", _round_show, default=True
    ),
    Command(
        "round",
        "close",
        "Close the round now; the winner joins the story.",
        _round_close,
        moderator=True,
        slow=True,
    ),
    Command(
        "round",
        "cancel",
        "Drop the round; nothing joins the story.",
        _round_cancel,
        moderator=True,
    ),
    Command("undo", "", "Remove the last line; it is kept in the history.", _undo, moderator=True),
    Command(
        "settings",
        "",
        "Show this chat's writer settings, or change one (moderators).",
        _settings,
        (SETTING, VALUE),
    ),
    Command(
        "novel",
        "add",
        "Add a .txt novel for the writer to learn from.",
        _novel_add,
        (FILE,),
        moderator=True,
        slow=True,
    ),
    Command("novel", "list", "The novels the writer learns from.", _novel_list, default=True),
    Command(
        "novel",
        "remove",
        "Drop a novel from the training list.",
        _novel_remove,
        (NOVEL,),
        moderator=True,
    ),
    Command(
        "train",
        "now",
        "Fine-tune this chat's writer on its novels and story now.",
        _train_now,
        moderator=True,
    ),
    Command(
        "train",
        "status",
        "Where the writer's fine-tune stands, and how the last one went.",
        _train_status,
        default=True,
    ),
    Command(
        "model",
        "show",
        "This chat's writer: its version, history, figures and loss curves.",
        _model_show,
        default=True,
        slow=True,
    ),
    Command(
        "model",
        "rollback",
        "Let an earlier version write again (0: the shipped writer).",
        _model_rollback,
        (VERSION,),
        moderator=True,
    ),
    Command("help", "", "This list.", _help, slash=False, aliases=("start",)),
)

# What a command word with subcommands is about (Discord shows it for the group).
GROUPS: dict[str, str] = {
    "story": N_("This chat's story"),
    "round": N_("The open round of candidates"),
    "novel": N_("Novels the writer learns from"),
    "train": N_("Fine-tuning this chat's writer"),
    "model": N_("This chat's writer"),
}


def named(name: str) -> list[Command]:
    """The entries of a command word (an alias finds its command), in table order."""
    return [c for c in COMMANDS if c.name == name or name in c.aliases]


def command_words() -> list[str]:
    """Every command word once, in table order (command menus)."""
    return list(dict.fromkeys(c.name for c in COMMANDS))


def markdown_table() -> str:
    """The README's command table (tests keep the README equal to it)."""
    rows = ["| command | who | what it does |", "|---|---|---|"]
    for command in COMMANDS:
        who = "moderators" if command.moderator else "anyone"
        usage = command.usage.replace("|", "\\|")
        rows.append(f"| `{usage}` | {who} | {command.help} |")
    return "\n".join(rows)
