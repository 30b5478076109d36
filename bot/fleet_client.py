"""The bot's side of the writer fleet: Ray Serve replicas shared by every bot process, over HTTP.

The bot imports neither torch nor Ray: it POSTs the worker's JSON fields (bot/writer_wire.py) to
the fleet's ingress (engine/fleet.py), naming the chat's writer version in the header Serve
routes by, so that the request lands on a replica that already has it loaded. There is no
fallback to a local writer: a fleet that is unreachable, answers an error or takes longer than
`timeout` seconds raises WriterUnavailable with the reason, and the round is handled as when
the worker process dies (the member is asked to try again).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.core.ports import WriterCandidate, WriterRequest, WriterUnavailable
from bot.core.records import WriterFacts
from bot.writer_wire import candidates_from, facts_from, generate_fields

__all__ = ["FleetClient", "location", "model_id"]

log = logging.getLogger(__name__)

MODEL_HEADER = "serve_multiplexed_model_id"  # Serve routes a request by it
_CONNECTIONS = 256  # requests in flight at once, all chats of this process together
_PROBE_SECONDS = 5.0  # start-up asks the fleet once, and does not wait long for it


def model_id(writer: str) -> str:
    """The writer's multiplexed model id, as engine/fleet.py `model_id` spells it."""
    return "base" if writer == "" else "writer:" + quote(writer, safe="/:")


def location(writer: str) -> str:
    """The writer as the fleet must name it: a folder as an absolute path (replicas do not
    share this process's working directory; shared storage is mounted at the same path on
    every machine), a URL (s3://…) and the base ("") as they are."""
    if writer == "" or "://" in writer:
        return writer
    return str(Path(writer).absolute())


class FleetClient:
    """Implements the core's Writer port over HTTP to the writer fleet."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")  # what `python -m engine fleet deploy` printed
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool and ask the fleet about the base writer once. A fleet that
        does not answer yet is only logged: the bot starts, and /continue says the writer is
        unavailable until it does."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_CONNECTIONS)
            )
        try:
            reply = await self._post("info", {"writer": ""}, _PROBE_SECONDS)
        except WriterUnavailable:  # logged with its reason
            log.warning("starting without the writer fleet: /continue waits until it answers")
            return
        facts = facts_from(reply["info"])
        log.info("writer fleet at %s: base %s on %s", self.url, facts.model, facts.device)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def generate(self, request: WriterRequest) -> list[WriterCandidate]:
        fields = generate_fields(request)
        fields["writer"] = location(request.writer)
        return candidates_from(await self._post("generate", fields))

    async def info(self, writer: str = "") -> WriterFacts:
        """Facts of a writer (the base when "") for /model."""
        reply = await self._post("info", {"writer": location(writer)})
        return facts_from(reply["info"])

    async def _post(
        self, op: str, body: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """POST one operation; its reply, or WriterUnavailable saying why there is none."""
        if self._session is None:
            raise WriterUnavailable("the writer fleet client is not started")
        headers = {MODEL_HEADER: model_id(body["writer"])}
        seconds = self.timeout if timeout is None else timeout
        try:
            async with self._session.post(
                f"{self.url}/{op}",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as response:
                status, text = response.status, await response.text()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise self._unavailable(f"it took longer than {seconds:g} s") from exc
        except aiohttp.ClientError as exc:  # refused, reset, unresolvable, cut off
            raise self._unavailable(f"it cannot be reached ({exc})") from exc
        try:
            reply = json.loads(text)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):  # Serve's own failures answer plain text
            raise self._unavailable(f"it answered HTTP {status}: {text[:200]!r}")
        if status != 200 or not reply.get("ok"):
            raise self._unavailable(str(reply.get("error", f"it answered HTTP {status}")))
        return reply

    def _unavailable(self, reason: str) -> WriterUnavailable:
        log.warning("writer fleet at %s: %s", self.url, reason)
        return WriterUnavailable(f"the writer fleet at {self.url}: {reason}")
