"""Telegram: the relay in groups and private chats, through python-telegram-bot's Application.

The lifecycle is driven here (no run_polling) so Telegram shares the loop with Discord and the
scheduler. Commands reach the CommandRouter as text; `/novel add` also works as the caption of a
.txt document or as a reply to one. A vote is a tap on a keycap button of the round message (a
second tap on the same button takes the vote back, a tap on another moves it) or, in the
message-per-candidate layout, a 👍 on a candidate's message (Telegram only reports reactions to
bots that are administrators). How rounds look and stay live: round_board.py.

Moderators: members.py (and the ids in config.toml, checked by the core).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from telegram import Chat as TgChat
from telegram import Message, ReactionType, ReactionTypeEmoji, Update, User
from telegram.constants import ChatAction
from telegram.error import TelegramError
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

from bot.config import TelegramConfig
from bot.core.errors import RelayError
from bot.core.records import Chat
from bot.core.registry import COMMANDS
from bot.core.router import CommandRouter, Result
from bot.core.text_commands import split_command
from bot.core.views import (
    Actor,
    ChatKey,
    ContinueResult,
    ExportFile,
    ModelView,
    RoundResult,
    RoundView,
    TrainingNews,
    VoteResult,
)
from bot.i18n import N_, SOURCE, Translator, languages, supported, translator
from bot.platforms.telegram import render, render_round
from bot.platforms.telegram._compat import Redacted, TolerantUpdatesRequest
from bot.platforms.telegram.members import Moderators
from bot.platforms.telegram.round_board import RoundBoard
from bot.platforms.telegram.sending import AiohttpRequest
from bot.platforms.telegram.uploads import novel_upload
from bot.platforms.telegram.webhook import webhook_for

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# message_reaction is delivered only when asked for here, and only to administrator bots.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MESSAGE_REACTION]
# Every command word of the table, aliases too (/start is what Telegram sends first).
COMMAND_WORDS = sorted({word for c in COMMANDS for word in (c.name, *c.aliases)})
THUMBS_UP = "👍"
_NOVEL_ADD = re.compile(r"^/novel(@\w+)?\s+add\b", re.IGNORECASE)
_STALE = N_("This round is over; vote under the current round message.")

Context = ContextTypes.DEFAULT_TYPE


class TelegramPlatform:
    """The Telegram adapter: parse an update, make one core call, render the answer."""

    def __init__(
        self,
        router: CommandRouter,
        token: str,
        config: TelegramConfig,
        *,
        rate_limiter: BaseRateLimiter[Any] | None = None,
        admin_ttl: float = 60.0,
        poll_timeout: float = 10.0,
        webhook_secret: str | None = None,
    ) -> None:
        self.router = router
        self.poll_timeout = poll_timeout
        # None: polling; in webhook mode Telegram POSTs the updates (webhook.py)
        self.webhook = webhook_for(router, PLATFORM, config, webhook_secret, ALLOWED_UPDATES)
        self._redacted = Redacted(token, webhook_secret).install()  # before the library logs
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(token)
            .request(AiohttpRequest())  # sends; getUpdates keeps PTB's own
            .base_url(config.base_url)
            .base_file_url(config.base_file_url)
            # Sends paced to Telegram's flood limits (unless told there are none); flood
            # errors (RetryAfter) are waited out and the request sent again.
            .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3, **config.pacing))
            .get_updates_request(TolerantUpdatesRequest())
            .concurrent_updates(True)  # a /continue that waits for the writer blocks no one
            .job_queue(None)
            .build()
        )
        self.board = RoundBoard(self.app.bot, router, config.round_layout)
        self.moderators = Moderators(self.app.bot, admin_ttl)
        command = filters.UpdateType.MESSAGE
        self.app.add_handler(CommandHandler(COMMAND_WORDS, self.on_command, filters=command))
        self.app.add_handler(
            MessageHandler(
                command & filters.Document.ALL & filters.CaptionRegex(_NOVEL_ADD), self.on_command
            )
        )
        # Unknown commands get an answer where nobody else can mean them.
        private = command & filters.COMMAND & filters.ChatType.PRIVATE
        self.app.add_handler(MessageHandler(private, self.on_command))
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
        try:  # the menu in each language; clients in others show the default (English)
            await self.app.bot.set_my_commands(render.bot_commands(translator(SOURCE)))
            for code in languages()[1:]:
                menu = render.bot_commands(translator(code))
                await self.app.bot.set_my_commands(menu, language_code=code)
        except TelegramError:  # only the client's command menu is missing; commands still work
            log.warning("could not register the command menu", exc_info=True)
        await self.app.start()
        if self.webhook is not None:
            await self.webhook.start(self.app)
            return
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            allowed_updates=ALLOWED_UPDATES, timeout=int(self.poll_timeout)
        )
        log.info("telegram: polling as @%s", self.app.bot.username)

    async def stop(self) -> None:
        if self.webhook is not None:
            await self.webhook.stop()
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        self._redacted.remove()

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Announcer port: a round ended (deadline, moderator, quorum or cancel)."""
        t = await self._speaking(ChatKey(chat.platform, chat.external_id))
        await self.board.show_end(int(chat.external_id), result, t)

    def posts_rounds(self, chat: Chat) -> bool:
        """PostsRounds: a round is a message posted after the store opens it."""
        return True

    async def show_round(self, chat: Chat, view: RoundView) -> None:
        """PostsRounds: a round whose opener's process died before posting it."""
        t = await self._speaking(ChatKey(chat.platform, chat.external_id))
        await self.board.post(int(chat.external_id), ContinueResult.unshown(view), t)

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None:
        """Announcer port: a fine-tune of the chat's writer ended."""
        t = await self._speaking(ChatKey(chat.platform, chat.external_id))
        for piece in render.split(render.training(t, news)):
            await self.app.bot.send_message(
                int(chat.external_id), piece, parse_mode=render.PARSE_MODE
            )

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
        async with self._refusals(update, key):
            actor = Actor(
                str(user.id),
                user.full_name,
                is_moderator=await self.moderators.includes(chat, user, message),
                language=user.language_code or "",
            )
            upload = novel_upload(message, text)
            if split_command(text)[0] == "continue":
                with contextlib.suppress(TelegramError):  # only a hint that the writer is busy
                    await chat.send_action(ChatAction.TYPING)
            outcome = await self.router.handle(key, actor, text, upload)
            await self._deliver(message, outcome, await self._speaking(key))

    async def on_tap(self, update: Update, context: Context) -> None:
        """A vote button: checked against the chat's open round and its message."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        key = _key(query.message.chat)
        async with self._refusals(update, key):
            parsed = render_round.parse_callback(query.data)
            if parsed is None:
                raise RelayError("That button does nothing any more.")
            round_id, ordinal = parsed
            chat = query.message.chat
            shown = (chat.id, query.message.message_id)
            if not await self.board.shows(key, round_id, shown):
                await self.board.settled(chat.id)  # a tap as the round message appears
                if not await self.board.shows(key, round_id, shown):
                    raise RelayError(_STALE)
            actor = _actor(query.from_user)
            vote = await self.router.tap(key, actor, round_id, ordinal)
            await query.answer(render_round.vote_answer(await self._speaking(key, actor), vote))
            await self._after_vote(chat.id, vote)

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
        async with self._refusals(update, key):
            open_round, ordinal = await self.board.candidate_at(key, reaction.message_id)
            if ordinal is None:
                await self.board.settled(reaction.chat.id)  # a 👍 as the candidate appears
                open_round, ordinal = await self.board.candidate_at(key, reaction.message_id)
            if open_round is None or ordinal is None:  # not a candidate of the open round
                return
            actor = _actor(reaction.user)
            vote = await self.router.react(key, actor, open_round.id, ordinal, added=added)
            if vote is not None:
                await self._after_vote(reaction.chat.id, vote)

    async def on_error(self, update: object, context: Context) -> None:
        """Log first; then the update is dropped and the bot goes on with the next one."""
        log.error("telegram update %r failed", update, exc_info=context.error)
        if isinstance(update, Update) and update.callback_query is not None:
            query = update.callback_query
            t = translator(supported(query.from_user.language_code) or SOURCE)
            with contextlib.suppress(TelegramError):  # it may be answered already
                await query.answer(t.gettext("Something went wrong; please try again."))

    # -- the one place a refusal becomes a reply ------------------------------------------------

    @contextlib.asynccontextmanager
    async def _refusals(self, update: Update, key: ChatKey) -> AsyncIterator[None]:
        """A refusal to a tap answers the member in their language; to a command, the chat
        in its own."""
        try:
            yield
        except RelayError as exc:
            if update.callback_query is not None:
                t = await self._speaking(key, _actor(update.callback_query.from_user))
                await update.callback_query.answer(t.gettext(exc.message, **exc.params)[:200])
            elif update.effective_message is not None and update.message_reaction is None:
                t = await self._speaking(key)
                text = render.refusal(t, exc.message, exc.params)
                await self._reply(update.effective_message, text)
            else:  # a reaction cannot be answered; a message for each would be noise
                log.info("reaction ignored: %s", exc)

    async def _speaking(self, key: ChatKey, member: Actor | None = None) -> Translator:
        """The chat's language, or a member's own for an answer only they see."""
        return translator(await self.router.language(key, member))

    # -- delivering results ---------------------------------------------------------------------

    async def _deliver(self, message: Message, outcome: Result, t: Translator) -> None:
        if isinstance(outcome, ExportFile):
            await message.reply_document(
                outcome.content.encode("utf-8"),
                filename=outcome.filename,
                caption=f"📄 {outcome.filename}",
                do_quote=True,
                allow_sending_without_reply=True,
            )
        elif isinstance(outcome, ContinueResult):
            await self.board.post(message.chat_id, outcome, t, asked=message)
        elif isinstance(outcome, RoundResult):
            pass  # its end was announced to the chat (round_closed): that is the answer
        elif isinstance(outcome, VoteResult):
            await self._reply(message, render.render(t, outcome))
            await self._after_vote(message.chat_id, outcome)
        elif isinstance(outcome, ModelView) and _readable(outcome.picture):
            await self._reply(message, render.render(t, outcome))
            with open(str(outcome.picture), "rb") as picture:
                caption = t.gettext("📈 training and held-out loss")
                await message.reply_photo(picture, caption=caption)
        else:
            await self._reply(message, render.render(t, outcome))

    async def _after_vote(self, chat_id: int, vote: VoteResult) -> None:
        if vote.closed is None:  # a close (the quorum) was announced with its final counts
            await self.board.refresh(chat_id, vote.view)

    async def _reply(self, message: Message, text: str) -> None:
        for piece in render.split(text):
            await message.reply_text(
                piece,
                parse_mode=render.PARSE_MODE,
                do_quote=True,
                allow_sending_without_reply=True,
            )


def _key(chat: TgChat) -> ChatKey:
    return ChatKey(PLATFORM, str(chat.id), chat.effective_name or str(chat.id))


def _actor(user: User) -> Actor:
    return Actor(str(user.id), user.full_name, language=user.language_code or "")


def _readable(path: str | None) -> bool:
    return path is not None and Path(path).is_file()


def _thumbs_up(reactions: Sequence[ReactionType]) -> bool:
    return any(isinstance(r, ReactionTypeEmoji) and r.emoji == THUMBS_UP for r in reactions)
