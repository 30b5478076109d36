"""Every chat command, declared once: name, subcommand, arguments, who may run it, help text.

This table drives the text parser (console, Telegram), the router's check of who may run what,
/help, Telegram's command menu and Discord's slash commands, and the README's command table is
checked against it. Adding a command is one entry here, its handler (handlers.py) and the
sentence its result is told in (bot/platforms/phrases) — nothing per platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core import handlers as h
from bot.core.errors import N_
from bot.core.handlers import Call, Handler, Result
from bot.core.relay import Relay
from bot.core.views import Help

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
class Command:
    """One command (or subcommand) of the table."""

    name: str  # the command word: "story"
    sub: str  # its subcommand: "new"; "" for a command without subcommands
    help: str  # one sentence: /help, command menus, slash-command descriptions
    run: Handler
    args: tuple[Arg, ...] = ()
    # Only moderators may run it when set: the refusal a member gets (the router enforces it).
    moderators_only: str = ""
    slow: bool = False  # may outlast a platform's quick-answer window (Discord defers it)
    slash: bool = True  # a slash command on Discord (votes there are reactions, not commands)
    default: bool = False  # the subcommand a bare "/name" runs
    aliases: tuple[str, ...] = ()  # other command words for it

    @property
    def moderator(self) -> bool:
        return bool(self.moderators_only)

    @property
    def usage(self) -> str:
        """'/story new <title>', '/continue [keyword] [length]'."""
        words = [f"/{self.name}", self.sub, *(a.shown for a in self.args)]
        return " ".join(w for w in words if w)


# -- the table, in the order /help shows it -------------------------------------------------------

SETTINGS = ("temperature", "candidates", "vote_time", "language")

# The arguments, named first (so the message extractor finds their help texts).
TITLE = Arg("title", "text", "What the story is called", required=True)
NEW_TITLE = Arg("title", "text", "The story's new title", required=True)
FORMAT = Arg(
    "format", "choice", "txt: the text only; md: with who wrote it", choices=("txt", "md")
)
TEXT = Arg("text", "text", "Your line, as it should appear in the story", required=True)
KEYWORD = Arg("keyword", "text", "A word the candidates start from")
LENGTH = Arg("length", "int", "About how many characters each candidate has")
CANDIDATE = Arg("n", "int", "The candidate's number", required=True)
SETTING = Arg("name", "choice", "The setting to change", required=True, choices=SETTINGS)
VALUE = Arg("value", "word", "Its new value", required=True)
FILE = Arg("file", "file", "A .txt file (UTF-8 or the CP949 of Korean files)", required=True)
NOVEL = Arg("novel_id", "int", "The novel's number, as /novel list shows it", required=True)
VERSION = Arg("version", "int", "The version's number, as /model shows it", required=True)


async def _help(r: Relay, c: Call) -> Result:
    return Help([(command.usage, command.help) for command in COMMANDS])


COMMANDS: tuple[Command, ...] = (
    Command("story", "new", "Start a story in this chat.", h.story_new, (TITLE,)),
    Command("story", "show", "The latest lines of the story.", h.story_show, default=True),
    Command(
        "story",
        "export",
        "The whole story as a file (markdown credits every author).",
        h.story_export,
        (FORMAT,),
        slow=True,
    ),
    Command("story", "list", "The stories of this chat.", h.story_list),
    Command(
        "story",
        "rename",
        "Give the open story a new title.",
        h.story_rename,
        (NEW_TITLE,),
        moderators_only=N_("Only moderators can rename the story."),
    ),
    Command(
        "story",
        "end",
        "Close the story; an open round is cancelled.",
        h.story_end,
        moderators_only=N_("Only moderators can end the story."),
    ),
    Command("write", "", "Add your line to the story.", h.write, (TEXT,)),
    Command(
        "continue",
        "",
        "The writer proposes candidates for the next line; vote for one.",
        h.continue_story,
        (KEYWORD, LENGTH),
        slow=True,
    ),
    Command(
        "vote",
        "",
        "Vote for candidate n (again to move your vote).",
        h.vote,
        (CANDIDATE,),
        slash=False,
    ),
    Command("unvote", "", "Take your vote back.", h.unvote, slash=False),
    Command(
        "round",
        "show",
        "The open round: candidates, votes, time left.",
        h.round_show,
        default=True,
    ),
    Command(
        "round",
        "close",
        "Close the round now; the winner joins the story.",
        h.round_close,
        moderators_only=N_("Only moderators can close a round."),
        slow=True,
    ),
    Command(
        "round",
        "cancel",
        "Drop the round; nothing joins the story.",
        h.round_cancel,
        moderators_only=N_("Only moderators can cancel a round."),
    ),
    Command(
        "undo",
        "",
        "Remove the last line; it is kept in the history.",
        h.undo,
        moderators_only=N_("Only moderators can undo lines."),
    ),
    Command(
        "settings",
        "show",
        "This chat's writer settings.",
        h.settings_show,
        default=True,
    ),
    Command(
        "settings",
        "set",
        "Change one of this chat's writer settings.",
        h.settings_set,
        (SETTING, VALUE),
        moderators_only=N_("Only moderators can change settings."),
    ),
    Command(
        "novel",
        "add",
        "Add a .txt novel for the writer to learn from.",
        h.novel_add,
        (FILE,),
        moderators_only=N_("Only moderators can add novels."),
        slow=True,
    ),
    Command("novel", "list", "The novels the writer learns from.", h.novel_list, default=True),
    Command(
        "novel",
        "remove",
        "Drop a novel from the training list.",
        h.novel_remove,
        (NOVEL,),
        moderators_only=N_("Only moderators can remove novels."),
    ),
    Command(
        "train",
        "now",
        "Fine-tune this chat's writer on its novels and story now.",
        h.train_now,
        moderators_only=N_("Only moderators can start a fine-tune."),
    ),
    Command(
        "train",
        "status",
        "Where the writer's fine-tune stands, and how the last one went.",
        h.train_status,
        default=True,
    ),
    Command(
        "model",
        "show",
        "This chat's writer: its version, history, figures and loss curves.",
        h.model_show,
        default=True,
        slow=True,
    ),
    Command(
        "model",
        "rollback",
        "Let an earlier version write again (0: the shipped writer).",
        h.model_rollback,
        (VERSION,),
        moderators_only=N_("Only moderators can roll the writer back."),
    ),
    Command("help", "", "This list.", _help, slash=False, aliases=("start",)),
)

# What a command word with subcommands is about (Discord shows it for the group).
GROUPS: dict[str, str] = {
    "story": N_("This chat's story"),
    "settings": N_("This chat's writer settings"),
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
