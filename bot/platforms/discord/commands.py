"""Discord's slash commands, built from the core's command table (bot/core/registry.py).

A command word with subcommands becomes a group; each entry's arguments become typed options
with their descriptions; every callback hands its options to `DiscordPlatform.invoke`, so no
command has Discord code of its own. Names stay English; descriptions are sent in every
language of the catalogues (`CatalogueTranslator`), so a Korean client shows Korean ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.app_commands import Command as AppCommand

from bot.core.registry import GROUPS, Arg, Command, command_words, named
from bot.i18n import SOURCE, supported, translator

if TYPE_CHECKING:
    from bot.platforms.discord.adapter import DiscordPlatform

SlashCommand = AppCommand[Any, Any, None] | app_commands.Group
Invoke = Callable[[discord.Interaction, Command, dict[str, Any]], Awaitable[None]]


def slash_commands(platform: DiscordPlatform) -> list[SlashCommand]:
    """Every command of the table offered as a slash command, in table order."""
    built: list[SlashCommand] = []
    for word in command_words():
        entries = [c for c in named(word) if c.name == word and c.slash]
        if not entries:
            continue
        if not entries[0].sub:
            built.append(_command(entries[0], platform.invoke))
            continue
        group = app_commands.Group(name=word, description=GROUPS[word])
        for entry in entries:
            group.add_command(_command(entry, platform.invoke))
        built.append(group)
    return built


def _command(entry: Command, invoke: Invoke) -> AppCommand[Any, Any, None]:
    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        await invoke(interaction, entry, {k: v for k, v in options.items() if v is not None})

    # discord.py reads the options from the callback's signature and descriptions.
    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        ),
        *(_parameter(arg) for arg in sorted(entry.args, key=lambda a: not a.required)),
    ]
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = {  # type: ignore[attr-defined]
        arg.name: app_commands.locale_str(arg.help) for arg in entry.args
    }
    command: AppCommand[Any, Any, None] = AppCommand(
        name=entry.sub or entry.name, description=entry.help, callback=callback
    )
    if entry.moderator and not entry.sub:  # a hint for the client; the core checks anyway
        command.default_permissions = discord.Permissions(manage_messages=True)
    return command


def _parameter(arg: Arg) -> inspect.Parameter:
    kind: Any = {
        "text": str,
        "word": str,
        "int": int,
        "file": discord.Attachment,
    }.get(arg.kind)
    if arg.kind == "choice":
        kind = Literal.__getitem__(arg.choices)
    return inspect.Parameter(
        arg.name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=kind if arg.required else kind | None,
        default=inspect.Parameter.empty if arg.required else None,
    )


class CatalogueTranslator(app_commands.Translator):
    """discord.py's translator over our message catalogues: descriptions only (command and
    option names stay English, as members type them)."""

    _DESCRIPTIONS = (
        app_commands.TranslationContextLocation.command_description,
        app_commands.TranslationContextLocation.group_description,
        app_commands.TranslationContextLocation.parameter_description,
    )

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        language = supported(locale.value)
        if context.location not in self._DESCRIPTIONS or language in (None, SOURCE):
            return None
        translated = translator(language).gettext(string.message)
        return translated if translated != string.message else None
