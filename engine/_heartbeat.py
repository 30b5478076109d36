"""Progress heartbeats as JSON lines on stderr, from a thread of their own.

A supervisor (the bot's trainer runner) kills a fine-tune whose heartbeat stops, so the beat must
not depend on what the main thread is doing: loading torch, a long evaluation, writing the
checkpoint, drawing the loss curve. The main thread only updates the latest state; the thread
writes it every `interval` seconds:

    {"event": "progress", "phase": "train", "fraction": 0.42, "loss": 1.23, "seconds": 12.3}
"""

from __future__ import annotations

import json
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Heartbeat"]


class Heartbeat:
    """`with Heartbeat(): ... beat.update("train", 0.4, 1.2)`; silent when not enabled."""

    def __init__(
        self, enabled: bool = True, stream: TextIO | None = None, interval: float = 1.0
    ) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self.phase, self.fraction = "train", 0.0
        self.loss: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def update(self, phase: str, fraction: float, loss: float | None = None) -> None:
        with self._lock:
            self.phase, self.fraction = phase, min(1.0, max(0.0, fraction))
            if loss is not None:
                self.loss = loss

    def line(self) -> dict[str, Any]:
        """The latest state as one heartbeat (a fleet's fine-tune task yields these)."""
        with self._lock:
            return {
                "event": "progress",
                "phase": self.phase,
                "fraction": round(self.fraction, 4),
                "loss": None if self.loss is None else round(self.loss, 4),
                "seconds": round(time.monotonic() - self.started, 1),
            }

    def beat(self) -> None:
        """Write one line now."""
        line = self.line()
        with self._lock:
            self.stream.write(json.dumps(line) + "\n")
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __enter__(self) -> Heartbeat:
        if self.enabled:
            self.beat()
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
            if kind is None:
                self.update(self.phase, 1.0)
                self.beat()
