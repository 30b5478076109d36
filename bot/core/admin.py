"""A chat's administration: its settings and the novels its writer learns from."""

from __future__ import annotations

from dataclasses import replace

from bot.core.context import Context
from bot.core.errors import RelayError
from bot.core.input_checks import check_novel, check_novel_file
from bot.core.ports import StoreConflict
from bot.core.records import ChatSettings
from bot.core.views import Actor, ChatKey, NovelList, SettingsView


class ChatAdmin:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- settings -----------------------------------------------------------------------------

    async def settings(self, key: ChatKey) -> SettingsView:
        """The chat's settings: its own choices over config.toml's defaults."""
        return await self.ctx.effective_settings(await self.ctx.ensure_chat(key))

    async def change_setting(self, key: ChatKey, name: str, value: str) -> SettingsView:
        """Change one setting of the chat (the router lets only moderators here)."""
        ctx = self.ctx
        chat = await ctx.ensure_chat(key)
        own = await ctx.store.chat_settings(chat.id)
        own = _apply_setting(own, name, value, ctx.rules.max_candidates, ctx.languages)
        await ctx.store.update_chat_settings(chat.id, own)
        ctx.language_changed(chat.id)
        return await ctx.effective_settings(chat)

    # -- novels -------------------------------------------------------------------------------

    def check_novel_upload(self, filename: str, size: int) -> None:
        """The checks that can be made before an upload is downloaded: its name and size."""
        check_novel_file(filename, size, self.ctx.novels.max_bytes)

    async def add_novel(self, key: ChatKey, actor: Actor, filename: str, data: bytes) -> NovelList:
        ctx = self.ctx
        checked = check_novel(filename, data, ctx.novels.max_bytes, ctx.novels.min_chars)
        chat = await ctx.ensure_chat(key)
        try:
            added = await ctx.store.add_novel(
                chat.id,
                checked.title,
                checked.sha256,
                checked.text,
                actor.member_id,
                ctx.clock.now(),
                actor.name,
                checked.encoding,
            )
        except StoreConflict as exc:
            raise RelayError("That novel is already in the training list.") from exc
        return NovelList(await ctx.store.novels(chat.id), added=added)

    async def list_novels(self, key: ChatKey) -> NovelList:
        place = await self.ctx.place(key)
        return NovelList([] if place is None else await self.ctx.store.novels(place.chat.id))

    async def remove_novel(self, key: ChatKey, actor: Actor, novel_id: int) -> NovelList:
        ctx = self.ctx
        place = await ctx.place(key)
        if place is None or await ctx.store.remove_novel(place.chat.id, novel_id) is None:
            raise RelayError("There is no novel #{id} in this chat's list.", id=novel_id)
        return NovelList(await ctx.store.novels(place.chat.id))


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
        "Example: /settings set temperature 0.7"
    )
