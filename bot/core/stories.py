"""Stories and their lines: one open story per chat, lines credited to their authors, undo that
keeps history, and the whole story as a file."""

from __future__ import annotations

from dataclasses import replace

from bot.core.closing import Closing
from bot.core.context import Context
from bot.core.errors import RelayError
from bot.core.input_checks import clean_line, clean_title
from bot.core.ports import StoreConflict
from bot.core.records import Chat, Line, Story
from bot.core.views import Actor, ChatKey, ExportFile, StoryRenamed, StoryView


class Stories:
    def __init__(self, ctx: Context, closing: Closing) -> None:
        self.ctx = ctx
        self.closing = closing

    async def new_story(self, key: ChatKey, actor: Actor, title: str) -> StoryView:
        """Start the chat's story (one at a time)."""
        ctx = self.ctx
        chat = await ctx.ensure_chat(key)
        try:
            story = await ctx.store.create_story(
                chat.id, clean_title(title), actor.member_id, ctx.clock.now()
            )
        except StoreConflict as exc:
            current = await ctx.store.open_story(chat.id)
            raise RelayError(
                "This chat already has a story in progress (“{title}”). "
                "A moderator can end it with /story end.",
                title=current.title if current else "?",
            ) from exc
        await self._adopt_language(key, actor, chat)
        return StoryView(story=story, lines=[], total_lines=0)

    async def _adopt_language(self, key: ChatKey, actor: Actor, chat: Chat) -> None:
        """A chat without a chosen language, on a platform that has no idea of a chat's
        language (Telegram; Discord servers have a preferred locale), speaks that of the member
        who starts its story."""
        ctx = self.ctx
        spoken = ctx.spoken(actor.language)
        if not spoken or ctx.spoken(key.language):
            return
        own = await ctx.store.chat_settings(chat.id)
        if own.language is None:
            await ctx.store.update_chat_settings(chat.id, replace(own, language=spoken))
            ctx.language_changed(chat.id)

    async def show_story(self, key: ChatKey, last: int | None = None) -> StoryView:
        _place, story = await self.ctx.open_story(key)
        return await self._view(story, last or self.ctx.rules.show_lines)

    async def _view(self, story: Story, last: int) -> StoryView:
        lines = await self.ctx.store.lines(story.id)
        return StoryView(story=story, lines=lines[-last:], total_lines=len(lines))

    async def list_stories(self, key: ChatKey) -> list[Story]:
        place = await self.ctx.place(key)
        return [] if place is None else await self.ctx.store.list_stories(place.chat.id)

    async def export_story(self, key: ChatKey, fmt: str = "txt") -> ExportFile:
        """The open story, else the chat's last one, as a .txt or .md file."""
        if fmt not in ("txt", "md"):
            raise RelayError("Export as txt or md: /story export txt")
        place = await self.ctx.place(key)
        story = place.story if place else None
        if story is None:
            stories = await self.ctx.store.list_stories(place.chat.id) if place else []
            if not stories:
                raise RelayError("There is no story here to export.")
            story = stories[-1]
        lines = await self.ctx.store.lines(story.id)
        return ExportFile(filename=_export_name(story, fmt), content=_export(story, lines, fmt))

    async def rename_story(self, key: ChatKey, title: str) -> StoryRenamed:
        """Give the open story a new title."""
        _place, story = await self.ctx.open_story(key)
        try:
            renamed = await self.ctx.store.rename_story(story.id, clean_title(title))
        except StoreConflict as exc:
            raise RelayError("That story has ended; start a new one with /story new.") from exc
        return StoryRenamed(renamed, old_title=story.title)

    async def end_story(self, key: ChatKey, actor: Actor) -> StoryView:
        """Close the story; its open round is cancelled (and members told)."""
        ctx = self.ctx
        place, story = await ctx.open_story(key)
        if place.round is not None:
            await self.closing.cancel(place.round, "story ended")
        ended = await ctx.store.end_story(story.id, ctx.clock.now())
        return await self._view(ended, ctx.rules.show_lines)

    async def write(self, key: ChatKey, actor: Actor, text: str) -> Line:
        """Add the member's line."""
        ctx = self.ctx
        line_text = clean_line(text, ctx.rules.max_line_chars)
        _place, story = await ctx.open_story(key)
        try:
            return await ctx.store.add_line(
                story.id, "human", actor.member_id, actor.name, line_text, ctx.clock.now()
            )
        except StoreConflict as exc:
            raise RelayError("That story has ended; start a new one with /story new.") from exc

    async def undo(self, key: ChatKey, actor: Actor) -> Line:
        """Remove the last line (it stays in the history)."""
        ctx = self.ctx
        _place, story = await ctx.open_story(key)
        removed = await ctx.store.remove_last_line(story.id, ctx.clock.now())
        if removed is None:
            raise RelayError("The story has no lines to undo.")
        return removed


def _export_name(story: Story, fmt: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in story.title).strip("_")[:60] or "story"
    return f"{safe}.{fmt}"


def _export(story: Story, lines: list[Line], fmt: str) -> str:
    """The whole story; markdown credits every line's author after the text."""
    if fmt == "txt":
        return story.title + "\n\n" + "\n\n".join(line.text for line in lines) + "\n"
    authors: dict[str, int] = {}
    for line in lines:
        authors[line.author_name] = authors.get(line.author_name, 0) + 1
    credits = "\n".join(
        f"- {name}: {n} line{'s' if n != 1 else ''}" for name, n in authors.items()
    )
    body = "\n\n".join(line.text for line in lines)
    return f"# {story.title}\n\n{body}\n\n---\n\n## Written by\n\n{credits}\n"
