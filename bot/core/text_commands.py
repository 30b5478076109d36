"""Text commands (`/continue dark castle 120`, as typed on the console and Telegram) parsed by the
command table into its entry and typed arguments."""

from __future__ import annotations

from typing import Any

from bot.core.errors import RelayError
from bot.core.registry import Arg, Command, named

__all__ = ["parse", "split_command"]


def split_command(text: str) -> tuple[str, str]:
    """'/Continue@relaytale_bot  dragon 120' -> ('continue', 'dragon 120')."""
    parts = text.strip().split(maxsplit=1)
    if not parts or not parts[0].startswith("/") or len(parts[0]) < 2:
        raise RelayError("Commands start with /. Try /help.")
    name = parts[0][1:].split("@", 1)[0].lower()
    return name, parts[1].strip() if len(parts) > 1 else ""


def parse(text: str) -> tuple[Command, dict[str, Any]]:
    """A text command -> its table entry and its arguments by name."""
    name, rest = split_command(text)
    entries = named(name)
    if not entries:
        raise RelayError("Unknown command /{name}. Try /help.", name=name)
    command = entries[0]
    if command.sub:
        first, _, after = rest.partition(" ")
        chosen = next((c for c in entries if c.sub == first.lower()), None)
        if chosen is not None:
            command, rest = chosen, after.strip()
        else:
            default = next((c for c in entries if c.default), None)
            if default is None or rest:
                uses = ", ".join(c.usage for c in entries)
                raise RelayError("Use {usage}.", usage=uses)
            command = default
    return command, _parse_args(command, rest)


def _parse_args(command: Command, rest: str) -> dict[str, Any]:
    """Words in order; a text argument takes what the arguments after it leave, so a trailing
    number can still be the length ('/continue dark castle 120'). A file argument is attached,
    not typed: what follows the command is only its name (the console's path)."""
    typed = [a for a in command.args if a.kind != "file"]
    if len(typed) < len(command.args):
        return {}
    values: dict[str, Any] = {}
    words = rest.split()
    for index, arg in enumerate(typed):
        if arg.kind == "text":
            tail = _bind_from_end(command, typed[index + 1 :], words, values)
            if index == len(typed) - 1:
                values[arg.name] = rest.strip()  # as written: spaces and line breaks kept
            elif words[: len(words) - tail]:
                values[arg.name] = " ".join(words[: len(words) - tail])
            return values
        if not words:
            if arg.required:
                raise RelayError("Use {usage}.", usage=command.usage)
            continue
        values[arg.name] = _value(command, arg, words.pop(0))
        rest = rest.strip().partition(" ")[2]
    if words:
        raise RelayError("Use {usage}.", usage=command.usage)
    return values


def _bind_from_end(
    command: Command, after: list[Arg], words: list[str], values: dict[str, Any]
) -> int:
    """Bind the arguments after a text argument from the last words; how many words they took."""
    taken = 0
    for arg in reversed(after):
        word = words[len(words) - 1 - taken] if taken < len(words) else None
        if word is not None and (arg.kind != "int" or word.lstrip("#").isdigit()):
            values[arg.name] = _value(command, arg, word)
            taken += 1
        elif arg.required:
            raise RelayError("Use {usage}.", usage=command.usage)
    return taken


def _value(command: Command, arg: Arg, word: str) -> Any:
    if arg.kind == "int":
        digits = word.lstrip("#")
        if not digits.isdigit():
            raise RelayError(
                "Give the {name} as a number: {usage}",
                name=arg.name.replace("_", " "),
                usage=command.usage,
            )
        return int(digits)
    if arg.kind == "choice":
        return word.lower()
    return word
