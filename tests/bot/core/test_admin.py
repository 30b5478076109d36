"""A chat's administration: its settings and the novels its writer learns from."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.errors import NotAllowed, RelayError
from bot.core.router import Upload
from tests.bot.conftest import ALICE, CHAT, MOD, World, start_story


async def test_settings_change_and_validation(world: World) -> None:
    """Moderators change temperature/candidates/vote time per chat; bad values are refused."""
    view = await world.relay.change_setting(CHAT, "candidates", "4")
    assert view.candidates == 4
    with pytest.raises(RelayError, match="temperature must be 0 to 2"):
        await world.relay.change_setting(CHAT, "temperature", "9")
    with pytest.raises(NotAllowed):
        await world.router.handle(CHAT, ALICE, "/settings set vote_time 60")
    await start_story(world)
    result = await world.relay.continue_story(CHAT, ALICE)
    assert len(result.added) == 4


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("book.txt", b"\x00\x01\x02binary" * 100, "binary"),
        ("book.txt", b"\xff\xfe\xfa not utf-8" * 100, "not UTF-8"),
        ("book.pdf", b"text" * 100, ".txt"),
        ("book.txt", b"short", "too short"),
    ],
)
async def test_bad_novels_are_refused(world: World, name: str, data: bytes, message: str) -> None:
    """Binary, non-UTF-8, non-.txt and tiny uploads get a clear refusal and store nothing."""
    with pytest.raises(RelayError, match=message):
        await world.relay.add_novel(CHAT, MOD, name, data)
    assert (await world.relay.list_novels(CHAT)).novels == []


async def test_oversized_novel_is_refused(world: World) -> None:
    """A file over novels.max_bytes is refused with the limit named."""
    world.relay.ctx.novels = dataclasses.replace(world.relay.ctx.novels, max_bytes=1000)
    with pytest.raises(RelayError, match="1,001 bytes; the limit is 1,000 bytes"):
        await world.relay.add_novel(CHAT, MOD, "big.txt", b"a" * 1001)


async def test_novel_added_once_and_removed(world: World) -> None:
    """A good novel is queued; the same file again is a duplicate; remove drops it."""
    text = "옛날 옛적에 호랑이가 살았다. ".encode() * 10
    listed = await world.relay.add_novel(CHAT, MOD, "tiger.txt", text)
    assert [(n.title, n.status) for n in listed.novels] == [("tiger", "queued")]
    with pytest.raises(RelayError, match="already"):
        await world.relay.add_novel(CHAT, MOD, "tiger.txt", text)
    with pytest.raises(NotAllowed):
        await world.router.handle(CHAT, ALICE, "/novel add", Upload.of("other.txt", text + b"!"))
    after = await world.relay.remove_novel(CHAT, MOD, listed.novels[0].id)
    assert after.novels == []
