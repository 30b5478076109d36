"""The core's one root error. Its message is written for the member who caused it."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is named; it is translated where shown."""
    return message


class RelayError(Exception):
    """A command was refused. `message` is the English text with {placeholders} — the key of
    the message catalogue — and `params` fill them; each platform shows it in its reader's
    language (bot/i18n.py). `str(error)` is the English text."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params


class NotAllowed(RelayError):
    """A member tried a moderator action."""
