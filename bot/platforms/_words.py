"""What the living writer's news says, in plain text, for every platform to mark up its own way
(the renderers escape it and add their emphasis). One place for these sentences, so the
console, Telegram and Discord tell the same story."""

from __future__ import annotations

import time

from bot.core.records import TrainingRun, WriterVersion
from bot.core.views import ModelView, TrainingNews, TrainingStatus


def bits(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def when(at: float | None) -> str:
    return "?" if at is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def version_name(version: WriterVersion | None) -> str:
    return "the shipped writer" if version is None else f"version {version.number}"


def news(item: TrainingNews) -> str:
    """A fine-tune ended: promoted, rejected, or failed."""
    version = item.version
    if version is None:
        return (
            f"The fine-tune failed: {item.run.error} This chat's writer is unchanged; "
            "the next schedule tries again."
        )
    if version.status == "promoted":
        return (
            f"The writer learned from {version.chars:,} characters of this chat's text: "
            f"held-out {bits(version.chat_bits_before)} → {bits(version.chat_bits_after)} "
            f"bits/char. Version {version.number} now writes."
        )
    return (
        f"Version {version.number} was not taken: {version.reason} "
        "The writer that wrote before goes on writing."
    )


def status(item: TrainingStatus) -> list[str]:
    """/train: the pending run, the last one, and what is new."""
    rows: list[str] = []
    pending = item.pending
    if pending is not None and pending.status == "running":
        rows.append(f"Fine-tuning now: {round(pending.progress * 100)}% done.")
    elif pending is not None:
        head = "Fine-tune queued" if item.queued_now else "A fine-tune is queued"
        after = f"{item.ahead} before it" if item.ahead else "it starts next"
        rows.append(f"{head} ({after}).")
    else:
        rows.append("No fine-tune is waiting.")
    if item.last is not None:
        rows.append("Last: " + run_line(item.last, item.last_version))
    rows.append(f"{item.new_chars:,} characters are new since the last fine-tune.")
    return rows


def run_line(run: TrainingRun, version: WriterVersion | None = None) -> str:
    """One run, as history shows it."""
    if run.status == "failed":
        return f"run {run.id} failed ({when(run.finished_at)}): {run.error}"
    if run.status != "succeeded":
        return f"run {run.id} {run.status} (queued {when(run.queued_at)})"
    made = f"made version {version.number}, {version.status}" if version else "made a version"
    return f"run {run.id} {made} ({when(run.finished_at)})"


def model(view: ModelView) -> list[str]:
    """/model: which version writes, its lineage and figures, the last runs."""
    active = view.active
    rows = []
    if view.rolled_back:
        rows.append(f"Rolled back: {version_name(active)} writes again.")
    if active is None:
        rows.append("This chat's writer: the shipped writer (no fine-tune promoted yet).")
    else:
        rows.append(
            f"This chat's writer: version {active.number}, learned from {active.chars:,} "
            f"characters ({when(active.created_at)}); held-out {bits(active.chat_bits_before)}"
            f" → {bits(active.chat_bits_after)} bits/char, base text "
            f"{bits(active.base_bits_after)} (shipped {bits(active.base_bits_before)})."
        )
    rows += [f"{name}: {value}" for name, value in view.facts.items() if value]
    if view.versions:
        rows.append("Versions: " + " · ".join(_version_line(v) for v in view.versions))
    made = {v.id: v for v in view.versions}
    if view.runs:
        runs = (run_line(r, made.get(r.version_id or 0)) for r in view.runs)
        rows.append("Last runs: " + " · ".join(runs))
    return rows


def _version_line(version: WriterVersion) -> str:
    figures = f"{bits(version.chat_bits_before)}→{bits(version.chat_bits_after)}"
    if version.status == "promoted":
        return f"v{version.number} promoted ({figures})"
    return f"v{version.number} rejected ({figures}: {version.reason})"
