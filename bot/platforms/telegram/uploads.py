"""The .txt of `/novel add` on Telegram: sent with the command as its caption, or replied to.
It is downloaded only when the core reads it, after the router and the core accepted who sent
it, its name and its size."""

from __future__ import annotations

import logging

from telegram import Message
from telegram.error import TelegramError

from bot.core.errors import RelayError
from bot.core.router import Upload
from bot.core.text_commands import split_command

log = logging.getLogger(__name__)


def novel_upload(message: Message, text: str) -> Upload | None:
    """The .txt file of `/novel add` (sent with it, or replied to), not yet downloaded."""
    name, args = split_command(text)
    if name != "novel" or args.split()[:1] != ["add"]:
        return None
    document = message.document or (
        message.reply_to_message.document if message.reply_to_message else None
    )
    if document is None:
        raise RelayError(
            "Send the .txt file with /novel add as its caption, "
            "or reply to the file with /novel add."
        )
    filename = document.file_name or "upload"

    async def download() -> bytes:
        try:
            file = await document.get_file()
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("download of %s failed: %s", filename, exc)
            raise RelayError(
                "Telegram would not hand over that file ({error}).", error=exc.message
            ) from exc

    return Upload(filename, document.file_size or 0, download)
