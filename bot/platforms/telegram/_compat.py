"""Workarounds for python-telegram-bot (22.8), each with why and where upstream stands.

Everything here exists because of a library behaviour, not a relay rule; when upstream changes,
this is the one file to revisit.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram import Update
from telegram.ext import ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest, RequestData

JSONDict = dict[str, Any]
# Connections to the Bot API at once (Telegram's ~30 messages a second never need more), and
# how long a send waits for one of them before it fails.
SEND_CONNECTIONS = 32
SEND_QUEUE_SECONDS = 60.0

__all__ = ["Redacted", "TolerantUpdatesRequest", "few_connections", "readable_update"]

log = logging.getLogger(__name__)


def few_connections(builder: ApplicationBuilder) -> ApplicationBuilder:
    """The builder, its sends sharing SEND_CONNECTIONS connections instead of PTB's 256.

    Why: httpcore's connection pool (1.0.9, under httpx) walks its connections once per
    connection on every request it starts or finishes, work in the square of the pool's size
    (encode/httpcore#1035). With 256 connections that bookkeeping took about a sixth of the bot
    process's CPU in bench/cluster_load.py (py-spy); with 32, about 3 %. A send waits up
    to SEND_QUEUE_SECONDS for a free connection (PTB's own default, 1 s, would fail sends in a
    burst of round ends).
    Upstream: encode/httpcore#1035 (open) makes the pool linear; drop this when a release has it.
    """
    return builder.connection_pool_size(SEND_CONNECTIONS).pool_timeout(SEND_QUEUE_SECONDS)


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

    Why: see TolerantUpdatesRequest; the webhook (webhook.py) skips such an update the same way.
    """
    try:
        Update.de_json(item, None)
        return item
    except Exception:  # anything the library cannot parse is skipped, never fatal
        log.warning(
            "skipping an update the Telegram library cannot read: %.300r", item, exc_info=True
        )
    return {"update_id": item.get("update_id")}


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
