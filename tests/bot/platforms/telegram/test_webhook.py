"""bot/platforms/telegram/webhook.py: Telegram POSTs updates to the bot's processes (the fake
Bot API's webhook side, fake_webhook.py, plays Telegram and the load balancer), on a real SQLite
file: the secret, an update delivered twice, registration, start-up. The behaviour tests of the
other modules run in webhook mode too (conftest.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.platforms.telegram import ALLOWED_UPDATES
from bot.platforms.telegram.webhook import SECRET_VARIABLE, secret_problem
from tests.bot.platforms.telegram.fake_bot_api import TOKEN
from tests.bot.platforms.telegram.fake_webhook import SECRET_HEADER, Registration
from tests.bot.platforms.telegram.helpers import (
    ALICE,
    GROUP,
    GROUP_KEY,
    SECRET,
    WEBHOOK_URL,
    Setup,
    settle,
)

pytestmark = pytest.mark.parametrize("setup", ["webhook"], indirect=True)


async def post(address: str, body: bytes, secret: str | None) -> int:
    """POST to a bot process's webhook as Telegram would (or as anyone could)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{address}/telegram/updates", data=body, headers=headers) as answer,
    ):
        return answer.status


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_request_without_the_right_secret_is_refused_and_ignored(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """A POST with a wrong or missing secret is answered 403 and nothing is done with it:
    nothing answered, nothing stored (the same update with the right secret is then handled
    as new); a body that is not an update is answered 400; the secrets given are never logged."""
    async with setup.bot() as bot:
        assert bot.platform.webhook is not None
        address = bot.platform.webhook.address
        message = setup.fake.message(GROUP, ALICE, "/story new Intruders")
        update = json.dumps({"update_id": 555, "message": message}).encode()
        mark = len(setup.fake.calls)
        with caplog.at_level(logging.DEBUG):
            assert await post(address, update, None) == 403
            assert await post(address, update, "the-wrong-secret") == 403
            assert await post(address, update, SECRET[:-1]) == 403
            assert await post(address, update, SECRET + "ü") == 403
        await settle(setup, bot)
        assert setup.fake.sent("sendMessage", mark) == []
        assert await bot.store.find_chat("telegram", str(GROUP["id"])) is None
        assert "the-wrong-secret" not in caplog.text and SECRET[:-1] not in caplog.text
        assert "refused a request without the right secret" in caplog.text

        assert await post(address, b"{not json", SECRET) == 400
        assert await post(address, json.dumps({"message": message}).encode(), SECRET) == 400
        assert await post(address, update, SECRET) == 200
        reply = await setup.fake.wait_for("sendMessage", after=mark)
        assert "New story: Intruders" in reply.result["text"]


async def test_an_update_delivered_twice_to_two_processes_is_handled_once(setup: Setup) -> None:
    """Telegram retries an update (it missed the first 200); the retry lands on the other
    process, which shares the database: both answer 200, the command runs once."""
    async with setup.bot() as first, setup.bot() as second:
        mark = len(setup.fake.calls)
        update_id = setup.fake.push(
            {"message": setup.fake.message(GROUP, ALICE, "/story new Twice Told")}
        )
        setup.fake.duplicate(update_id)
        await until(lambda: setup.fake.undelivered() == 0)
        await settle(setup, first)
        await settle(setup, second)
        posts = [d for d in setup.fake.deliveries if d.update_id == update_id]
        assert [d.status for d in posts] == [200, 200]
        assert {d.backend for d in posts} == {
            first.platform.webhook.address if first.platform.webhook else "",
            second.platform.webhook.address if second.platform.webhook else "",
        }
        assert setup.fake.texts(GROUP["id"], mark) == [
            "📖 New story: Twice Told. Add lines with /write, or let the writer propose some "
            "with /continue."
        ]
        assert len(await first.relay.list_stories(GROUP_KEY)) == 1


async def test_registration_is_left_alone_when_telegram_already_calls_us(setup: Setup) -> None:
    """setWebhook (the address, the secret, the update kinds handled) only when getWebhookInfo
    shows something else; stopping leaves it for the other processes; polling deletes it."""
    async with setup.bot():
        pass
    (registered,) = setup.fake.sent("setWebhook")
    assert registered.params["url"] == WEBHOOK_URL
    assert registered.params["secret_token"] == SECRET
    assert set(registered.params["allowed_updates"]) == set(ALLOWED_UPDATES)
    assert setup.fake.webhook is not None  # still registered after the stop

    mark = len(setup.fake.calls)
    async with setup.bot():
        assert setup.fake.sent("getWebhookInfo", mark)
        assert setup.fake.sent("setWebhook", mark) == []

    setup.fake.webhook = Registration("https://elsewhere.test/hook", "other", ["message"])
    mark = len(setup.fake.calls)
    async with setup.bot():
        assert [c.params["url"] for c in setup.fake.sent("setWebhook", mark)] == [WEBHOOK_URL]

    setup.mode = "polling"
    async with setup.bot():
        assert setup.fake.webhook is None
        reply = await setup.say(ALICE, "/help")
        assert "/story new" in reply.result["text"]


@pytest.mark.parametrize("secret", [None, "", "has spaces", "x" * 257, "ümlaut"])
async def test_webhook_mode_refuses_to_start_without_a_good_secret(
    setup: Setup, secret: str | None
) -> None:
    """No secret, or one Telegram would refuse: start-up stops naming the variable, never
    the value; nothing is asked of Telegram."""
    with pytest.raises(ValueError, match=SECRET_VARIABLE) as refused:
        async with setup.bot(secret=secret):
            pass
    assert not secret or secret not in str(refused.value)
    assert setup.fake.calls == []
    assert secret_problem("A") is None and secret_problem("a_B-9" * 51) is None


async def test_the_token_and_the_secret_never_reach_the_logs(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """Even at DEBUG, where python-telegram-bot logs every call's parameters (setWebhook's
    secret_token) and httpx every URL (the token in it)."""
    with caplog.at_level(logging.DEBUG):
        async with setup.bot():
            reply = await setup.say(ALICE, "/help")
    assert "/story new" in reply.result["text"]
    logged = caplog.text + "".join(_arguments(r) for r in caplog.records)
    assert "setWebhook" in logged and "[redacted]" in logged
    assert SECRET not in logged and TOKEN not in logged


def _arguments(record: logging.LogRecord) -> str:
    args: Any = record.args
    return repr(args)
