"""Telegram: the relay in groups and private chats, through python-telegram-bot's Application.

The lifecycle is driven here (no run_polling) so Telegram shares the loop with Discord and the
scheduler. Commands reach the CommandRouter as text; `/novel add` also works as the caption of a
.txt document or as a reply to one.

A round is shown as one message per candidate followed by the round message, whose keycap
buttons vote (a second tap on the same button takes the vote back, a tap on another moves it).
A 👍 reaction on a candidate's message is the same vote; Telegram only reports reactions to
bots that are administrators. The round's message_ref names them all:
"tg:<chat id>:<round message id>:<candidate 1's message id>,<candidate 2's>,…", so taps and
reactions are checked against the chat's open round and survive a restart.

Moderators are the chat's administrators (looked up, cached for `admin_ttl` seconds), the member
of a private chat, and the ids in config.toml (checked by the core).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import (
    Chat as TgChat,
)
from telegram import (
    Message,
    ReactionType,
    ReactionTypeEmoji,
    Update,
    User,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.config import TelegramConfig
from bot.core.commands import COMMANDS, Attachment, CommandRouter, Result, split_command
from bot.core.errors import RelayError
from bot.core.records import Chat
from bot.core.relay import Relay
from bot.core.views import (
    Actor,
    ChatKey,
    ContinueResult,
    ExportFile,
    RoundResult,
    RoundView,
    VoteResult,
)
from bot.platforms import telegram_render as render

__all__ = ["ALLOWED_UPDATES", "PLATFORM", "RoundMessages", "TelegramPlatform"]

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# message_reaction is delivered only when asked for here, and only to administrator bots.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MESSAGE_REACTION]
# Every command word the router knows; /start is what Telegram sends when a chat begins.
ROUTER_COMMANDS = sorted(
    {usage.split()[0].lstrip("/") for usage, _ in COMMANDS} | {"start", "train"}
)
THUMBS_UP = "👍"
_NOVEL_ADD = re.compile(r"^/novel(@\w+)?\s+add\b", re.IGNORECASE)
_STALE = "This round is over; vote under the current round message."
_NOT_MODIFIED = "message is not modified"

Context = ContextTypes.DEFAULT_TYPE


@dataclass(frozen=True)
class RoundMessages:
    """Where a round is shown: its chat, the round message, each candidate's message."""

    chat_id: int
    message_id: int
    candidates: tuple[int, ...]  # message ids, candidate 1 first

    @property
    def ref(self) -> str:
        ids = ",".join(map(str, self.candidates))
        return f"tg:{self.chat_id}:{self.message_id}:{ids}"

    @classmethod
    def parse(cls, ref: str) -> RoundMessages | None:
        parts = ref.split(":")
        if len(parts) != 4 or parts[0] != "tg":
            return None
        try:
            ids = tuple(int(x) for x in parts[3].split(",") if x)
            return cls(int(parts[1]), int(parts[2]), ids)
        except ValueError:
            return None

    def ordinal_of(self, message_id: int) -> int | None:
        return self.candidates.index(message_id) + 1 if message_id in self.candidates else None


