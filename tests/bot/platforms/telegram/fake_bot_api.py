"""A fake Telegram Bot API server (aiohttp, 127.0.0.1) for testing the real python-telegram-bot.

It speaks the Bot API's HTTP protocol: `POST /bot<token>/<method>` with form or multipart data,
`{"ok": true, "result": ...}` answers in the shapes PTB 22.8 requires (recent fields included),
`GET /file/bot<token>/<path>` for downloads. getUpdates long-polls a queue of scripted updates
and confirms them by offset, as Telegram does. Like Telegram, it refuses what Telegram refuses:
HTML it cannot parse, texts over 4096 characters, callback data over 64 bytes, edits that change
nothing, downloads over 20 MB. Every call is recorded, so tests assert on what the bot sent.
In webhook mode (setWebhook) it POSTs the updates to the bot instead: fake_webhook.py.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.bot.platforms.telegram.fake_webhook import WebhookError, WebhookMode

JSON = dict[str, Any]
TOKEN = "123456:TEST-relaytale-token"
BOT_ID = 123456
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB
_JSON_FIELDS = {
    "reply_markup",
    "commands",
    "allowed_updates",
    "reply_parameters",
    "scope",
    "link_preview_options",
    "entities",
    "caption_entities",
}
_NUMBERS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
    "cache_time",
    "message_thread_id",
}
_TAG = re.compile(
    r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|blockquote|tg-spoiler)>"
    r'|<a href="[^"<>]*">|</a>'
)
_ENTITY = re.compile(r"&(amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);")
_UPDATE_TYPES = {
    "message",
    "edited_message",
    "callback_query",
    "message_reaction",
    "message_reaction_count",
    "my_chat_member",
    "chat_member",
    "inline_query",
}


class ApiError(Exception):
    """An error answer: {"ok": false, "error_code": ..., "description": ...}."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class Call:
    """One request the bot made, with its decoded parameters and uploaded files."""

    method: str
    params: JSON
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    result: Any = None


def user(user_id: int, first_name: str, username: str | None = None, language: str = "en") -> JSON:
    found: JSON = {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "language_code": language,
    }
    if username:
        found["username"] = username
    return found


def group(chat_id: int, title: str) -> JSON:
    return {"id": chat_id, "title": title, "type": "supergroup"}


def private(member: JSON) -> JSON:
    return {"id": member["id"], "type": "private", "first_name": member["first_name"]}


def administrator(member: JSON, owner: bool = False) -> JSON:
    """A ChatMember of the owner or an administrator, with every field PTB 22.8 requires."""
    if owner:
        return {"status": "creator", "user": member, "is_anonymous": False}
    return {
        "status": "administrator",
        "user": member,
        "can_be_edited": False,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": True,
        "can_restrict_members": True,
        "can_promote_members": False,
        "can_change_info": True,
        "can_invite_users": True,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
        "can_pin_messages": True,
        "can_manage_topics": False,
    }


def visible_text(text: str) -> str:
    """What Telegram shows of an HTML text; ApiError where Telegram cannot parse it."""
    for match in re.finditer(r"<[^>]*>?", text):
        if not _TAG.fullmatch(match[0]):
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported tag {match[0]!r}")
    for match in re.finditer(r"&[^;\s]*;?", text):
        if not _ENTITY.match(match[0]):
            raise ApiError(400, "Bad Request: can't parse entities: unescaped '&'")
    return html.unescape(re.sub(r"<[^>]*>", "", text))


