"""How the bot's sends reach the Bot API: python-telegram-bot's `BaseRequest` on aiohttp.

Why not PTB's default (`HTTPXRequest`): httpx and httpcore are pure Python, and each request
cost about 2.4 ms of CPU on this machine against about 0.2 ms with aiohttp, which the bot
already runs for its webhook (one POST of a small form to a local server, client and server
together, 3,000 requests 50 at a time). A vote tapped is two sends, its answer and its live
count, and py-spy put httpx at a third of a bot process under `bench/cluster_load.py`.
`BaseRequest` is PTB's documented way to bring another HTTP library; getUpdates (one long poll
at a time) stays on PTB's own.

Timeouts keep PTB's meaning and defaults: connecting, reading the answer, and waiting for one
of the pool's connections (`pool_seconds`: a burst of round ends waits for a connection rather
than failing). aiohttp has no write timeout; an upload is bounded as a whole instead.
"""

from __future__ import annotations

import re
import ssl
from typing import Any

import aiohttp
import certifi
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]

# Connections to the Bot API at once (Telegram's ~30 messages a second never need more), and
# how long a send waits for one of them before it fails (PTB's 1 s would fail sends in a burst
# of round ends).
SEND_CONNECTIONS = 32
SEND_QUEUE_SECONDS = 60.0
CONNECT_SECONDS = 5.0  # PTB's defaults for connecting and for reading an answer
READ_SECONDS = 5.0
UPLOAD_SECONDS = 20.0  # PTB's media_write_timeout: sending a file's bytes
_TOKEN_IN_URL = re.compile(r"/bot[^/\s]+")


class AiohttpRequest(BaseRequest):
    """Sends over one aiohttp session of at most `connections` connections."""

    def __init__(
        self, connections: int = SEND_CONNECTIONS, pool_seconds: float = SEND_QUEUE_SECONDS
    ) -> None:
        self._connections = connections
        self._pool_seconds = pool_seconds
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return READ_SECONDS

    async def initialize(self) -> None:
        """The session is made here, inside the running loop (PTB calls this at start-up)."""
        if self._session is None or self._session.closed:
            # certifi's authorities, as PTB's httpx trusts (not only the system's, which slim
            # images may lack)
            trusted = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=trusted)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

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
        """One request: its HTTP status and body (PTB reads the Bot API's answer from them)."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data is not None and request_data.contains_files
        pool = _given(pool_timeout, self._pool_seconds)
        connect = _given(connect_timeout, CONNECT_SECONDS)
        read = _given(read_timeout, READ_SECONDS)
        upload = _given(write_timeout, UPLOAD_SECONDS)
        waiting = None if pool is None or connect is None else pool + connect
        timeout = aiohttp.ClientTimeout(
            connect=waiting,  # a free connection of the pool, then connecting
            sock_connect=connect,
            sock_read=read,
            # a file's upload, bounded as a whole: its bytes, then the answer
            total=upload + (read or 0) + (waiting or 0) if files and upload else None,
        )
        try:
            async with self._session.request(
                method,
                url,
                data=_body(request_data),
                headers={"User-Agent": self.USER_AGENT},
                timeout=timeout,
            ) as answer:
                return answer.status, await answer.read()
        # Without the cause: aiohttp puts the URL, the bot's token in it, into some messages
        # ("Connection timeout to host …/bot<token>/sendMessage"), and a logged traceback
        # would show it.
        except TimeoutError as exc:
            said = f"the Bot API did not answer in time (aiohttp.{type(exc).__name__})"
            raise TimedOut(said) from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {_tokenless(str(exc))}") from None


def _tokenless(text: str) -> str:
    """The text with the token of any Bot API URL in it hidden (`/bot<token>/`, `/file/bot…`)."""
    return _TOKEN_IN_URL.sub("/bot[redacted]", text)


def _given(value: Any, default: float) -> float | None:
    """A timeout PTB passed (None: none), or ours when it passed none."""
    return default if value is BaseRequest.DEFAULT_NONE else value


def _body(request_data: RequestData | None) -> dict[str, str] | aiohttp.FormData | None:
    """The parameters as a form (what PTB's own request sends); multipart with files."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not request_data.contains_files:
        return fields
    form = aiohttp.FormData(fields)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