class TelegramPlatform:
    """The Telegram adapter: parse an update, make one core call, render the answer."""

    def __init__(
        self,
        relay: Relay,
        router: CommandRouter,
        token: str,
        config: TelegramConfig,
        *,
        rate_limiter: BaseRateLimiter[Any] | None = None,
        admin_ttl: float = 60.0,
        poll_timeout: float = 10.0,
    ) -> None:
        self.relay = relay
        self.router = router
        self.admin_ttl = admin_ttl
        self.poll_timeout = poll_timeout
        self._admins: dict[int, tuple[float, frozenset[int]]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        # Chats with a keyboard refresh waiting for the lock: during a burst of taps one edit
        # shows them all, which keeps within Telegram's 20 messages a minute per group.
        self._refresh_waiting: set[int] = set()
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(token)
            .base_url(config.base_url)
            .base_file_url(config.base_file_url)
            # Flood errors (RetryAfter) are waited out and the request sent again.
            .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3))
            .get_updates_request(_TolerantUpdatesRequest())
            .concurrent_updates(True)  # a /continue that waits for the writer blocks no one
            .job_queue(None)
            .build()
        )
        self.app.add_handler(
            CommandHandler(ROUTER_COMMANDS, self.on_command, filters=filters.UpdateType.MESSAGE)
        )
        self.app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE
                & filters.Document.ALL
                & filters.CaptionRegex(_NOVEL_ADD),
                self.on_command,
            )
        )
        self.app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.COMMAND & filters.ChatType.PRIVATE,
                self.on_command,
            )
        )  # unknown commands get an answer where nobody else can mean them
        self.app.add_handler(CallbackQueryHandler(self.on_tap))
        self.app.add_handler(
            MessageReactionHandler(
                self.on_reaction,
                message_reaction_types=MessageReactionHandler.MESSAGE_REACTION_UPDATED,
            )
        )
        self.app.add_error_handler(self.on_error)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.app.initialize()  # getMe: a wrong token fails here
        try:
            await self.app.bot.set_my_commands(render.bot_commands(COMMANDS))
        except TelegramError:  # only the client's command menu is missing; commands still work
            log.warning("could not register the command menu", exc_info=True)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            allowed_updates=ALLOWED_UPDATES, timeout=int(self.poll_timeout)
        )
        log.info("telegram: polling as @%s", self.app.bot.username)

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Announcer port: a round closed at its deadline."""
        try:
            await self._show_result(int(chat.external_id), result)
        except TelegramError:  # the round is closed in the store; only the announcement failed
            log.exception("could not announce the end of round %s", result.view.id)

    # -- handlers -------------------------------------------------------------------------------

    async def on_command(self, update: Update, context: Context) -> None:
        """A text command, or `/novel add` as a document's caption."""
        message, chat = update.effective_message, update.effective_chat
        user = update.effective_user
        if message is None or chat is None or user is None:  # not a member's message
            log.info("skipping update %s: no message, chat or sender", update.update_id)
            return
        text = message.text or message.caption or ""
        key = _key(chat)
        async with self._refusals(update):
            actor = Actor(
                str(user.id),
                user.full_name,
                is_moderator=await self._is_moderator(chat, user, message),
            )
            attachment = await self._attachment(key, actor, message, text)
            if split_command(text)[0] == "continue":
                with contextlib.suppress(TelegramError):  # only a hint that the writer is busy
                    await chat.send_action(ChatAction.TYPING)
            outcome = await self.router.handle(key, actor, text, attachment)
            await self._deliver(message, key, outcome)

    async def on_tap(self, update: Update, context: Context) -> None:
        """A vote button: checked against the chat's open round and its message."""
        query = update.callback_query
        if query is None:
            return
        async with self._refusals(update):
            parsed = render.parse_callback(query.data)
            if parsed is None or query.message is None:
                raise RelayError("That button does nothing any more.")
            round_id, ordinal = parsed
            chat = query.message.chat
            key = _key(chat)
            view, posted = await self._open_round(key)
            if (
                view is None
                or posted is None
                or view.id != round_id
                or (posted.chat_id, posted.message_id) != (chat.id, query.message.message_id)
            ):
                raise RelayError(_STALE)
            vote = await self.relay.toggle_vote(key, _actor(query.from_user), ordinal, round_id)
            await query.answer(render.vote_answer(vote))
            await self._after_vote(chat.id, key, vote)

    async def on_reaction(self, update: Update, context: Context) -> None:
        """A 👍 put on (a vote) or taken off (the vote goes, if still there) a candidate."""
        reaction = update.message_reaction
        if reaction is None or reaction.user is None:  # anonymous reactions name no member
            return
        added = _thumbs_up(reaction.new_reaction) and not _thumbs_up(reaction.old_reaction)
        removed = _thumbs_up(reaction.old_reaction) and not _thumbs_up(reaction.new_reaction)
        if not (added or removed):
            return
        key = _key(reaction.chat)
        async with self._refusals(update):
            view, posted = await self._open_round(key)
            ordinal = posted.ordinal_of(reaction.message_id) if posted else None
            if view is None or ordinal is None:  # not a candidate of the open round
                return
            actor = _actor(reaction.user)
            vote: VoteResult | None
            if added:
                vote = await self.relay.vote(key, actor, ordinal, view.id)
            else:
                vote = await self.relay.withdraw_vote(key, actor, ordinal, view.id)
            if vote is not None:
                await self._after_vote(reaction.chat.id, key, vote)

    async def on_error(self, update: object, context: Context) -> None:
        """Log first; then the update is dropped and the bot goes on with the next one."""
        log.error("telegram update %r failed", update, exc_info=context.error)
        if isinstance(update, Update) and update.callback_query is not None:
            with contextlib.suppress(TelegramError):  # it may be answered already
                await update.callback_query.answer("Something went wrong; please try again.")

    # -- the one place a refusal becomes a reply ------------------------------------------------

    @contextlib.asynccontextmanager
    async def _refusals(self, update: Update) -> AsyncIterator[None]:
        try:
            yield
        except RelayError as exc:
            if update.callback_query is not None:
                await update.callback_query.answer(str(exc)[:200])
            elif update.effective_message is not None and update.message_reaction is None:
                await self._reply(update.effective_message, "⚠️ " + render.esc(str(exc)))
            else:  # a reaction cannot be answered; a message for each would be noise
                log.info("reaction ignored: %s", exc)

    # -- delivering results ---------------------------------------------------------------------

    async def _deliver(self, message: Message, key: ChatKey, outcome: Result) -> None:
        if isinstance(outcome, ExportFile):
            await message.reply_document(
                outcome.content.encode("utf-8"),
                filename=outcome.filename,
                caption=f"📄 {outcome.filename}",
                do_quote=True,
                allow_sending_without_reply=True,
            )
        elif isinstance(outcome, ContinueResult):
            await self._post_round(message, outcome)
        elif isinstance(outcome, RoundResult):
            await self._show_result(message.chat_id, outcome)
        elif isinstance(outcome, VoteResult):
            await self._reply(message, render.render(outcome))
            await self._after_vote(message.chat_id, key, outcome)
        else:
            await self._reply(message, render.render(outcome))

    async def _reply(self, message: Message, text: str) -> None:
        for piece in render.split(text):
            await message.reply_text(
                piece,
                parse_mode=render.PARSE_MODE,
                do_quote=True,
                allow_sending_without_reply=True,
            )

    async def _send(self, chat_id: int, text: str) -> None:
        for piece in render.split(text):
            await self.app.bot.send_message(chat_id, piece, parse_mode=render.PARSE_MODE)

    async def _post_round(self, message: Message, outcome: ContinueResult) -> None:
        """Each new candidate as its own message, then the round message with the keyboard.
        When candidates joined an open round, the round is posted again below them and the old
        round message loses its keyboard."""
        view = outcome.view
        async with self._lock(message.chat_id):
            before = RoundMessages.parse(view.round.message_ref)
            ids = list(before.candidates) if before else []
            for item in view.candidates[len(ids) :]:
                sent = await message.reply_text(
                    render.candidate(item), parse_mode=render.PARSE_MODE, do_quote=False
                )
                ids.append(sent.message_id)
            sent = await message.reply_text(
                render.round_header(view),
                parse_mode=render.PARSE_MODE,
                reply_markup=render.keyboard(view),
                do_quote=False,
            )
            posted = RoundMessages(message.chat_id, sent.message_id, tuple(ids))
            await self.relay.set_round_message(view.id, posted.ref)
            if before is not None:
                await self._edit(before, render.round_moved(view))

    async def _after_vote(self, chat_id: int, key: ChatKey, vote: VoteResult) -> None:
        if vote.closed is not None:  # this vote reached the quorum
            await self._show_result(chat_id, vote.closed)
            return
        if chat_id in self._refresh_waiting:  # the refresh already waiting will show it too
            return
        self._refresh_waiting.add(chat_id)
        try:
            async with self._lock(chat_id):
                self._refresh_waiting.discard(chat_id)
                # Read the round again under the lock: the last edit shows the latest counts.
                view, posted = await self._open_round(key)
                if view is None or posted is None or view.id != vote.view.id:
                    return
                try:
                    await self.app.bot.edit_message_reply_markup(
                        posted.chat_id, posted.message_id, reply_markup=render.keyboard(view)
                    )
                except BadRequest as exc:
                    if _NOT_MODIFIED not in str(exc).lower():  # an edit showed these counts
                        raise
        finally:
            self._refresh_waiting.discard(chat_id)

    async def _show_result(self, chat_id: int, outcome: RoundResult) -> None:
        """The round message becomes the result (its keyboard goes); the winner is posted as
        the story's new line."""
        async with self._lock(chat_id):
            posted = RoundMessages.parse(outcome.view.round.message_ref)
            text = render.result(outcome)
            if posted is None or not await self._edit(posted, text):
                await self._send(chat_id, text)
            if outcome.winner is not None:
                await self._send(chat_id, render.winner_line(outcome))

    async def _edit(self, posted: RoundMessages, text: str) -> bool:
        """Replace the round message's text; without reply_markup its keyboard is removed."""
        try:
            await self.app.bot.edit_message_text(
                render.split(text)[0],
                posted.chat_id,
                posted.message_id,
                parse_mode=render.PARSE_MODE,
            )
        except BadRequest as exc:  # deleted, or too old to edit: the caller posts it anew
            log.warning("could not edit round message %s: %s", posted.ref, exc)
            return False
        return True

    # -- lookups --------------------------------------------------------------------------------

    async def _open_round(self, key: ChatKey) -> tuple[RoundView | None, RoundMessages | None]:
        try:
            view = await self.relay.current_round(key)
        except RelayError:  # no story or no open round: nothing to vote in
            return None, None
        return view, RoundMessages.parse(view.round.message_ref)

    async def _attachment(
        self, key: ChatKey, actor: Actor, message: Message, text: str
    ) -> Attachment | None:
        """The .txt file of `/novel add` (sent with it, or replied to), checked before it is
        downloaded."""
        name, args = split_command(text)
        if name != "novel" or args.split()[:1] != ["add"]:
            return None
        document = message.document or (
            message.reply_to_message.document if message.reply_to_message else None
        )
        if document is None:
            raise RelayError(
                "Send the .txt file with /novel add as its caption, "
                "or reply to the file with /novel add."
            )
        filename = document.file_name or "upload"
        await self.relay.check_novel_upload(key, actor, filename, document.file_size or 0)
        try:
            file = await document.get_file()
            data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("download of %s failed: %s", filename, exc)
            raise RelayError(f"Telegram would not hand over that file ({exc.message}).") from exc
        return Attachment(filename=filename, data=data)

    async def _is_moderator(self, chat: TgChat, user: User, message: Message) -> bool:
        if chat.type == ChatType.PRIVATE:  # a private chat's story is its member's own
            return True
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous administrator speaks as the group itself
        return user.id in await self._administrators(chat.id)

    async def _administrators(self, chat_id: int) -> frozenset[int]:
        now = time.monotonic()
        cached = self._admins.get(chat_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            members = await self.app.bot.get_chat_administrators(chat_id)
        except TelegramError:  # e.g. the bot was removed; nobody is an administrator to us
            log.warning("could not read the administrators of chat %s", chat_id, exc_info=True)
            return frozenset()
        ids = frozenset(member.user.id for member in members)
        self._admins[chat_id] = (now + self.admin_ttl, ids)
        return ids

    def _lock(self, chat_id: int) -> asyncio.Lock:
        """One chat's round messages are posted and edited one at a time."""
        return self._locks.setdefault(chat_id, asyncio.Lock())


class _TolerantUpdatesRequest(HTTPXRequest):
    """The getUpdates connection. PTB parses a batch of updates all or nothing and, when one
    update fails, fetches the same batch again and again; here an update it cannot read is
    logged and replaced by a bare one (its update_id only), which no handler takes but which
    moves the offset past it."""

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


def _readable(item: object) -> object | None:
    try:
        Update.de_json(item, None)  # type: ignore[arg-type]
        return item
    except Exception:  # anything the library cannot parse is skipped, never fatal
        log.warning(
            "skipping an update the Telegram library cannot read: %.300r", item, exc_info=True
        )
    update_id = item.get("update_id") if isinstance(item, dict) else None
    return {"update_id": update_id} if isinstance(update_id, int) else None


def _key(chat: TgChat) -> ChatKey:
    return ChatKey(PLATFORM, str(chat.id), chat.effective_name or str(chat.id))


def _actor(user: User) -> Actor:
    return Actor(str(user.id), user.full_name)


def _thumbs_up(reactions: Sequence[ReactionType]) -> bool:
    return any(isinstance(r, ReactionTypeEmoji) and r.emoji == THUMBS_UP for r in reactions)
