"""The living writer in words: a fine-tune's news, /train's status, /model's lineage and
figures. Plain text in the reader's language; the platforms escape it (`Markup.text`)."""

from __future__ import annotations

from bot.core.records import TrainingRun, WriterFacts, WriterVersion
from bot.core.views import ModelView, TrainingNews, TrainingStatus
from bot.i18n import N_, Translator

# The languages the shipped writer is measured in (held-out figures, the gate's base text).
LANGUAGES = {"ko": N_("Korean"), "en": N_("English")}


def bits(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def news(t: Translator, item: TrainingNews) -> str:
    """A fine-tune ended: promoted, rejected, or failed."""
    version = item.version
    if version is None:
        return t.gettext(
            "The fine-tune failed: {error} This chat's writer is unchanged; the next schedule "
            "tries again.",
            error=error(t, item.run.error),
        )
    if version.status == "promoted":
        return t.gettext(
            "The writer learned from {chars} characters of this chat's text: held-out "
            "{before} → {after} bits/char. Version {number} now writes.",
            chars=t.number(version.chars),
            before=bits(version.chat_bits_before),
            after=bits(version.chat_bits_after),
            number=version.number,
        )
    return t.gettext(
        "Version {number} was not taken: {why} The writer that wrote before goes on writing.",
        number=version.number,
        why=why_rejected(t, version),
    )


def error(t: Translator, said: str) -> str:
    """A failed run's reason as one sentence: translated when it is one of the bot's own
    (a restart, a trainer that said nothing), else the trainer's words as they came."""
    said = t.gettext(said.strip())
    return said if said.endswith((".", "!", "?")) else said + "."


def why_rejected(t: Translator, version: WriterVersion) -> str:
    """The gate's verdict, from the figure that decided it (older versions recorded without a
    verdict: guessed from their figures, else the trainer's own words)."""
    verdict = version.verdict
    if verdict is not None and verdict.code == "no_gain":
        return t.gettext(
            "it did not get better enough on this chat's text ({before} → {after} bits/char; "
            "{limit} better was needed).",
            before=bits(verdict.before),
            after=bits(verdict.after),
            limit=bits(verdict.limit),
        )
    if verdict is not None and verdict.code == "forgetting":
        language = LANGUAGES.get(verdict.language or "")
        where = (
            t.gettext("the shipped writer's {language} text", language=t.gettext(language))
            if language
            else t.gettext("the shipped writer's text")
        )
        return t.gettext(
            "it would forget too much of what it knew ({where} {before} → {after} bits/char; "
            "at most +{limit} allowed).",
            where=where,
            before=bits(verdict.before),
            after=bits(verdict.after),
            limit=bits(verdict.limit),
        )
    before, after = version.chat_bits_before, version.chat_bits_after
    if before is not None and after is not None and after >= before - 0.005:
        return t.gettext(
            "it did not get better on this chat's text ({before} → {after} bits/char).",
            before=bits(before),
            after=bits(after),
        )
    base, now = version.base_bits_before, version.base_bits_after
    if base is not None and now is not None and now > base:
        return t.gettext(
            "it would forget too much of what it knew (the shipped writer's text "
            "{before} → {after} bits/char).",
            before=bits(base),
            after=bits(now),
        )
    return version.reason + "."


def training_status(t: Translator, item: TrainingStatus) -> list[str]:
    """/train: the pending run, the last one, and what is new."""
    rows: list[str] = []
    pending = item.pending
    if pending is not None and pending.status == "running":
        rows.append(
            t.gettext("Fine-tuning now: {percent}% done.", percent=round(pending.progress * 100))
        )
    elif pending is not None and item.ahead:
        rows.append(
            t.gettext("Fine-tune queued ({n} before it).", n=item.ahead)
            if item.queued_now
            else t.gettext("A fine-tune is queued ({n} before it).", n=item.ahead)
        )
    elif pending is not None:
        rows.append(
            t.gettext("Fine-tune queued (it starts next).")
            if item.queued_now
            else t.gettext("A fine-tune is queued (it starts next).")
        )
    else:
        rows.append(t.gettext("No fine-tune is waiting."))
    if item.last is not None:
        rows.append(t.gettext("Last: {run}", run=run_line(t, item.last, item.last_version)))
    rows.append(
        t.gettext(
            "{chars} characters are new since the last fine-tune.", chars=t.number(item.new_chars)
        )
    )
    return rows


def run_line(t: Translator, run: TrainingRun, version: WriterVersion | None = None) -> str:
    """One run, as history shows it."""
    at = t.when(run.finished_at or run.queued_at)
    if run.status == "failed":
        return t.gettext(
            "run {id} failed ({at}): {error}", id=run.id, at=at, error=error(t, run.error)
        )
    if run.status != "succeeded":
        return t.gettext(
            "run {id} {status} ({at})", id=run.id, status=t.gettext(run.status), at=at
        )
    if version is None:
        return t.gettext("run {id} made a version ({at})", id=run.id, at=at)
    verdict = t.gettext("promoted") if version.status == "promoted" else t.gettext("rejected")
    return t.gettext(
        "run {id} made version {number}, {verdict} ({at})",
        id=run.id,
        number=version.number,
        verdict=verdict,
        at=at,
    )


# Words the store keeps as data, for the catalogue.
_RUN_WORDS = (N_("queued"), N_("running"), N_("succeeded"), N_("failed"))


def model(t: Translator, view: ModelView) -> list[str]:
    """/model: which version writes, its lineage and figures, the last runs."""
    active = view.active
    rows = []
    if view.rolled_back:
        name = (
            t.gettext("the shipped writer")
            if active is None
            else t.gettext("version {number}", number=active.number)
        )
        rows.append(t.gettext("Rolled back: {name} writes again.", name=name))
    if active is None and any(v.status == "promoted" for v in view.versions):
        rows.append(t.gettext("This chat's writer: the shipped writer."))  # rolled back to it
    elif active is None:
        rows.append(
            t.gettext("This chat's writer: the shipped writer (no fine-tune promoted yet).")
        )
    else:
        rows.append(
            t.gettext(
                "This chat's writer: version {number}, learned from {chars} characters ({at}); "
                "held-out {before} → {after} bits/char, the shipped writer's text {base_after} "
                "(shipped {base_before}).",
                number=active.number,
                chars=t.number(active.chars),
                at=t.when(active.created_at),
                before=bits(active.chat_bits_before),
                after=bits(active.chat_bits_after),
                base_after=bits(active.base_bits_after),
                base_before=bits(active.base_bits_before),
            )
        )
    rows += facts(t, view.facts, tuned=active is not None)
    if view.versions:
        shown = " · ".join(_version_line(t, v) for v in view.versions)
        rows.append(t.gettext("Versions: {list}", list=shown))
    made = {v.id: v for v in view.versions}
    if view.runs:
        runs = " · ".join(run_line(t, r, made.get(r.version_id or 0)) for r in view.runs)
        rows.append(t.gettext("Last runs: {list}", list=runs))
    return rows


def facts(t: Translator, f: WriterFacts, tuned: bool) -> list[str]:
    """The writing checkpoint: its size and device; for the shipped writer also its figures on
    unseen works and its training (a fine-tuned version's figures are in its own line)."""
    rows = [
        t.gettext(
            "Checkpoint {name}: {layers} × {rnn} {size}, {parameters} parameters, "
            "{characters} characters, on {device}.",
            name=f.model,
            layers=f.layers,
            rnn=f.rnn,
            size=f.rnn_size,
            parameters=t.number(f.parameters),
            characters=t.number(f.characters),
            device=f.device.upper() + (" (int8)" if f.int8 else ""),
        )
    ]
    if tuned:
        return rows
    if f.held_out_bits:
        figures = ", ".join(
            f"{t.gettext(LANGUAGES[code]) if code in LANGUAGES else code} {bits(value)}"
            for code, value in f.held_out_bits.items()
        )
        rows.append(t.gettext("On works it never saw: {figures} bits/char.", figures=figures))
    elif f.validation_bits is not None:
        rows.append(
            t.gettext("On its validation text: {bits} bits/char.", bits=bits(f.validation_bits))
        )
    if f.steps is not None and f.chars_seen is not None:
        rows.append(
            t.gettext(
                "Trained on {chars} characters in {steps} steps.",
                chars=t.number(f.chars_seen),
                steps=t.number(f.steps),
            )
        )
    return rows


def _version_line(t: Translator, version: WriterVersion) -> str:
    figures = f"{bits(version.chat_bits_before)}→{bits(version.chat_bits_after)}"
    if version.status == "promoted":
        return t.gettext("v{number} promoted ({figures})", number=version.number, figures=figures)
    return t.gettext("v{number} rejected ({figures})", number=version.number, figures=figures)
