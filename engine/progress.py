"""A one-line progress bar on stderr (no tqdm): redrawn in place on a terminal, a plain line every
few seconds otherwise, so logs stay readable."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


class Progress:
    """`update(fraction, text)` at any rate; drawing is throttled."""

    def __init__(
        self, label: str = "", stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else 10.0
        self._last = 0.0
        self._drawn = False

    def update(self, fraction: float, text: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.interval):
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = round(fraction * WIDTH)
        line = f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%} {text}"
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True

    def note(self, text: str) -> None:
        """A message on its own line, without breaking the bar."""
        if not self.enabled:
            return
        self.close()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False
