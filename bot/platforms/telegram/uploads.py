"""The .txt of `/novel add` on Telegram: sent with the command as its caption, or replied to;
its name and size are checked before it is downloaded."""

from __future__ import annotations

import logging

from telegram import Message
from telegram.error import TelegramError

from bot.core.commands import Attachment, split_command
from bot.core.errors import RelayError
from bot.core.relay import Relay
from bot.core.views import Actor, ChatKey

log = logging.getLogger(__name__)


async def novel_upload(
    relay: Relay, key: ChatKey, actor: Actor, message: Message, text: str
) -> Attachment | None:
    """The .txt file of `/novel add` (sent with it, or replied to), checked before it is
    downloaded."""
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
    await relay.check_novel_upload(key, actor, filename, document.file_size or 0)
    try:
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("download of %s failed: %s", filename, exc)
        raise RelayError(
            "Telegram would not hand over that file ({error}).", error=exc.message
        ) from exc
    return Attachment(filename=filename, data=data)
