"""A round in words, for every platform: its heading, its candidates with their counts, how to
vote and when it closes, the answers to a vote, how it ended and the line that joined the story.
The platform's widget (buttons, reactions, typing) only changes the hint it passes in."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.keycaps import keycap
from bot.core.views import CandidateView, ContinueResult, RoundResult, RoundView, VoteResult
from bot.i18n import Translator
from bot.platforms.phrases.common import clip, fewer, reason, status, time_left, votes
from bot.platforms.phrases.markup import Markup

# Candidate texts are shortened (to fit a message) down to this many characters at the least.
SHORTEST = 40


def round_name(t: Translator, m: Markup, round_id: int) -> str:
    """ "**Round 3**": how a round's own message names it (Discord knows one by it)."""
    name = t.gettext("Round {id}", id=round_id)  # its own message: Babel skips nested calls
    return m.bold(name)


def heading(t: Translator, m: Markup, view: RoundView, live: bool = False) -> str:
    """ "🗳️ Round 3 of “Title” — voting": a message that stays up (live) leaves the time left
    to its footer, which says when the vote closes."""
    state = status(t, view.round.status)
    if not live and view.round.status == "voting" and view.seconds_left is not None:
        state += ", " + time_left(t, view.seconds_left)
    return t.gettext(
        "🗳️ {round} of “{title}” — {state}",
        round=round_name(t, m, view.id),
        title=m.text(view.story_title),
        state=state,
    )


def candidate(
    t: Translator,
    m: Markup,
    item: CandidateView,
    *,
    counts: bool = True,
    won: bool = False,
    cap: int | None = None,
) -> str:
    """A candidate: its keycap and text, then a detail line (its count, who asked, the
    keyword). `counts=False` where the platform shows the counts itself (buttons)."""
    text = item.text if cap is None else clip(item.text, cap)
    details = [votes(t, item.votes)] if counts else []
    details.append(t.gettext("asked by {name}", name=m.text(item.requested_by_name)))
    if item.keyword:
        details.append(f"“{m.text(item.keyword)}”")
    mark = " 🏆" if won else ""
    return f"{keycap(item.ordinal)}{mark} {m.text(text)}\n{m.small(m.sep.join(details))}"


def footer(t: Translator, m: Markup, view: RoundView, hint: str, live: bool = False) -> str:
    """Under an open round: how to vote here, and (on a message that stays up) when it
    closes."""
    closes = m.closes(t, view) if live else ""
    if not closes:
        return hint
    said = t.gettext("Voting closes {when}.", when=closes)
    return f"{hint} {said}" if hint else said


def round_text(
    t: Translator,
    m: Markup,
    view: RoundView,
    result: RoundResult | None = None,
    *,
    hint: str = "",
    counts: bool = True,
    live: bool = False,
    limit: int | None = None,
    length: Callable[[str], int] = len,
) -> str:
    """A round in one text: heading, candidates, then how to vote or how it ended. Candidate
    texts are shortened only when the whole would pass `limit` (as `length` measures it)."""
    longest = max((len(c.text) for c in view.candidates), default=0)
    while True:
        text = _round_text(t, m, view, result, hint, counts, live, longest)
        if limit is None or length(text) <= limit or longest <= SHORTEST:
            return text
        longest = longest * 9 // 10


def _round_text(
    t: Translator,
    m: Markup,
    view: RoundView,
    result: RoundResult | None,
    hint: str,
    counts: bool,
    live: bool,
    cap: int,
) -> str:
    winner = result.winner.ordinal if result and result.winner else None
    rows = [heading(t, m, view, live)]
    rows += [
        m.item(candidate(t, m, c, counts=counts, won=c.ordinal == winner, cap=cap))
        for c in view.candidates
    ]
    if result is not None:
        rows.append(ended(t, m, result))
    elif view.round.status == "voting":
        rows.append(m.item(footer(t, m, view, hint, live)))
    return m.between.join(row for row in rows if row)


def added(t: Translator, result: ContinueResult) -> str:
    """A /continue added candidates to the open round."""
    return t.gettext(
        "➕ Added {list} to round {id}.",
        list=", ".join(keycap(n) for n in result.added),
        id=result.view.id,
    )


def fewer_note(t: Translator, m: Markup, result: ContinueResult) -> str:
    """A line more when the writer had fewer distinct ideas than were asked for ('' else)."""
    return "\n" + m.small(m.text(fewer(t, len(result.added)))) if result.fewer else ""


def continued(t: Translator, m: Markup, result: ContinueResult, hint: str) -> str:
    """The answer to /continue where the round is shown right there (a terminal)."""
    said = "" if result.opened else added(t, result) + "\n"
    return said + round_text(t, m, result.view, hint=hint) + fewer_note(t, m, result)


# -- votes ---------------------------------------------------------------------------------------


def vote_said(vote: VoteResult, t: Translator) -> str:
    """What a vote did, to the voter (plain text: no member text in it)."""
    previous, current = vote.change.previous, vote.change.current
    if current is None:
        return t.gettext("🗑️ Your vote for {n} is taken back.", n=keycap(previous or 0))
    if previous is None:
        return t.gettext("✅ You vote for {n}.", n=keycap(current))
    if previous == current:
        return t.gettext("✅ You already vote for {n}.", n=keycap(current))
    return t.gettext(
        "🔁 Your vote moved from {before} to {after}.",
        before=keycap(previous),
        after=keycap(current),
    )


def vote_reply(t: Translator, m: Markup, vote: VoteResult) -> str:
    """The answer to /vote: what it did, and the counts now."""
    return t.gettext("{said} Now: {counts}.", said=vote_said(vote, t), counts=tally(m, vote.view))


def tally(m: Markup, view: RoundView) -> str:
    return m.sep.join(f"{keycap(c.ordinal)} {c.votes}" for c in view.candidates)


# -- the end of a round --------------------------------------------------------------------------


def outcome(t: Translator, result: RoundResult) -> str:
    """One sentence: how the round ended."""
    view = result.view
    if result.reason == "cancelled":
        return t.gettext("🚫 Round {id} was cancelled; nothing joins the story.", id=view.id)
    why = reason(t, result.reason)
    if result.winner is None:
        return t.gettext(
            "⏹️ Round {id} closed ({reason}): nobody voted, so nothing joins the story.",
            id=view.id,
            reason=why,
        )
    return t.gettext(
        "🏆 Round {id} closed ({reason}): {n} won with {votes} of {total}.",
        id=view.id,
        reason=why,
        n=keycap(result.winner.ordinal),
        votes=votes(t, result.winner.votes),
        total=view.total_votes,
    )


def ended(t: Translator, m: Markup, result: RoundResult) -> str:
    """How the round ended and, when one won, the line it became, quoted."""
    said = outcome(t, result)
    if result.winner is None:
        return said
    n = keycap(result.winner.ordinal)
    if result.line is not None:
        joins = t.gettext(
            "{n} joins the story as line {position}:", n=n, position=result.line.position
        )
    else:
        joins = t.gettext("{n} joins the story:", n=n)
    return f"{said}\n{joins}\n{m.quote(result.winner.text)}"


def winner_post(t: Translator, m: Markup, result: RoundResult) -> str:
    """The winner posted as the story's new line, credited to the writer."""
    assert result.winner is not None
    number = m.bold(f"{result.line.position}.") + " " if result.line else ""
    by = t.gettext(
        "— 🤖 the writer ({n}, {votes})",
        n=keycap(result.winner.ordinal),
        votes=votes(t, result.winner.votes),
    )
    return f"📜 {number}{m.text(result.winner.text)}\n{m.small(by)}"
