"""Workarounds for discord.py (2.7.1), each with why and where upstream stands.

Everything here exists because of a library behaviour, not a relay rule; when upstream changes,
this is the one file to revisit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket

__all__ = ["GuardedParsers", "point_at_gateway", "point_at_rest"]

log = logging.getLogger(__name__)


def point_at_rest(api_base: str) -> None:
    """Send REST calls to `api_base` (Discord's, or a compatible local server in tests).

    Why: discord.py reads its REST base from the class attribute `discord.http.Route.BASE`; a
    client has no option for it. Upstream: discord/http.py, `Route.BASE` (2.7)."""
    discord.http.Route.BASE = api_base.rstrip("/")


def point_at_gateway(url: str) -> None:
    """Connect the gateway WebSocket to `url`, as `GET /gateway/bot` answered.

    Why: a plain `Client` connects to the class attribute `DiscordWebSocket.DEFAULT_GATEWAY`
    instead of the URL the REST API gives, and so does `AutoShardedClient` for every shard
    when it is given a `shard_count` (it asks `GET /gateway/bot` only when it is not) and for
    a shard that identifies anew after an invalid session; so pointing the REST base
    elsewhere is not enough.
    Upstream: discord/gateway.py, `DiscordWebSocket.DEFAULT_GATEWAY`; discord/shard.py,
    `AutoShardedClient.launch_shards` and `Shard.reidentify` (2.7)."""
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


class GuardedParsers(dict[str, Callable[[Any], None]]):
    """discord.py's gateway parsers, each logging and skipping a dispatch it cannot read, plus
    a logging one for events it does not know.

    Why: `ConnectionState.parsers` runs inside the gateway's receive loop; an exception there
    (a malformed or unexpected payload) ends the connection task and the bot goes silent.
    Upstream: discord/state.py, `ConnectionState.parsers` / `DiscordWebSocket.received_message`
    (2.7) let parser errors propagate."""

    def __init__(self, parsers: dict[str, Callable[[Any], None]]) -> None:
        super().__init__({event: _guarded(event, parse) for event, parse in parsers.items()})

    def __missing__(self, event: str) -> Callable[[Any], None]:
        return lambda data: log.info("skipped an unknown gateway dispatch %s", event)


def _guarded(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    def guarded(data: Any) -> None:
        try:
            parse(data)
        except Exception:  # a malformed dispatch: drop it, keep the connection
            log.warning("skipped a malformed %s dispatch", event, exc_info=True)

    return guarded
