"""The Telegram tests' fixture: a fake Bot API server with Ada as the group's owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.conftest import FakeClock, FakeTrainer, FakeWriter
from tests.bot.platforms.telegram.fake_bot_api import FakeBotAPI, administrator
from tests.bot.platforms.telegram.helpers import ADA, GROUP, Setup


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    fake = FakeBotAPI()
    await fake.start()
    fake.admins[GROUP["id"]] = [
        administrator(ADA, owner=True),
        administrator({**fake.me, "is_bot": True}),
    ]
    try:
        yield Setup(fake, tmp_path / "relay.db", FakeWriter(), FakeClock(), FakeTrainer())
    finally:
        await fake.close()