class FakeBotAPI(WebhookMode):
    """The server plus the world it pretends: users, chats, administrators, files."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.me: JSON = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Relaytale",
            "username": "relaytale_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.calls: list[Call] = []
        self.admins: dict[int, list[JSON]] = {}
        self.messages: dict[tuple[int, int], JSON] = {}  # what each chat now shows
        # A button tap is answered once (a set, not a scan of the calls: benches tap a lot).
        self._queries_answered: set[str] = set()
        self.files: dict[str, bytes] = {}
        self.failures: dict[str, list[ApiError]] = {}  # method -> errors to answer first
        self.allowed_updates: list[str] | None = None
        self._updates: list[JSON] = []
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1000)
        self._closing = False
        self.delivered = 0  # the highest update_id handed out by getUpdates
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._init_webhook()

    # -- server ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # No access log: it would show the token in each path (Telegram's side, not the bot's).
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._start_webhook()

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        await self._stop_webhook()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params, files = await _decode(request)
        call = Call(method, params, files)
        handler = getattr(self, f"_m_{method}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            queued = self.failures.get(method)
            if queued:
                raise queued.pop(0)
            call.result = await handler(call) if method == "getUpdates" else handler(call)
        except ApiError as exc:
            call.result = exc
            await self._record(call)
            return _error(exc)
        await self._record(call)
        return web.json_response({"ok": True, "result": call.result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        data = self.files.get(request.match_info["path"])
        if data is None:
            return web.Response(status=404)
        await self._record(Call("download", {"path": request.match_info["path"]}))
        return web.Response(body=data, content_type="application/octet-stream")

    async def _record(self, call: Call) -> None:
        if call.method != "getUpdates" or call.result:
            self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    # -- scripted updates -----------------------------------------------------------------------

    def push(self, body: JSON) -> int:
        """Queue an update for getUpdates (or the webhook); returns its update_id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **body})
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def message(self, chat: JSON, sender: JSON, text: str = "", **extra: Any) -> JSON:
        """A member's message; a leading /command gets its bot_command entity, as Telegram's."""
        message: JSON = {
            "message_id": next(self._ids),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            **extra,
        }
        if text:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [_command_entity(text)]
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def command(self, chat: JSON, sender: JSON, text: str, **extra: Any) -> JSON:
        message = self.message(chat, sender, text, **extra)
        self.push({"message": message})
        return message

    def document(
        self,
        chat: JSON,
        sender: JSON,
        file_name: str,
        data: bytes,
        caption: str = "",
        mime_type: str = "text/plain",
        size: int | None = None,
    ) -> JSON:
        """A member's file, stored for getFile and the download; pushed when captioned."""
        file_id = f"BQACAgQAAx-{next(self._ids)}"
        self.files[f"documents/{file_id}.bin"] = data
        extra: JSON = {
            "document": {
                "file_name": file_name,
                "mime_type": mime_type,
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(data) if size is None else size,
            }
        }
        if caption:
            extra["caption"] = caption
            extra["caption_entities"] = [_command_entity(caption)]
        message = self.message(chat, sender, **extra)
        if caption:
            self.push({"message": message})
        return message

    def tap(self, sender: JSON, chat_id: int, message_id: int, data: str) -> str:
        """A member taps an inline button under one of the bot's messages."""
        query_id = f"cq{next(self._ids)}"
        self.push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": sender,
                    "message": self.messages[(chat_id, message_id)],
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                }
            }
        )
        return query_id

    def react(
        self, sender: JSON, chat: JSON, message_id: int, old: list[str], new: list[str]
    ) -> int:
        return self.push(
            {
                "message_reaction": {
                    "chat": chat,
                    "message_id": message_id,
                    "user": sender,
                    "date": int(time.time()),
                    "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
                    "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
                }
            }
        )

    # -- what the bot did -----------------------------------------------------------------------

    def sent(self, method: str | None = None, after: int = 0) -> list[Call]:
        return [c for c in self.calls[after:] if method is None or c.method == method]

    async def wait_for(
        self,
        method: str,
        match: Callable[[Call], bool] = lambda c: True,
        after: int = 0,
        timeout: float = 5.0,
    ) -> Call:
        """The first call of `method` at or after index `after` that matches."""

        async def found() -> Call:
            async with self._changed:
                while True:
                    for call in self.calls[after:]:
                        if call.method == method and match(call):
                            return call
                    await self._changed.wait()

        return await asyncio.wait_for(found(), timeout)

    def texts(self, chat_id: int, after: int = 0) -> list[str]:
        """What the chat saw the bot send (sendMessage), as plain text."""
        return [
            c.result["text"]
            for c in self.sent("sendMessage", after)
            if isinstance(c.result, dict) and c.result["chat"]["id"] == chat_id
        ]

    # -- Bot API methods ------------------------------------------------------------------------

    async def _m_getUpdates(self, call: Call) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self.allowed_updates = call.params.get("allowed_updates", self.allowed_updates)
        offset = int(call.params.get("offset") or 0)
        deadline = time.monotonic() + float(call.params.get("timeout") or 0)
        async with self._changed:
            while True:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = [u for u in self._updates if self._wanted(u)][:100]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._closing:
                    self.delivered = max([self.delivered, *(u["update_id"] for u in ready)])
                    return ready
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    return []

    def _wanted(self, update: JSON) -> bool:
        kinds = [k for k in update if k in _UPDATE_TYPES]
        allowed = self.allowed_updates or ["message", "edited_message", "callback_query"]
        return not kinds or kinds[0] in allowed

    def _m_getMe(self, call: Call) -> JSON:
        return self.me

    def _m_deleteWebhook(self, call: Call) -> bool:
        self.webhook = None
        return True

    def _m_setWebhook(self, call: Call) -> bool:
        try:
            return self._set_webhook(call.params)
        except WebhookError as exc:
            raise ApiError(400, str(exc)) from exc

    def _m_getWebhookInfo(self, call: Call) -> JSON:
        return self._webhook_info()

    def _m_setMyCommands(self, call: Call) -> bool:
        for command in call.params["commands"]:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]) or not (
                1 <= len(command["description"]) <= 256
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        return True

    def _m_sendChatAction(self, call: Call) -> bool:
        return True

    def _m_sendMessage(self, call: Call) -> JSON:
        return self._new_message(call, self._text(call.params))

    def _m_sendDocument(self, call: Call) -> JSON:
        if "document" not in call.files:
            raise ApiError(400, "Bad Request: there is no document in the request")
        name, data = call.files["document"]
        file_id = f"BQACAgQAAx-{next(self._ids)}"
        self.files[f"documents/{file_id}.bin"] = data
        extra: JSON = {
            "document": {
                "file_name": name,
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(data),
            }
        }
        if call.params.get("caption"):
            extra["caption"] = visible_text(call.params["caption"])
        return self._new_message(call, extra)

    def _m_sendPhoto(self, call: Call) -> JSON:
        if "photo" not in call.files:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        _name, data = call.files["photo"]
        if not data.startswith(b"\x89PNG") and not data.startswith(b"\xff\xd8"):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        file_id = f"AgACAgQAAx-{next(self._ids)}"
        size = {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 800, "height": 450}
        extra: JSON = {"photo": [size]}
        if call.params.get("caption"):
            extra["caption"] = visible_text(call.params["caption"])
        return self._new_message(call, extra)

    def _m_editMessageText(self, call: Call) -> JSON:
        message = self._stored(call.params)
        changed = {**message, **self._text(call.params), "edit_date": int(time.time())}
        changed.pop("reply_markup", None)  # no reply_markup: the inline keyboard is removed
        markup = self._markup(call.params)
        if markup:
            changed["reply_markup"] = markup
        return self._replace(message, changed)

    def _m_editMessageReplyMarkup(self, call: Call) -> JSON:
        message = self._stored(call.params)
        changed = {**message, "edit_date": int(time.time())}
        changed.pop("reply_markup", None)
        markup = self._markup(call.params)
        if markup:
            changed["reply_markup"] = markup
        return self._replace(message, changed)

    def _m_answerCallbackQuery(self, call: Call) -> bool:
        if len(call.params.get("text", "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query = call.params["callback_query_id"]
        if query in self._queries_answered:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired "
                "or query ID is invalid",
            )
        self._queries_answered.add(query)
        return True

    def _m_getFile(self, call: Call) -> JSON:
        path = f"documents/{call.params['file_id']}.bin"
        if path not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self.files[path])
        if size > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": call.params["file_id"],
            "file_unique_id": f"u{call.params['file_id']}",
            "file_size": size,
            "file_path": path,
        }

    def _m_getChatAdministrators(self, call: Call) -> list[JSON]:
        chat_id = call.params["chat_id"]
        if chat_id > 0:
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        return self.admins.get(chat_id, [])

    def _m_getChatMember(self, call: Call) -> JSON:
        for member in self.admins.get(call.params["chat_id"], []):
            if member["user"]["id"] == call.params["user_id"]:
                return member
        return {"status": "member", "user": user(call.params["user_id"], "Member")}

    def _m_getChat(self, call: Call) -> JSON:
        chat_id = call.params["chat_id"]
        base = next(
            (m["chat"] for (cid, _), m in self.messages.items() if cid == chat_id),
            {"id": chat_id, "type": "supergroup", "title": "Group"},
        )
        return {
            **base,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    # -- helpers --------------------------------------------------------------------------------

    def _text(self, params: JSON) -> JSON:
        text = params.get("text", "")
        shown = visible_text(text) if params.get("parse_mode") == "HTML" else text
        if not shown.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(shown.encode("utf-16-le")) // 2 > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return {"text": shown}

    def _markup(self, params: JSON) -> JSON | None:
        markup = params.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _new_message(self, call: Call, content: JSON) -> JSON:
        chat_id = call.params["chat_id"]
        chat = next((m["chat"] for (cid, _), m in self.messages.items() if cid == chat_id), None)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        message: JSON = {
            "message_id": next(self._ids),
            "from": self.me,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        markup = self._markup(call.params)
        if markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _stored(self, params: JSON) -> JSON:
        message = self.messages.get(
            (int(params.get("chat_id", 0)), int(params.get("message_id", 0)))
        )
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _replace(self, old: JSON, new: JSON) -> JSON:
        if (old.get("text"), old.get("reply_markup")) == (
            new.get("text"),
            new.get("reply_markup"),
        ):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same as a current "
                "content and reply markup of the message",
            )
        self.messages[(old["chat"]["id"], old["message_id"])] = new
        return new


async def _decode(request: web.Request) -> tuple[JSON, dict[str, tuple[str, bytes]]]:
    """PTB sends JSON-encoded values as form fields (strings raw), files as multipart parts."""
    params: JSON = {}
    files: dict[str, tuple[str, bytes]] = {}
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = (value.filename, value.file.read())
        elif name in _JSON_FIELDS or name in _NUMBERS or value in ("true", "false"):
            params[name] = json.loads(str(value))
        else:
            params[name] = str(value)
    # A file sent by attach:// reference is named in the parameter, the part carries the bytes.
    for name, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            files[name] = files.pop(value[len("attach://") :])
    return params, files


def _command_entity(text: str) -> JSON:
    return {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}


def _error(exc: ApiError) -> web.Response:
    body: JSON = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.retry_after is not None:
        body["parameters"] = {"retry_after": exc.retry_after}
    return web.json_response(body, status=exc.code)
