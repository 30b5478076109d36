"""A chat's administration: its settings and the novels its writer learns from."""

from __future__ import annotations

from dataclasses import replace

from bot.core._shared import Shared
from bot.core.errors import RelayError
from bot.core.ports import StoreConflict
from bot.core.records import ChatSettings
from bot.core.texts import N_, check_novel, check_novel_file
from bot.core.views import Actor, ChatKey, NovelList, SettingsView

NO_NOVELS = N_("Only moderators can add novels.")


class ChatAdmin:
    def __init__(self, shared: Shared) -> None:
        self.s = shared

    # -- settings -----------------------------------------------------------------------------

    async def settings(
        self, key: ChatKey, actor: Actor, name: str = "", value: str = ""
    ) -> SettingsView:
        """Show the chat's settings, or change one (moderators)."""
        s = self.s
        chat = await s.ensure_chat(key)
        if not name:
            return await s.effective_settings(chat)
        s.require_moderator(key, actor, "Only moderators can change settings.")
        own = await s.store.chat_settings(chat.id)
        own = _apply_setting(own, name, value, s.rules.max_candidates, s.languages)
        await s.store.update_chat_settings(chat.id, own)
        s.forget_language(key)
        return await s.effective_settings(chat)

    # -- novels -------------------------------------------------------------------------------

    async def check_novel_upload(
        self, key: ChatKey, actor: Actor, filename: str, size: int
    ) -> None:
        """The checks a platform can make before downloading an upload: who, name, size."""
        self.s.require_moderator(key, actor, NO_NOVELS)
        check_novel_file(filename, size, self.s.novels.max_bytes)

    async def add_novel(self, key: ChatKey, actor: Actor, filename: str, data: bytes) -> NovelList:
        s = self.s
        s.require_moderator(key, actor, NO_NOVELS)
        checked = check_novel(filename, data, s.novels.max_bytes, s.novels.min_chars)
        chat = await s.ensure_chat(key)
        try:
            added = await s.store.add_novel(
                chat.id,
                checked.title,
                checked.sha256,
                checked.text,
                actor.member_id,
                s.clock.now(),
                actor.name,
                checked.encoding,
            )
        except StoreConflict as exc:
            raise RelayError("That novel is already in the training list.") from exc
        return NovelList(await s.store.novels(chat.id), added=added)

    async def list_novels(self, key: ChatKey) -> NovelList:
        place = await self.s.place(key)
        return NovelList([] if place is None else await self.s.store.novels(place.chat.id))

    async def remove_novel(self, key: ChatKey, actor: Actor, novel_id: int) -> NovelList:
        s = self.s
        s.require_moderator(key, actor, "Only moderators can remove novels.")
        place = await s.place(key)
        if place is None or await s.store.remove_novel(place.chat.id, novel_id) is None:
            raise RelayError("There is no novel #{id} in this chat's list.", id=novel_id)
        return NovelList(await s.store.novels(place.chat.id))


def _apply_setting(
    own: ChatSettings, name: str, value: str, max_candidates: int, languages: tuple[str, ...]
) -> ChatSettings:
    name = name.lower().replace("-", "_")
    try:
        if name == "temperature":
            temperature = float(value)
            if not 0.0 <= temperature <= 2.0:
                raise ValueError
            return replace(own, temperature=temperature)
        if name == "candidates":
            count = int(value)
            if not 1 <= count <= max_candidates:
                raise ValueError
            return replace(own, candidates=count)
        if name in ("vote_time", "vote_seconds"):
            seconds = int(value)
            if not 10 <= seconds <= 7 * 86400:
                raise ValueError
            return replace(own, vote_seconds=seconds)
        if name == "language":
            if value.lower() not in languages:
                raise ValueError
            return replace(own, language=value.lower())
    except ValueError:
        limits = {
            "temperature": RelayError("temperature must be 0 to 2."),
            "candidates": RelayError("candidates must be 1 to {most}.", most=max_candidates),
            "language": RelayError("language must be one of: {all}.", all=", ".join(languages)),
        }
        raise limits.get(name, RelayError("vote_time must be 10 to 604800 seconds.")) from None
    raise RelayError(
        "Settings: temperature, candidates, vote_time, language. "
        "Example: /settings temperature 0.7"
    )
