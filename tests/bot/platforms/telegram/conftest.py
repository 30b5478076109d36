"""The Telegram tests' fixture: a fake Bot API server with Ada as the group's owner. Every test
that takes `setup` runs twice: with the bot polling, and with Telegram POSTing to its webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.conftest import FakeClock, FakeTrainer, FakeWriter
from tests.bot.platforms.telegram.fake_bot_api import FakeBotAPI, administrator
from tests.bot.platforms.telegram.helpers import ADA, GROUP, Setup


@pytest.fixture(params=["polling", "webhook"])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    fake = FakeBotAPI()
    await fake.start()
    fake.admins[GROUP["id"]] = [
        administrator(ADA, owner=True),
        administrator({**fake.me, "is_bot": True}),
    ]
    try:
        writer, clock, trainer = FakeWriter(), FakeClock(), FakeTrainer()
        yield Setup(fake, tmp_path / "relay.db", writer, clock, trainer, request.param)
    finally:
        await fake.close()
