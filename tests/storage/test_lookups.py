"""The one-call reads of the hot paths (storage/_lookups.py) on a real SQLite file."""

from __future__ import annotations

from bot.core.ports import Store
from tests.storage.helpers import T0, WRITER, cand, new_story, verdict, voting_round


async def test_place_of_chat_is_the_chat_its_open_story_and_its_open_round(store: Store) -> None:
    """An unseen chat has no place; a seen one has its open story and round, or None for each."""
    assert await store.place_of_chat("console", "c1") is None
    assert await store.find_chat("console", "c1") is None
    chat = await store.ensure_chat("console", "c1", "Console")
    assert await store.find_chat("console", "c1") == chat
    bare = await store.place_of_chat("console", "c1")
    assert bare is not None and (bare.chat, bare.story, bare.round) == (chat, None, None)

    rnd = await voting_round(store)
    place = await store.place_of_chat("console", "c1")
    assert place is not None and place.round == rnd
    assert place.story is not None and place.story.id == rnd.story_id
    await store.close_round(rnd.id, verdict(None, "moderator"), T0, *WRITER)
    closed = await store.place_of_chat("console", "c1")
    assert closed is not None and closed.story == place.story and closed.round is None
    # By id, a closed round is still found, with its own story and chat.
    by_id = await store.place_of_round(rnd.id)
    assert by_id is not None and by_id.chat == chat and by_id.story == place.story
    assert await store.place_of_round(9999) is None


async def test_round_snapshot_has_what_members_see_and_a_revision_that_moves(
    store: Store,
) -> None:
    """Title, candidates and votes in one read; each vote, and the end, bumps the revision."""
    rnd = await voting_round(store)
    before = await store.round_snapshot(rnd.id)
    assert before is not None and before.round == rnd and before.story_title == "Dragon"
    assert [c.text for c in before.candidates] == ["text 1", "text 2", "text 3"]
    await store.cast_vote(rnd.id, "m1", "Mia", 2, T0)
    after = await store.round_snapshot(rnd.id)
    assert after is not None and [(v.member_id, v.ordinal) for v in after.votes] == [("m1", 2)]
    assert after.revision > before.revision
    assert await store.round_snapshot(9999) is None
    # The revision alone, as cheaply: the snapshot's.
    assert await store.round_revision(rnd.id) == after.revision
    assert await store.round_revision(9999) is None
    # Its end is a change too (a platform showing the round learns of it by the revision).
    await store.close_round(rnd.id, verdict(None, "moderator"), T0, *WRITER)
    assert (await store.round_revision(rnd.id) or 0) > after.revision


async def test_round_snapshot_keeps_candidates_and_votes_apart_in_their_orders(
    store: Store,
) -> None:
    """A round still being written shows neither; then each candidate once by ordinal and each
    vote once in the order cast, however many of each there are."""
    story = await new_story(store)
    bare = await store.create_round(story.id, "u1", "U1", T0)
    empty = await store.round_snapshot(bare.id)
    assert empty is not None and (empty.candidates, empty.votes) == ([], [])
    assert empty.round == bare and empty.story_title == "Dragon"
    await store.add_candidates(bare.id, [cand(f"text {i}") for i in (1, 2, 3, 4)], 9)
    await store.open_voting(bare.id, T0 + 60)
    for member, ordinal, at in (("m2", 4, T0 + 1), ("m1", 1, T0 + 2), ("m0", 1, T0 + 3)):
        await store.cast_vote(bare.id, member, member.upper(), ordinal, at)
    seen = await store.round_snapshot(bare.id)
    assert seen is not None
    shown = [(c.ordinal, c.text) for c in seen.candidates]
    assert shown == [(i, f"text {i}") for i in (1, 2, 3, 4)]
    assert [(v.member_id, v.ordinal, v.cast_at) for v in seen.votes] == [
        ("m2", 4, T0 + 1),
        ("m1", 1, T0 + 2),
        ("m0", 1, T0 + 3),
    ]
