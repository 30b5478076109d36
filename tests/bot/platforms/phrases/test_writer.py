"""bot/platforms/phrases/writer.py: the living writer in words (/model, a refused version, a failed
run), on views of a real relay."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bot.core.views import TrainingNews
from bot.i18n import translator
from bot.platforms.phrases import writer as _words
from bot.trainer_client import CRASHED, KILLED, NO_SUMMARY, SILENT
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


async def test_model_speaks_the_chats_language_to_the_last_line(world: World) -> None:
    """/model in Korean: the checkpoint's facts are worded in Korean too, not English labels."""
    await world.relay.new_story(CHAT, MOD, "Lighthouse")
    view = await world.relay.model(CHAT)
    english = "\n".join(_words.model(translator("en"), view))
    assert "On works it never saw: Korean 4.27, English 1.79 bits/char." in english
    assert "Trained on 44,912,000 characters in 10,955 steps." in english
    korean = "\n".join(_words.model(translator("ko"), view))
    assert "한국어 4.27, 영어 1.79" in korean and "10,955걸음" in korean
    latin = set(re.findall(r"[A-Za-z]+", korean))
    assert latin <= {"fake", "LSTM", "CPU", "bits", "char"}, latin


@pytest.mark.parametrize(
    ("verdict", "english", "korean"),
    [
        (
            {"code": "no_gain", "language": None, "before": 4.5, "after": 4.49, "limit": 0.02},
            "it did not get better enough on this chat's text (4.50 → 4.49 bits/char; "
            "0.02 better was needed).",
            "충분히 나아지지 않았어요 (4.50 → 4.49 bits/char, 0.02만큼",
        ),
        (
            {"code": "forgetting", "language": "ko", "before": 4.3, "after": 4.36, "limit": 0.05},
            "it would forget too much of what it knew (the shipped writer's Korean text "
            "4.30 → 4.36 bits/char; at most +0.05 allowed).",
            "기본 작가의 한국어 글 4.30 → 4.36 bits/char",
        ),
    ],
)
async def test_a_refusal_names_the_figure_that_decided_it(
    world: World, verdict: dict[str, object], english: str, korean: str
) -> None:
    """A version refused for a gain under the limit is not said to forget (its overall base
    figure rose a little, as after any fine-tune), and a Korean refusal is worded in Korean."""
    await chat_with_text(world)
    world.trainer.promote = False
    world.trainer.verdict = verdict
    await world.relay.train_now(CHAT, MOD)
    await world.relay.training.run_next()
    [version] = (await world.relay.model(CHAT)).versions
    assert _words.why_rejected(translator("en"), version) == english
    assert korean in _words.why_rejected(translator("ko"), version)


async def test_a_failed_run_is_told_in_whole_sentences_of_the_chats_language(
    world: World,
) -> None:
    """A restart's failure reads in Korean in a Korean chat; a trainer's own words (English) at
    least end their sentence before the next one starts."""
    await chat_with_text(world)
    await world.relay.train_now(CHAT, MOD)
    await world.store.claim_training(world.clock.now())  # the bot died while this one ran
    (restarted,) = await world.relay.training.recover()
    news = TrainingNews(restarted, None)
    assert "학습하는 동안 봇이 다시 시작됐어요. 이 채팅의" in _words.news(translator("ko"), news)
    english = _words.news(translator("en"), news)
    assert "restarted while it was training. This chat's writer is unchanged" in english
    refused = dataclasses.replace(restarted, error="the trainer refused: no text (oops)")
    assert "(oops). This chat's" in _words.news(translator("en"), TrainingNews(refused, None))
    for why in (KILLED, SILENT, CRASHED, NO_SUMMARY):  # how a trainer can end, in Korean
        said = _words.error(translator("ko"), why)
        assert said.endswith("요.") and not re.search("[A-Za-z]", said), said
