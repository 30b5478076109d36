"""Telegram's webhook mode: Telegram POSTs each update to the public address (`[telegram]
webhook_url`), a load balancer hands it to one of the bot's processes, and each process serves
it on `listen` with a small aiohttp application beside python-telegram-bot's Application.

A request without the right `X-Telegram-Bot-Api-Secret-Token` (compared in constant time) is
answered 403 and nothing is done with it; a body that is not an update, 400. An update is handed
on only the first time any process sees it (`CommandRouter.first_delivery`, one row per
update_id in the shared database): a retry landing on another process is answered 200 and
skipped. Accepted updates go into the Application's update queue, as polling's would, and are
answered 200 at once; the handlers run afterwards.

Registration (`setWebhook`, with the secret and the update kinds the bot handles) is idempotent:
a process that finds Telegram already calling `webhook_url` for the same kinds
(`getWebhookInfo`) leaves it alone, so processes starting together never undo one another. The
secret cannot be compared (getWebhookInfo does not show it): after changing it, delete the
webhook once (docs/telegram.md) and the next process to start registers it again.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram.ext import Application

from bot.config import TelegramConfig
from bot.core.router import CommandRouter
from bot.platforms.telegram._compat import read_update

__all__ = ["SECRET_HEADER", "SECRET_VARIABLE", "Webhook", "secret_problem", "webhook_for"]

log = logging.getLogger(__name__)

SECRET_VARIABLE = "TELEGRAM_WEBHOOK_SECRET"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts as secret_token


def secret_problem(secret: str | None) -> str | None:
    """Why `secret` cannot be the webhook's secret, naming the variable (never the value); None
    when it can."""
    rule = "1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
    if not secret:
        return f"Telegram's webhook mode needs the {SECRET_VARIABLE} environment variable: {rule}"
    if not _SECRET.fullmatch(secret):
        return f"{SECRET_VARIABLE} must be {rule}"
    return None


def webhook_for(
    router: CommandRouter,
    platform: str,
    config: TelegramConfig,
    secret: str | None,
    allowed_updates: Sequence[str],
) -> Webhook | None:
    """The webhook to serve in webhook mode (ValueError for a missing or bad secret, before
    anything starts); None in polling mode."""
    if config.mode != "webhook":
        return None
    return Webhook(router, platform, config, secret, allowed_updates)


class Webhook:
    """Serves Telegram's POSTs on `listen` to an Application; registers `webhook_url`."""

    app: Application[Any, Any, Any, Any, Any, Any]

    def __init__(
        self,
        router: CommandRouter,
        platform: str,
        config: TelegramConfig,
        secret: str | None,
        allowed_updates: Sequence[str],
    ) -> None:
        problem = secret_problem(secret)
        if problem is not None or secret is None:
            raise ValueError(problem)
        self.router, self.platform = router, platform
        self.url = config.webhook_url
        self.allowed_updates = list(allowed_updates)
        self._secret = secret
        self._listen = config.listen_at
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        """host:port where the webhook is served (the port given, or the one picked for 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the webhook is not being served")
        host, port = self._runner.addresses[0][:2]
        return f"{host}:{port}"

    async def start(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Serve first, then register: Telegram may call as soon as setWebhook returns."""
        self.app = app
        served = web.Application()
        served.router.add_post(urlsplit(self.url).path or "/", self.receive)
        self._runner = web.AppRunner(served, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, *self._listen).start()
        await self._register()
        log.info("telegram: webhook %s served at %s", self.url, self.address)

    async def stop(self) -> None:
        """Stop serving (requests in flight finish). The webhook stays registered: the other
        processes behind it go on."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def receive(self, request: web.Request) -> web.Response:
        """One POST from Telegram (or from anyone who found the address)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(_bytes(given), _bytes(self._secret)):
            log.warning(
                "webhook: refused a request without the right secret from %s", request.remote
            )
            return web.Response(status=403)
        try:
            data = json.loads(await request.read())
        except ValueError:  # not JSON (UnicodeDecodeError is one): Telegram never sends that
            return web.Response(status=400, text="not an update")
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return web.Response(status=400, text="not an update")
        if not await self.router.first_delivery(self.platform, update_id):
            log.info("webhook: update %d was delivered before; skipped", update_id)
            return web.Response()
        # One the library cannot read is logged and replaced by a bare update, as in polling.
        await self.app.update_queue.put(read_update(data, self.app.bot))
        return web.Response()

    async def _register(self) -> None:
        info = await self.app.bot.get_webhook_info()
        if info.url == self.url and set(info.allowed_updates) == set(self.allowed_updates):
            log.info("telegram: webhook already registered")
            return
        await self.app.bot.set_webhook(
            self.url, allowed_updates=self.allowed_updates, secret_token=self._secret
        )
        log.info("telegram: webhook registered")


def _bytes(text: str) -> bytes:
    # compare_digest takes str only when ASCII; a header may hold anything.
    return text.encode("utf-8", "surrogateescape")
