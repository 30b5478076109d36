"""Telegram: the adapter (adapter.py), how rounds are shown (round_board.py), how everything else
looks (render.py), and the library workarounds (_compat.py)."""

from bot.platforms.telegram.adapter import ALLOWED_UPDATES, PLATFORM, TelegramPlatform
from bot.platforms.telegram.round_board import RoundMessages

__all__ = ["ALLOWED_UPDATES", "PLATFORM", "RoundMessages", "TelegramPlatform"]
