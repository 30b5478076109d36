"""Telegram's side of webhook mode, mixed into the fake Bot API (fake_bot_api.py).

setWebhook registers a public https:// address with a secret and the update kinds wanted;
getWebhookInfo shows it (never the secret); deleteWebhook removes it. While one is registered,
getUpdates is refused (409) and each pushed update is POSTed, in order, to the address's path on
the next of `backends` (the bot processes behind a load balancer: round robin), with the secret
in `X-Telegram-Bot-Api-Secret-Token`, as Telegram does. An answer other than 2xx (or none) is
tried again, on the next backend; an update pushed with `deliveries=2` is POSTed a second time
after its first 200, as when Telegram missed the answer and retried. Every POST is recorded in
`deliveries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

JSON = dict[str, Any]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_ATTEMPTS = 50  # Telegram gives up "after a reasonable amount of attempts"
RETRY_SECONDS = 0.02


class WebhookError(Exception):
    """setWebhook refused: a 400 with Telegram's description."""


@dataclass
class Registration:
    url: str
    secret: str | None
    allowed_updates: list[str] | None


@dataclass
class Delivery:
    """One POST of an update: where to, and the HTTP status answered (0: no answer)."""

    update_id: int
    backend: str
    status: int


class WebhookMode:
    """The webhook half of FakeBotAPI (which supplies the queue of updates and its waits)."""

    _updates: list[JSON]
    _changed: asyncio.Condition
    _closing: bool
    delivered: int
    allowed_updates: list[str] | None

    def _wanted(self, update: JSON) -> bool:
        raise NotImplementedError  # FakeBotAPI's

    def _init_webhook(self) -> None:
        self.webhook: Registration | None = None
        self.backends: list[str] = []  # "host:port" of each bot process behind the address
        self.deliveries: list[Delivery] = []
        self._copies: dict[int, int] = {}  # update_id -> POSTs it still gets after the first
        self._turn = 0
        self._sender: asyncio.Task[None] | None = None

    def _start_webhook(self) -> None:
        self._sender = asyncio.get_running_loop().create_task(self._send_forever())

    async def _stop_webhook(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)

    # -- Bot API methods ------------------------------------------------------------------------

    def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url", ""))
        if not url:  # an empty url removes the webhook, as deleteWebhook does
            self.webhook = None
            return True
        if urlsplit(url).scheme != "https":
            raise WebhookError(
                "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise WebhookError("Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        self.webhook = Registration(url, None if secret is None else str(secret), allowed)
        self.allowed_updates = allowed if allowed is not None else self.allowed_updates
        asyncio.get_running_loop().create_task(self._wake())
        return True

    def _webhook_info(self) -> JSON:
        info: JSON = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": self.undelivered(),
        }
        if self.webhook is not None and self.webhook.allowed_updates is not None:
            info["allowed_updates"] = self.webhook.allowed_updates
        return info

    def undelivered(self) -> int:
        """How many pushed updates were not handed out yet (by getUpdates or a POST)."""
        return sum(1 for u in self._updates if self._wanted(u) and u["update_id"] > self.delivered)

    def duplicate(self, update_id: int, times: int = 1) -> None:
        """POST this (pushed) update again after its first 200, as a retry of Telegram's."""
        self._copies[update_id] = self._copies.get(update_id, 0) + times

    # -- sending --------------------------------------------------------------------------------

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _next(self) -> JSON | None:
        """The oldest update to POST now, dropping those of kinds the webhook does not want."""
        if self.webhook is None or not self.backends:
            return None
        while self._updates:
            update = self._updates[0]
            if self._wanted(update):
                return update
            self._updates.pop(0)
        return None

    async def _send_forever(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while not self._closing:
                update = self._next()
                if update is None:
                    with contextlib.suppress(TimeoutError):
                        async with self._changed:
                            await asyncio.wait_for(self._changed.wait(), 0.05)
                    continue
                await self._send(session, update)

    async def _send(self, session: aiohttp.ClientSession, update: JSON) -> None:
        """POST one update until a backend answers 2xx (then its copies, if any)."""
        for _attempt in range(MAX_ATTEMPTS):
            if self.webhook is None or not self.backends:
                return  # removed meanwhile: getUpdates may fetch it
            backend = self.backends[self._turn % len(self.backends)]
            self._turn += 1
            status = await self._post(session, backend, update)
            self.deliveries.append(Delivery(update["update_id"], backend, status))
            await self._wake()
            if 200 <= status < 300:
                if self._copies.get(update["update_id"], 0) > 0:
                    self._copies[update["update_id"]] -= 1
                    continue
                break
            await asyncio.sleep(RETRY_SECONDS)
        self.delivered = max(self.delivered, update["update_id"])
        self._updates.remove(update)
        await self._wake()

    async def _post(self, session: aiohttp.ClientSession, backend: str, update: JSON) -> int:
        assert self.webhook is not None
        headers = {"Content-Type": "application/json"}
        if self.webhook.secret is not None:
            headers[SECRET_HEADER] = self.webhook.secret
        target = f"http://{backend}{urlsplit(self.webhook.url).path or '/'}"
        try:
            async with session.post(target, data=json.dumps(update), headers=headers) as answer:
                return answer.status
        except (aiohttp.ClientError, TimeoutError):
            return 0
