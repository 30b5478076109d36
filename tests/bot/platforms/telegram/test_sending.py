"""The Bot API client's HTTP on aiohttp: what PTB is told when Telegram cannot be reached or is
slow (the adapter answers members "try again" on these), and what it sends."""

from __future__ import annotations

import asyncio
import socket
import traceback
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.platforms.telegram.sending import AiohttpRequest


@pytest.fixture
async def sending() -> AsyncIterator[AiohttpRequest]:
    request = AiohttpRequest(connections=2, pool_seconds=1.0)
    await request.initialize()
    yield request
    await request.shutdown()


async def serve(handler: web.RequestHandler) -> tuple[web.AppRunner, str]:  # type: ignore[type-arg]
    app = web.Application()
    app.router.add_post("/{method}", handler)
    app.router.add_post("/{bot}/{method}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_a_send_arrives_as_the_form_ptb_sends(sending: AiohttpRequest) -> None:
    seen: dict[str, str] = {}

    async def answer(request: web.Request) -> web.Response:
        seen.update({k: str(v) for k, v in (await request.post()).items()})
        return web.json_response({"ok": True, "result": True})

    runner, base = await serve(answer)
    try:
        data = RequestData(
            [RequestParameter.from_input("text", "한 줄 ✅"), RequestParameter.from_input("n", 3)]
        )
        status, body = await sending.do_request(f"{base}/sendMessage", "POST", data)
    finally:
        await runner.cleanup()
    assert status == 200 and b'"ok": true' in body
    assert seen == {"text": "한 줄 ✅", "n": "3"}


TOKEN = "123456:SECRET-token"


async def test_telegram_out_of_reach_is_a_network_error(sending: AiohttpRequest) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NetworkError) as raised:
        await sending.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", "POST")
    assert_tokenless(raised.value)


def assert_tokenless(error: BaseException) -> None:
    """Neither the error nor what a logged traceback of it shows names the token."""
    shown = "".join(traceback.format_exception(error))
    assert TOKEN not in shown and "SECRET" not in shown


async def test_telegram_too_slow_is_timed_out(sending: AiohttpRequest) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"ok": True, "result": True})

    runner, base = await serve(slow)
    try:
        with pytest.raises(TimedOut) as raised:
            await sending.do_request(f"{base}/bot{TOKEN}/getMe", "POST", read_timeout=0.2)
        assert_tokenless(raised.value)
    finally:
        await runner.cleanup()
