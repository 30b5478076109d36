"""Discord: the adapter (adapter.py), its slash commands built from the command table
(commands.py), how results look (render.py), and the library workarounds (_compat.py)."""

from bot.platforms.discord.adapter import DiscordPlatform
from bot.platforms.discord.round_board import PLATFORM, message_ref, parse_ref

__all__ = ["PLATFORM", "DiscordPlatform", "message_ref", "parse_ref"]
