"""The messages that show a round on Telegram: posted, kept live as votes come, ended.

Layout "one_message" (the default): the round is one message with its candidates and a keyboard
of keycaps carrying the live counts; more candidates edit it; its end edits it once more.
Layout "message_per_candidate": each candidate is also its own message (a 👍 on it votes), the
round message with the keyboard below them, posted again when candidates join.

The round's message_ref names them all: "tg:<chat id>:<round message id>:<candidate 1's message
id>,<candidate 2's>,…" (no candidate ids in the one-message layout), so taps and reactions are
checked against the chat's open round and survive a restart.

Telegram lets a bot send about 20 messages a minute to one group: edits of one chat go one at a
time, a burst of votes is shown by one edit, and a view never replaces a newer one (rounds carry
a revision that every change bumps).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest

from bot.core.records import Round
from bot.core.router import CommandRouter
from bot.core.views import ChatKey, ContinueResult, RoundResult, RoundView
from bot.i18n import Translator
from bot.platforms.telegram import render_round as render
from bot.platforms.telegram._html import PARSE_MODE, split

log = logging.getLogger(__name__)

Layout = Literal["one_message", "message_per_candidate"]
_NOT_MODIFIED = "message is not modified"


@dataclass(frozen=True)
class RoundMessages:
    """Where a round is shown: its chat, the round message, each candidate's message."""

    chat_id: int
    message_id: int
    candidates: tuple[int, ...]  # message ids, candidate 1 first; () in the one-message layout

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


