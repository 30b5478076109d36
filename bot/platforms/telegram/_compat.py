"""Workarounds for python-telegram-bot (22.8), each with why and where upstream stands.

Everything here exists because of a library behaviour, not a relay rule; when upstream changes,
this is the one file to revisit.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram import Bot, Update
from telegram.request import BaseRequest, HTTPXRequest, RequestData

JSONDict = dict[str, Any]

__all__ = ["Redacted", "TolerantUpdatesRequest", "read_update", "readable_update"]

log = logging.getLogger(__name__)


class TolerantUpdatesRequest(HTTPXRequest):
    """The getUpdates connection, skipping updates the library cannot read.

    Why: PTB parses a batch of updates all or nothing (`Update.de_json` over the list in
    `Bot.get_updates`); when one update fails to parse — a field a newer Bot API sends in a shape
    this release does not know — the whole batch raises, the offset never moves, and the updater
    fetches the same batch again and again: the bot goes deaf. Here an unreadable update is
    logged and replaced by a bare one (its update_id only), which no handler takes but which
    moves the offset past it.
    Upstream: python-telegram-bot's `Bot.get_updates` (telegram/_bot.py) still parses the batch
    as a whole in 22.x; `Updater` retries on error with the same offset
    (telegram/ext/_updater.py, `_network_loop_retry`). Drop this class when a release skips
    unparseable updates itself.
    """

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, payload = await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        try:
            body = json.loads(payload)
        except ValueError:  # not JSON: PTB reports it as it would without us
            return status, payload
        if not isinstance(body, dict) or not isinstance(body.get("result"), list):
            return status, payload
        body["result"] = [kept for item in body["result"] if (kept := _readable(item)) is not None]
        return status, json.dumps(body).encode()


def readable_update(item: JSONDict) -> JSONDict:
    """`item` when the library can read it as an Update; else a bare update (its update_id
    only) that no handler takes, so that one unreadable update never stops the ones after it.

    Why: see TolerantUpdatesRequest; the webhook (webhook.py) skips such an update the same way
    (`read_update`).
    """
    try:
        Update.de_json(item, None)
        return item
    except Exception:  # anything the library cannot parse is skipped, never fatal
        _unreadable(item)
    return {"update_id": item.get("update_id")}


def read_update(item: JSONDict, bot: Bot) -> Update:
    """`readable_update` read once, for the webhook: the Update of `item`, or the bare one.
    (Parsing an update twice, to check it and then to use it, was a twentieth of a webhook
    process's CPU under load.)"""
    try:
        return Update.de_json(item, bot)
    except Exception:  # anything the library cannot parse is skipped, never fatal
        _unreadable(item)
    return Update.de_json({"update_id": item.get("update_id")}, bot)


def _unreadable(item: object) -> None:
    log.warning("skipping an update the Telegram library cannot read: %.300r", item, exc_info=True)


def _readable(item: object) -> object | None:
    if isinstance(item, dict) and isinstance(item.get("update_id"), int):
        return readable_update(item)
    log.warning("skipping an update the Telegram library cannot read: %.300r", item)
    return None


class Redacted(logging.Filter):
    """Replaces the bot's secrets (its token, the webhook's secret) in what a logger logs.

    Why: python-telegram-bot logs every Bot API call with its parameters at DEBUG
    (`Bot._do_post` in telegram/_bot.py: setWebhook's secret_token among them) and the base URL
    with the token in it (`Bot.__init__`); httpx logs each request's URL, token included, at
    INFO. Upstream: both by design in python-telegram-bot 22.8 and httpx 0.28; keep this while
    they log so.
    """

    LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "httpx")

    def __init__(self, *secrets: str | None) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, ()
        return True

    def install(self) -> Redacted:
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)
        return self

    def remove(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)
