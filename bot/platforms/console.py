"""The local console: one chat in the terminal with the same commands as Discord and Telegram.

Everyone here is a moderator; `/as <name>` switches who speaks; a vote is `/vote 2` or the keycap
emoji itself. With piped input each command finishes, generation included, before the next line is
read, so a scripted session is deterministic. End of input ends the session; open rounds stay open
in the database and close on time at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from pathlib import Path
from typing import IO

from bot.core.errors import RelayError
from bot.core.keycaps import ordinal_of
from bot.core.records import Chat
from bot.core.router import CommandRouter, Upload
from bot.core.views import Actor, ChatKey, ExportFile, RoundResult, TrainingNews
from bot.i18n import Translator, translator
from bot.platforms import console_render

log = logging.getLogger(__name__)

CHAT = ChatKey(platform="console", external_id="local", title="console")


class ConsolePlatform:
    """Reads commands from a stream, answers on another; also announces closed rounds."""

    def __init__(
        self,
        router: CommandRouter,
        member: str,
        export_dir: Path,
        max_upload_bytes: int,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
    ) -> None:
        self.router = router
        self.member = member
        self.export_dir = export_dir
        self.max_upload_bytes = max_upload_bytes
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = self.stdin.isatty()
        # Ends of rounds announced while a command runs are shown after its answer.
        self._held: list[str] | None = None

    def say(self, text: str) -> None:
        if not text:  # e.g. /round close: its announcement is the answer
            return
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def start(self) -> None:
        """Nothing to connect: the terminal is there. `run()` reads the input."""

    async def stop(self) -> None:
        """Nothing to disconnect."""

    async def round_closed(self, chat: Chat, result: RoundResult) -> None:
        """Announcer port: a round ended (deadline, moderator, quorum or cancel)."""
        self._announce(console_render.result(await self._translator(), result))

    async def training_finished(self, chat: Chat, news: TrainingNews) -> None:
        """Announcer port: a fine-tune of the writer ended."""
        self._announce(console_render.training(await self._translator(), news))

    async def _translator(self) -> Translator:
        return translator(await self.router.language(CHAT))

    def _announce(self, text: str) -> None:
        if self._held is not None:  # after the answer of the command that runs now
            self._held.append(text)
        else:
            self.say(text)

    async def run(self) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:  # a thread, so reading the terminal never blocks the event loop
            for raw in self.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, raw)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=pump, name="console-input", daemon=True).start()
        if self.interactive:
            t = await self._translator()
            self.say(
                t.gettext(
                    "relaytale console — /help lists the commands, /quit leaves.\n"
                    "Start with: /story new <title>"
                )
            )
        while True:
            if self.interactive:
                self.stdout.write(f"{self.member}> ")
                self.stdout.flush()
            raw = await lines.get()
            if raw is None:
                return
            text = raw.strip()
            if not text:
                continue
            if not self.interactive:
                self.say(f"{self.member}> {text}")
            if text in ("/quit", "/exit"):
                return
            await self.handle(text)

    async def handle(self, text: str) -> None:
        """One line of input: a console-only command, an emoji vote, or a relay command."""
        t = await self._translator()
        if text.startswith("/as"):
            name = text[3:].strip()
            if not name:
                self.say(t.gettext("You are {name}. Switch with /as <name>.", name=self.member))
                return
            self.member = name
            self.say(t.gettext("🎭 Now speaking as {name}.", name=name))
            return
        if (ordinal := ordinal_of(text)) is not None:
            text = f"/vote {ordinal}"
        elif not text.startswith("/"):
            self.say(
                t.gettext("Commands start with /. Vote with 1️⃣-9️⃣ or /vote <n>; /help lists all.")
            )
            return
        self._held = []
        try:
            self.say(await self._answer(text))
        finally:
            held, self._held = self._held, None
            for announcement in held:
                self.say(announcement)

    async def _answer(self, text: str) -> str:
        """The answer to one relay command (the end of a round it causes is announced)."""
        actor = Actor(member_id=self.member, name=self.member, is_moderator=True)
        try:
            upload = self._upload(text)
            if text.startswith("/continue") and self.interactive:
                self.say((await self._translator()).gettext("✒️  the writer is writing…"))
            outcome = await self.router.handle(CHAT, actor, text, upload)
        except RelayError as exc:
            t = await self._translator()
            return "⚠️  " + t.gettext(exc.message, **exc.params)
        t = await self._translator()  # after the command: /settings language may have changed it
        if isinstance(outcome, ExportFile):
            return t.gettext("📄 The whole story is in {path}", path=self._save_export(outcome))
        return console_render.render(t, outcome)

    def _upload(self, text: str) -> Upload | None:
        """`/novel add path/to/file.txt`: the console's way of attaching a file."""
        words = text.split(maxsplit=2)
        if words[:2] != ["/novel", "add"] or len(words) < 3:
            return None
        path = Path(words[2]).expanduser()
        try:
            with path.open("rb") as fh:
                # One byte past the limit is enough to refuse an oversized file.
                data = fh.read(self.max_upload_bytes + 1)
        except OSError as exc:
            raise RelayError(
                "Cannot read {path}: {error}.", path=path, error=exc.strerror
            ) from exc
        return Upload.of(path.name, data)

    def _save_export(self, export: ExportFile) -> Path:
        self.export_dir.mkdir(parents=True, exist_ok=True)
        path = self.export_dir / export.filename
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(export.content, encoding="utf-8")
        tmp.replace(path)
        return path
