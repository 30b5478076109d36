"""A local fake of Discord for the adapter tests: the REST API that discord.py calls and the
gateway over a real WebSocket.

It keeps a tiny world (one guild with one text channel, its members, messages with reactions),
answers like Discord does (HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats and ACKs, RESUME
with a replay of missed events, or INVALID_SESSION), dispatches interactions and reactions, and
records every REST call so that tests assert on what the bot sent. `drop()` cuts the WebSocket
and `hold_gateway()` keeps the bot from coming back until told.

Sharding: `GET /gateway/bot` recommends `shards`; a sharded IDENTIFY (`shard: [id, count]`)
gets a READY that says its shard, with the guild only on the guild's shard
((GUILD_ID >> 22) % count), which alone gets the guild's events and may resume; another
shard's connection gets its READY and heartbeat ACKs, nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_ID = 1000
APP_ID = BOT_ID
GUILD_ID = 80351110224678912  # a real-looking snowflake: on shard 1 of 2, 2 of 3, 1 of 4
CHANNEL_ID = 3000
EVERYONE = GUILD_ID  # the @everyone role has the guild's id
MANAGE_MESSAGES = 1 << 13
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 6) | (1 << 16)  # view, send, react, history
EPHEMERAL = 1 << 6
TIMESTAMP = "2025-01-01T00:00:00+00:00"
# A request's parsed JSON (or multipart payload_json), and its files as (name, bytes).
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
FILES: web.RequestKey[list[tuple[str, bytes]]] = web.RequestKey("files", list)


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    permissions: int = MEMBER_PERMISSIONS
    bot: bool = False
    locale: str = "en-US"  # the member's client language

    def user(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member(self, with_permissions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user(),
            "roles": [],
            "joined_at": TIMESTAMP,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }
        if with_permissions:
            data["permissions"] = str(self.permissions)
        return data


@dataclass(frozen=True)
class Upload:
    """A file a member attaches to a slash command."""

    filename: str
    data: bytes
    size: int | None = None  # what Discord reports; defaults to len(data)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: list[tuple[str, bytes]]


@dataclass
class Message:
    id: int
    channel_id: int
    author: Member
    content: str
    flags: int = 0
    files: list[tuple[str, bytes]] = field(default_factory=list)
    reactions: dict[str, list[int]] = field(default_factory=dict)  # emoji -> user ids, in order
    edits: int = 0
    deleted: bool = False
    webhook: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)


@dataclass
class Interaction:
    """One slash command as dispatched, and everything the bot answered to it."""

    id: int
    token: str
    member: Member
    command: str
    callback: dict[str, Any] | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)

    @property
    def deferred(self) -> bool:
        return self.callback is not None and self.callback["type"] == 5

    def messages(self) -> list[Message]:
        """What the member sees: the original response (unless deleted), then the followups."""
        shown = [self.original] if self.original and not self.original.deleted else []
        return shown + self.followups

    def settled(self) -> bool:
        """Answered: a message, or a defer finished by an edit or a followup."""
        if self.callback is None:
            return False
        if not self.deferred:
            return True
        return bool(self.followups) or (self.original is not None and self.original.edits > 0)

    def text(self) -> str:
        return "\n".join(m.content for m in self.messages())


@dataclass
class _Session:
    id: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)


class FakeDiscord:
    """The fake server. `await start()`, point the bot at `api_base`, `await close()`."""

    def __init__(
        self,
        members: list[Member],
        bot_permissions: int = MEMBER_PERMISSIONS,
        heartbeat_ms: int = 1000,
        guild_locale: str = "en-US",
        shards: int = 1,
    ) -> None:
        self.bot = Member(BOT_ID, "relaytale", bot_permissions, bot=True)
        self.members = {m.id: m for m in members}
        self.heartbeat_ms = heartbeat_ms
        self.guild_locale = guild_locale  # the server's preferred locale
        self.shards = shards  # what GET /gateway/bot recommends
        self.identified: list[list[int] | None] = []  # each IDENTIFY's shard (None: unsharded)
        self.calls: list[Call] = []
        self.errors: list[str] = []  # handlers that raised: tests assert there are none
        self.messages: dict[int, Message] = {}
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global)
        self.gateway_log: list[str] = []  # "HELLO", "IDENTIFY", "RESUME", ... in order
        self.heartbeats = 0
        self.intents: int | None = None
        self.invalidate_resume = False  # answer the next RESUME with INVALID_SESSION
        self._ids = itertools.count(10_000)
        self._session: _Session | None = None
        self._ws: web.WebSocketResponse | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._runner: web.AppRunner | None = None
        self._uploads: dict[int, Upload] = {}
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record])
        api = "/api/v10"
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get(api + "/gateway/bot", self._gateway_bot)
        app.router.add_get(api + "/users/@me", self._me)
        app.router.add_get(api + "/oauth2/applications/@me", self._application)
        app.router.add_put(api + "/applications/{app}/commands", self._sync)
        app.router.add_put(api + "/applications/{app}/guilds/{guild}/commands", self._sync)
        app.router.add_post(api + "/interactions/{id}/{token}/callback", self._callback)
        app.router.add_post(api + "/webhooks/{app}/{token}", self._followup)
        app.router.add_patch(api + "/webhooks/{app}/{token}/messages/{mid}", self._edit_response)
        app.router.add_delete(
            api + "/webhooks/{app}/{token}/messages/{mid}", self._delete_response
        )
        app.router.add_post(api + "/channels/{cid}/messages", self._create_message)
        app.router.add_get(api + "/channels/{cid}/messages/{mid}", self._get_message)
        app.router.add_patch(api + "/channels/{cid}/messages/{mid}", self._edit_message)
        reactions = api + "/channels/{cid}/messages/{mid}/reactions/{emoji}"
        app.router.add_put(reactions + "/@me", self._add_own_reaction)
        app.router.add_delete(reactions + "/{user}", self._delete_reaction)
        app.router.add_get(reactions, self._reaction_users)
        app.router.add_get("/attachments/{id}/{name}", self._download)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._open.set()
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base + "/api/v10"

    # -- what tests do ------------------------------------------------------------------------

    async def wait_until(self, condition: Callable[[], object], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the fake Discord waited in vain")
            await asyncio.sleep(0.01)

    async def connected(self, identifies: int = 1) -> None:
        """Until the bot has identified this many times and is connected now."""
        await self.wait_until(
            lambda: self.gateway_log.count("IDENTIFY") >= identifies and self._ws is not None
        )

    async def drop(self) -> None:
        """Cut the WebSocket as a network failure would (close code 4000: reconnect)."""
        assert self._ws is not None, "the bot is not connected"
        ws, self._ws = self._ws, None
        self.gateway_log.append("DROP")
        await ws.close(code=4000, message=b"dropped by the test")

    def hold_gateway(self) -> None:
        """New gateway connections wait before HELLO until release_gateway()."""
        self._open.clear()

    def release_gateway(self) -> None:
        self._open.set()

    async def slash(self, member: Member, command: str, **options: Any) -> Interaction:
        """Dispatch `/command sub` with options, typed by what the bot synced."""
        names = command.split()
        top = next((c for c in self._synced() if c["name"] == names[0]), None)
        assert top is not None, f"/{names[0]} was not synced"
        resolved: dict[str, Any] = {}
        payload_options = self._options(top, names[1:], options, resolved)
        data = {
            "id": top["id"],
            "name": top["name"],
            "type": 1,
            "guild_id": str(GUILD_ID),
            "options": payload_options,
        }
        if resolved:
            data["resolved"] = {"attachments": resolved}
        return await self.interact(member, data, command)

    async def interact(
        self, member: Member, data: dict[str, Any], label: str = "?"
    ) -> Interaction:
        record = Interaction(next(self._ids), f"token-{next(self._ids)}", member, label)
        self.interactions[record.token] = record
        await self.dispatch(
            "INTERACTION_CREATE",
            {
                "id": str(record.id),
                "application_id": str(APP_ID),
                "type": 2,
                "token": record.token,
                "version": 1,
                "guild_id": str(GUILD_ID),
                "channel_id": str(CHANNEL_ID),
                "channel": self._channel(),
                "member": member.member(with_permissions=True),
                "data": data,
                "app_permissions": str(self.bot.permissions),
                "locale": member.locale,
                "guild_locale": self.guild_locale,
                "entitlements": [],
                "authorizing_integration_owners": {"0": str(GUILD_ID)},
                "context": 0,
                "attachment_size_limit": 10_000_000,
            },
        )
        return record

    async def answer(self, member: Member, command: str, **options: Any) -> Interaction:
        """Dispatch a slash command and wait until the bot has answered it."""
        record = await self.slash(member, command, **options)
        await self.wait_until(record.settled)
        return record

    async def react(self, member: Member, message_id: int, emoji: str) -> None:
        message = self.messages[message_id]
        users = message.reactions.setdefault(emoji, [])
        if member.id in users:
            return
        users.append(member.id)
        await self.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                **self._reaction_event(member.id, message, emoji),
                "member": member.member(),
                "message_author_id": str(message.author.id),
            },
        )

    async def unreact(self, member: Member, message_id: int, emoji: str) -> None:
        message = self.messages[message_id]
        if member.id in message.reactions.get(emoji, []):
            message.reactions[emoji].remove(member.id)
            await self.dispatch(
                "MESSAGE_REACTION_REMOVE", self._reaction_event(member.id, message, emoji)
            )

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a DISPATCH now, or keep it for a RESUME when the bot is away."""
        session = self._session
        assert session is not None, "the bot never identified"
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(payload)
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps(payload))

    def channel_messages(self) -> list[Message]:
        return [
            m
            for m in self.messages.values()
            if m.channel_id == CHANNEL_ID and not m.webhook and not m.deleted
        ]

    def calls_to(self, method: str, fragment: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    # -- gateway ------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._open.wait()
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}}, "HELLO")
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            op = payload.get("op")
            if op == 1:
                self.heartbeats += 1
                await self._send(ws, {"op": 11}, None)
            elif op == 2:
                await self._identify(ws, payload["d"])
            elif op == 6:
                await self._resume(ws, payload["d"])
        if self._ws is ws:
            self._ws = None
        return ws

    async def _send(
        self, ws: web.WebSocketResponse, payload: dict[str, Any], label: str | None
    ) -> None:
        if label:
            self.gateway_log.append(label)
        await ws.send_str(json.dumps(payload))

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.gateway_log.append("IDENTIFY")
        assert data["token"] == "test-token"
        self.intents = data.get("intents")
        shard = data.get("shard")
        self.identified.append(shard)
        session = f"session-{next(self._ids)}"
        if shard is not None and shard_of(GUILD_ID, shard[1]) != shard[0]:  # no guild of ours
            ready = self._ready(session, shard, guilds=[])
            await self._send(ws, {"op": 0, "t": "READY", "s": 1, "d": ready}, None)
            return
        self._session = _Session(id=session)
        self._ws = ws
        guilds = [{"id": str(GUILD_ID), "unavailable": True}]
        await self.dispatch("READY", self._ready(session, shard, guilds))
        await self.dispatch("GUILD_CREATE", self._guild())

    def _ready(
        self, session: str, shard: list[int] | None, guilds: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot.user(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": guilds,
            "session_id": session,
            "resume_gateway_url": self.base + "/gateway",
            "application": {"id": str(APP_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
            **({"shard": shard} if shard is not None else {}),
        }

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.gateway_log.append("RESUME")
        session = self._session
        if self.invalidate_resume or session is None or data["session_id"] != session.id:
            self.invalidate_resume = False
            self._session = None  # whatever happened meanwhile is lost, as on Discord
            await self._send(ws, {"op": 9, "d": False}, "INVALID_SESSION")
            return
        self._ws = ws
        for event in session.events:
            if event["s"] > (data["seq"] or 0):
                await ws.send_str(json.dumps(event))
        await self.dispatch("RESUMED", {})
        self.gateway_log.append("RESUMED")

    # -- REST ---------------------------------------------------------------------------------

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body: Any = None
        files: list[tuple[str, bytes]] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files.append((part.filename or "", await part.read()))  # type: ignore
        elif request.can_read_body:
            body = await request.json()
        if request.path != "/gateway":
            self.calls.append(Call(request.method, request.path, dict(request.query), body, files))
        request[BODY], request[FILES] = body, files
        try:
            response: web.StreamResponse = await handler(request)
        except Exception as exc:  # a fake that breaks must fail the test, not look like a 500
            self.errors.append(f"{request.method} {request.path}: {exc!r}")
            raise
        return response

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.base + "/gateway",
                "shards": self.shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bot test-token":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json({**self.bot.user(), "verified": True, "flags": 0, "mfa_enabled": False})

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "relaytale",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": Member(1, "owner").user(),
                "flags": 0,
                "team": None,
                "rpc_origins": [],
                "summary": "",
            }
        )

    async def _sync(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        key = int(guild) if guild else None
        synced = [
            {
                **c,
                "id": str(next(self._ids)),
                "application_id": str(APP_ID),
                "version": "1",
                "guild_id": guild,
                "type": c.get("type", 1),
            }
            for c in request[BODY]
        ]
        self.commands[key] = synced
        return _json(synced)

    async def _callback(self, request: web.Request) -> web.Response:
        record = self.interactions[request.match_info["token"]]
        if record.callback is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = request[BODY]
        record.callback = body
        data = body.get("data") or {}
        message = self._new_message(
            data.get("content", ""), data.get("flags", 0), request[FILES], webhook=True
        )
        record.original = message
        return _json(
            {
                "interaction": {
                    "id": str(record.id),
                    "type": 2,
                    "response_message_id": str(message.id),
                    "response_message_loading": body["type"] == 5,
                    "response_message_ephemeral": message.ephemeral,
                },
                "resource": {"type": body["type"], "message": self._payload(message)},
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        record = self.interactions[request.match_info["token"]]
        body = request[BODY]
        message = self._new_message(
            body.get("content", ""), body.get("flags", 0), request[FILES], webhook=True
        )
        record.followups.append(message)
        return _json(self._payload(message))

    async def _edit_response(self, request: web.Request) -> web.Response:
        record = self.interactions[request.match_info["token"]]
        assert request.match_info["mid"] == "@original" and record.original is not None
        self._apply_edit(record.original, request[BODY], request[FILES])
        return _json(self._payload(record.original))

    async def _delete_response(self, request: web.Request) -> web.Response:
        record = self.interactions[request.match_info["token"]]
        assert record.original is not None
        record.original.deleted = True
        return web.Response(status=204)

    async def _create_message(self, request: web.Request) -> web.Response:
        body = request[BODY]
        message = self._new_message(body.get("content", ""), body.get("flags", 0), request[FILES])
        return _json(self._payload(message))

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message.deleted:
            return _error(404, 10008, "Unknown Message")
        return _json(self._payload(message))

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self.messages[int(request.match_info["mid"])]
        self._apply_edit(message, request[BODY], request[FILES])
        return _json(self._payload(message))

    async def _add_own_reaction(self, request: web.Request) -> web.Response:
        message = self.messages[int(request.match_info["mid"])]
        emoji = request.match_info["emoji"]
        users = message.reactions.setdefault(emoji, [])
        if BOT_ID not in users:
            users.append(BOT_ID)
            await self.dispatch(
                "MESSAGE_REACTION_ADD",
                {**self._reaction_event(BOT_ID, message, emoji), "member": self.bot.member()},
            )
        return web.Response(status=204)

    async def _delete_reaction(self, request: web.Request) -> web.Response:
        if not self.bot.permissions & MANAGE_MESSAGES and request.match_info["user"] != "@me":
            return _error(403, 50013, "Missing Permissions")
        message = self.messages[int(request.match_info["mid"])]
        user = BOT_ID if request.match_info["user"] == "@me" else int(request.match_info["user"])
        emoji = request.match_info["emoji"]
        if user in message.reactions.get(emoji, []):
            message.reactions[emoji].remove(user)
            await self.dispatch(
                "MESSAGE_REACTION_REMOVE", self._reaction_event(user, message, emoji)
            )
        return web.Response(status=204)

    async def _reaction_users(self, request: web.Request) -> web.Response:
        message = self.messages[int(request.match_info["mid"])]
        users = sorted(message.reactions.get(request.match_info["emoji"], []))
        after = int(request.query.get("after", 0))
        limit = int(request.query.get("limit", 25))
        page = [u for u in users if u > after][:limit]
        everyone = {**self.members, BOT_ID: self.bot}
        return _json([everyone[u].user() for u in page])

    async def _download(self, request: web.Request) -> web.Response:
        upload = self._uploads[int(request.match_info["id"])]
        return web.Response(body=upload.data, content_type="text/plain")

    # -- payloads -----------------------------------------------------------------------------

    def _options(
        self,
        command: dict[str, Any],
        path: list[str],
        values: dict[str, Any],
        resolved: dict[str, Any],
    ) -> list[dict[str, Any]]:
        defined = command.get("options", [])
        if path:
            sub = next((o for o in defined if o["name"] == path[0] and o["type"] in (1, 2)), None)
            assert sub is not None, f"no subcommand {path[0]} in /{command['name']}"
            return [
                {
                    "name": sub["name"],
                    "type": sub["type"],
                    "options": self._options(sub, path[1:], values, resolved),
                }
            ]
        out = []
        for name, value in values.items():
            option = next((o for o in defined if o["name"] == name), None)
            assert option is not None, f"/{command['name']} has no option {name}"
            if option["type"] == 11:
                attachment_id = next(self._ids)
                self._uploads[attachment_id] = value
                resolved[str(attachment_id)] = {
                    "id": str(attachment_id),
                    "filename": value.filename,
                    "size": value.size if value.size is not None else len(value.data),
                    "url": f"{self.base}/attachments/{attachment_id}/{value.filename}",
                    "proxy_url": f"{self.base}/attachments/{attachment_id}/{value.filename}",
                    "content_type": "text/plain",
                }
                value = str(attachment_id)
            out.append({"name": name, "type": option["type"], "value": value})
        return out

    def _synced(self) -> list[dict[str, Any]]:
        return self.commands.get(GUILD_ID) or self.commands.get(None) or []

    def _new_message(
        self, content: str, flags: int, files: list[tuple[str, bytes]], webhook: bool = False
    ) -> Message:
        message = Message(
            next(self._ids), CHANNEL_ID, self.bot, content, flags, list(files), webhook=webhook
        )
        self.messages[message.id] = message
        return message

    @staticmethod
    def _apply_edit(message: Message, body: Any, files: list[tuple[str, bytes]]) -> None:
        if body and "content" in body:
            message.content = body["content"] or ""
        message.files += files
        message.edits += 1

    def _payload(self, message: Message) -> dict[str, Any]:
        reactions = [
            {
                "count": len(users),
                "count_details": {"normal": len(users), "burst": 0},
                "me": BOT_ID in users,
                "me_burst": False,
                "burst_colors": [],
                "emoji": {"id": None, "name": emoji},
            }
            for emoji, users in message.reactions.items()
            if users
        ]
        data: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": message.author.user(),
            "content": message.content,
            "timestamp": TIMESTAMP,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(i),
                    "filename": name,
                    "size": len(data),
                    "url": f"{self.base}/files/{i}",
                    "proxy_url": "",
                }
                for i, (name, data) in enumerate(message.files)
            ],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": message.flags,
            "reactions": reactions,
            "components": [],
        }
        if message.webhook:
            data["webhook_id"] = str(APP_ID)
        return data

    def _reaction_event(self, user_id: int, message: Message, emoji: str) -> dict[str, Any]:
        return {
            "user_id": str(user_id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "guild_id": str(GUILD_ID),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }

    def _channel(self) -> dict[str, Any]:
        return {
            "id": str(CHANNEL_ID),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "story-time",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "topic": None,
            "last_message_id": None,
            "flags": 0,
        }

    def _guild(self) -> dict[str, Any]:
        roles = [
            {
                "id": str(EVERYONE),
                "name": "@everyone",
                "permissions": "0",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            },
            {
                "id": str(EVERYONE + 1),
                "name": "relaytale",
                "permissions": str(self.bot.permissions),
                "position": 1,
                "color": 0,
                "hoist": False,
                "managed": True,
                "mentionable": False,
                "flags": 0,
            },
        ]
        me = {**self.bot.member(), "roles": [str(EVERYONE + 1)]}
        return {
            "id": str(GUILD_ID),
            "name": "Story club",
            "icon": None,
            "owner_id": "1",
            "roles": roles,
            "channels": [self._channel()],
            "members": [me],
            "emojis": [],
            "stickers": [],
            "features": [],
            "member_count": 4,
            "unavailable": False,
            "large": False,
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "preferred_locale": self.guild_locale,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "afk_timeout": 300,
            "afk_channel_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "joined_at": TIMESTAMP,
            "description": None,
            "banner": None,
            "splash": None,
            "discovery_splash": None,
            "premium_progress_bar_enabled": False,
        }


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body only when the content type is exactly application/json.
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's rule: the shard that carries a guild's events."""
    return (guild_id >> 22) % shard_count