class RoundBoard:
    """Posts, refreshes and ends the messages of rounds, one chat at a time."""

    def __init__(self, bot: Bot, router: CommandRouter, layout: Layout) -> None:
        self.bot = bot
        self.router = router
        self.layout = layout
        self._locks: dict[int, asyncio.Lock] = {}
        self._latest: dict[int, RoundView] = {}  # the newest view of each live round
        self._shown: dict[int, int] = {}  # the revision each live round's message shows
        self._waiting: set[int] = set()  # rounds with a refresh waiting for the chat's lock

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    async def settled(self, chat_id: int) -> None:
        """Wait until the chat's round messages are posted (their refs stored)."""
        async with self._lock(chat_id):
            pass

    # -- a round is posted ----------------------------------------------------------------------

    async def post(
        self, chat_id: int, outcome: ContinueResult, t: Translator, asked: Message | None = None
    ) -> None:
        """The answer to /continue (the message that `asked`): the round posted, or its new
        candidates shown; without `asked`, a round its opener's process never posted."""
        async with self._lock(chat_id):
            before = RoundMessages.parse(outcome.view.round.message_ref)
            if self.layout == "one_message":
                await self._post_one(chat_id, outcome, before, t, asked)
            else:
                await self._post_per_candidate(chat_id, outcome, before, t)
            self._shown[outcome.view.id] = outcome.view.revision

    async def _post_one(
        self,
        chat_id: int,
        outcome: ContinueResult,
        before: RoundMessages | None,
        t: Translator,
        asked: Message | None,
    ) -> None:
        view = outcome.view
        text, keyboard = render.round_message(t, view), render.keyboard(view)
        if before is not None and await self._edit(before, text, keyboard):
            if asked is not None:
                await asked.reply_text(
                    render.round_added(t, outcome), parse_mode=PARSE_MODE, do_quote=True
                )
            return
        sent = await self.bot.send_message(
            chat_id, text + render.fewer(t, outcome), parse_mode=PARSE_MODE, reply_markup=keyboard
        )
        posted = RoundMessages(sent.chat_id, sent.message_id, ())
        await self.router.set_round_message(view.id, posted.ref)

    async def _post_per_candidate(
        self,
        chat_id: int,
        outcome: ContinueResult,
        before: RoundMessages | None,
        t: Translator,
    ) -> None:
        """Each new candidate as its own message, then the round message with the keyboard;
        the old round message (if any) loses its keyboard."""
        view = outcome.view
        ids = list(before.candidates) if before else []
        for item in view.candidates[len(ids) :]:
            sent = await self.bot.send_message(
                chat_id, render.candidate(t, item), parse_mode=PARSE_MODE
            )
            ids.append(sent.message_id)
        sent = await self.bot.send_message(
            chat_id,
            render.round_header(t, view) + render.fewer(t, outcome),
            parse_mode=PARSE_MODE,
            reply_markup=render.keyboard(view),
        )
        posted = RoundMessages(chat_id, sent.message_id, tuple(ids))
        await self.router.set_round_message(view.id, posted.ref)
        if before is not None:
            await self._edit(before, render.round_moved(t, view))

    # -- which round a message shows ------------------------------------------------------------

    async def candidate_at(self, key: ChatKey, message_id: int) -> tuple[Round | None, int | None]:
        """The chat's open round, and the candidate whose own message this is (or None)."""
        open_round = await self.router.open_round(key)
        posted = RoundMessages.parse(open_round.message_ref) if open_round else None
        return open_round, posted.ordinal_of(message_id) if posted else None

    async def shows(self, key: ChatKey, round_id: int, message: tuple[int, int]) -> bool:
        """Whether this message shows the chat's open round, `round_id`; one no process recorded
        (its poster died first, or is about to record it) is taken as it: its buttons say so."""
        open_round = await self.router.open_round(key)
        if open_round is None or open_round.id != round_id:
            return False
        if not open_round.message_ref:
            ref = RoundMessages(*message, ()).ref
            return await self.router.adopt_round_message(round_id, ref)
        posted = RoundMessages.parse(open_round.message_ref)
        return posted is not None and (posted.chat_id, posted.message_id) == message

    # -- live counts ------------------------------------------------------------------------------

    async def refresh(self, chat_id: int, view: RoundView) -> None:
        """Show a round's new counts; votes that arrive while an edit waits are shown by it.
        After each edit, a round that another process changed meanwhile is shown again: that
        process's edit may have landed before this one's older counts."""
        self._offer(view)
        if view.id in self._waiting:
            return
        self._waiting.add(view.id)
        try:
            async with self._lock(chat_id):
                self._waiting.discard(view.id)
                while await self._show_latest(view.id):
                    newer = await self.router.newer_view(view.id, self._shown[view.id])
                    if newer is None or view.id not in self._latest:  # right, or ended here
                        return
                    if newer.round.status != "voting":  # ended by another process
                        await self._drop_keyboard(newer)
                        return
                    self._offer(newer)
        finally:
            self._waiting.discard(view.id)

    async def _drop_keyboard(self, ended: RoundView) -> None:
        """A round another process ended: its end edit may have landed before this process's
        keyboard did, so the keyboard goes again (the text is that process's end)."""
        self._forget(ended.id)
        posted = RoundMessages.parse(ended.round.message_ref)
        if posted is not None:
            await self._set_keyboard(posted, None)

    def _forget(self, round_id: int) -> None:
        """The round ended: no live counts of it to show any more."""
        self._latest.pop(round_id, None)
        self._shown.pop(round_id, None)

    async def _set_keyboard(
        self, posted: RoundMessages, keyboard: InlineKeyboardMarkup | None
    ) -> None:
        """Replace the round message's keyboard (None: remove it); one already showing it is
        left as it is."""
        try:
            await self.bot.edit_message_reply_markup(
                posted.chat_id, posted.message_id, reply_markup=keyboard
            )
        except BadRequest as exc:
            if _NOT_MODIFIED not in str(exc).lower():
                raise

    def _offer(self, view: RoundView) -> None:
        """Keep the view as the round's newest known, unless a newer one is kept already."""
        known = self._latest.get(view.id)
        if known is None or known.revision < view.revision:
            self._latest[view.id] = view

    async def _show_latest(self, round_id: int) -> bool:
        """Edit the round message's keyboard to the newest view known, unless it shows it or a
        newer one already (or the round ended); whether it edited."""
        latest = self._latest.get(round_id)
        posted = RoundMessages.parse(latest.round.message_ref) if latest else None
        if latest is None or posted is None:  # it ended meanwhile, or was never posted
            return False
        if latest.revision <= self._shown.get(round_id, -1):
            return False
        await self._set_keyboard(posted, render.keyboard(latest))
        self._shown[round_id] = latest.revision
        return True

    # -- a round ends -----------------------------------------------------------------------------

    async def show_end(self, chat_id: int, outcome: RoundResult, t: Translator) -> None:
        """The round message becomes the result (its keyboard goes), and a new message tells
        the chat: the winner as the story's new line, or how the round ended."""
        view = outcome.view
        self._forget(view.id)
        async with self._lock(chat_id):
            posted = RoundMessages.parse(view.round.message_ref)
            if self.layout == "one_message":
                text = render.round_message(t, view, outcome)
            else:
                text = render.result(t, outcome)
            if posted is None or not await self._edit(posted, text):
                await self._send(chat_id, text)
            elif outcome.winner is None:
                await self._send(chat_id, render.result(t, outcome))
            if outcome.winner is not None:
                await self._send(chat_id, render.winner_line(t, outcome))

    async def _send(self, chat_id: int, text: str) -> None:
        for piece in split(text):
            await self.bot.send_message(chat_id, piece, parse_mode=PARSE_MODE)

    async def _edit(
        self, posted: RoundMessages, text: str, keyboard: InlineKeyboardMarkup | None = None
    ) -> bool:
        """Replace the round message's text (and keyboard; without one it is removed)."""
        try:
            await self.bot.edit_message_text(
                split(text)[0],
                posted.chat_id,
                posted.message_id,
                parse_mode=PARSE_MODE,
                reply_markup=keyboard,
            )
        except BadRequest as exc:  # deleted, or too old to edit: the caller posts it anew
            log.warning("could not edit round message %s: %s", posted.ref, exc)
            return False
        return True
