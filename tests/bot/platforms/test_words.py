"""The words every renderer shares (bot/platforms/_words.py), on views of a real relay."""

from __future__ import annotations

from bot.i18n import translator
from bot.platforms import _words
from tests.bot.conftest import CHAT, MOD, World
from tests.bot.core.test_training import chat_with_text


async def test_model_after_a_rollback_to_the_shipped_writer(world: World) -> None:
    """Rolled back to the shipped writer, /model does not claim that nothing was promoted."""
    t = translator("en")
    await chat_with_text(world)
    assert "no fine-tune promoted yet" in _words.model(t, await world.relay.model(CHAT))[0]
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    rows = _words.model(t, await world.relay.rollback(CHAT, MOD, 0))
    assert rows[:2] == [
        "Rolled back: the shipped writer writes again.",
        "This chat's writer: the shipped writer.",
    ]
