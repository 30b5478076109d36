"""bot/platforms/telegram/uploads.py end to end: the .txt of /novel add, as a caption or a reply,
refused before it is downloaded where it can be; the real python-telegram-bot over HTTP against the
fake Bot API server (fake_bot_api.py), the real relay core and a real SQLite file; only the writer,
clock and timers are fakes (helpers.py, conftest.py)."""

from __future__ import annotations

import pytest

from tests.bot.platforms.telegram.helpers import ADA, ALICE, BOB, GROUP, GROUP_KEY, Setup


async def test_non_admin_novel_add_is_refused(setup: Setup) -> None:
    """A member who is not an administrator cannot add a novel; nothing is downloaded."""
    async with setup.bot():
        mark = len(setup.fake.calls)
        setup.fake.document(
            GROUP, BOB, "novel.txt", b"Once upon a time. " * 100, caption="/novel add"
        )
        reply = await setup.fake.wait_for("sendMessage", after=mark)
        assert "Only moderators can add novels" in reply.result["text"]
        assert setup.fake.sent("getFile", mark) == []


async def test_admin_two_megabyte_novel_is_accepted(setup: Setup) -> None:
    """An administrator's 2 MB UTF-8 .txt, sent with /novel add as its caption, is queued."""
    unit = "The sea was calm that night. 바다는 고요했다. Ça va.\n".encode()
    data = unit * (2_000_000 // len(unit) + 1)  # a little over 2 MB of UTF-8
    async with setup.bot() as bot:
        mark = len(setup.fake.calls)
        setup.fake.document(GROUP, ADA, "The Calm Sea.txt", data, caption="/novel add")
        reply = await setup.fake.wait_for("sendMessage", after=mark)
        assert "📚 Novels:" in reply.result["text"] and "The Calm Sea" in reply.result["text"]
        assert setup.fake.sent("download", mark)
        (novel,) = (await bot.relay.list_novels(GROUP_KEY)).novels
        assert novel.chars == len(data.decode("utf-8"))


async def test_novel_add_as_a_reply_to_a_document(setup: Setup) -> None:
    """/novel add sent as a reply to a .txt document takes that document."""
    async with setup.bot():
        document = setup.fake.document(GROUP, ALICE, "Shore.txt", b"Waves and sand. " * 100)
        reply = await setup.say(ADA, "/novel add", reply_to_message=document)
        assert "Shore" in reply.result["text"]


@pytest.mark.parametrize(
    ("name", "data", "size", "expected", "downloads"),
    [
        ("cover.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 200, None, "binary", True),
        ("cover.png", b"\x89PNG\r\n\x1a\n" * 10, None, "must be .txt", False),
        ("huge.txt", b"a" * 100, 21_000_000, "21.0 MB; the limit is 20.0 MB", False),
    ],
    ids=["binary", "not-txt", "oversized"],
)
async def test_unusable_novel_file_is_refused_with_a_reason(
    setup: Setup, name: str, data: bytes, size: int | None, expected: str, downloads: bool
) -> None:
    """A binary, non-.txt or oversized file gets a clear refusal; big ones are not fetched."""
    async with setup.bot():
        mark = len(setup.fake.calls)
        setup.fake.document(GROUP, ADA, name, data, caption="/novel add", size=size)
        reply = await setup.fake.wait_for("sendMessage", after=mark)
        assert expected in reply.result["text"]
        assert bool(setup.fake.sent("getFile", mark)) == downloads
