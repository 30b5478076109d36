"""The bot's side of the writer: a child process running `python -m engine serve`.

The bot never imports torch. Requests go to the worker as JSON lines and come back matched by id;
many chats' requests in flight at once are batched by the worker. A request that takes too long
fails with WriterUnavailable; if the worker dies it is started again, and callers get
WriterUnavailable ("try again") instead of a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
from typing import Any

from bot.core.ports import WriterCandidate, WriterRequest, WriterUnavailable
from bot.core.records import WriterFacts
from bot.writer_wire import candidates_from, facts_from, generate_fields

log = logging.getLogger(__name__)

_READY_TIMEOUT = 120.0  # loading torch and the model on a slow machine
_RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


class EngineClient:
    """Implements the core's Writer port over a worker process."""

    def __init__(
        self,
        model_dir: str,
        device: str = "auto",
        timeout: float = 60.0,
        batch_wait_ms: int = 5,
        max_loaded: int = 8,
        quantize: str = "none",
    ) -> None:
        self.model_dir = model_dir  # the shipped base writer
        self.device = device
        self.timeout = timeout
        self.batch_wait_ms = batch_wait_ms
        self.max_loaded = max_loaded
        self.quantize = quantize
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._starting: asyncio.Lock = asyncio.Lock()
        self._closed = False
        self._restarts = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker and wait until its model is loaded."""
        async with self._starting:
            if self._alive():
                return
            command = [
                sys.executable,
                "-m",
                "engine",
                "serve",
                "--model",
                self.model_dir,
                "--batch-wait-ms",
                str(self.batch_wait_ms),
                "--max-loaded",
                str(self.max_loaded),
                "--quantize",
                self.quantize,
            ]
            if self.device != "auto":
                command += ["--device", self.device]
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=16 * 1024 * 1024,
            )
            assert self._process.stdout is not None
            try:
                ready = await asyncio.wait_for(self._process.stdout.readline(), _READY_TIMEOUT)
                info = json.loads(ready)["info"]
            except (TimeoutError, json.JSONDecodeError, KeyError) as exc:
                await self._kill()
                raise WriterUnavailable(f"the writer did not start ({self.model_dir})") from exc
            self._reader = asyncio.create_task(self._read(self._process), name="engine-reader")
            log.info("writer worker %s ready: %s", self._process.pid, info)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def close(self) -> None:
        self._closed = True
        await self._kill()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _kill(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 3.0)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                log.warning("writer worker sent a malformed line: %r", line[:200])
                continue
            future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        await process.wait()
        self._fail_pending("the writer stopped")
        if self._closed:
            return
        log.warning(
            "writer worker %s exited with %s; restarting it", process.pid, process.returncode
        )
        asyncio.get_running_loop().create_task(self._restart())

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WriterUnavailable(reason))

    async def _restart(self) -> None:
        delay = _RESTART_DELAYS[min(self._restarts, len(_RESTART_DELAYS) - 1)]
        self._restarts += 1
        await asyncio.sleep(delay)
        if self._closed:
            return
        try:
            await self.start()
            self._restarts = 0
        except WriterUnavailable:
            log.exception("writer worker failed to restart; will try again")
            asyncio.get_running_loop().create_task(self._restart())

    # -- requests -----------------------------------------------------------------------------

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        if not self._alive():
            if self._closed:
                raise WriterUnavailable("the writer is shut down")
            # A dead worker is being restarted; a caller should not wait for torch to load.
            raise WriterUnavailable("the writer is restarting")
        process = self._process
        assert process is not None and process.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            process.stdin.write(
                (json.dumps({"id": request_id, **message}, ensure_ascii=False) + "\n").encode()
            )
            await process.stdin.drain()
            reply = await asyncio.wait_for(future, self.timeout)
        except (ConnectionError, BrokenPipeError) as exc:
            raise WriterUnavailable("the writer stopped") from exc
        except TimeoutError as exc:
            log.error(
                "writer request %s timed out after %.0fs; restarting the worker",
                request_id,
                self.timeout,
            )
            if process.returncode is None:
                process.kill()  # a hung worker: the reader task restarts it
            raise WriterUnavailable("the writer took too long") from exc
        finally:
            self._pending.pop(request_id, None)
        if not reply.get("ok"):
            raise WriterUnavailable(str(reply.get("error", "the writer failed")))
        return reply

    async def generate(self, request: WriterRequest) -> list[WriterCandidate]:
        """The request as the worker protocol spells it (engine/service.py)."""
        return candidates_from(await self._call({"op": "generate", **generate_fields(request)}))

    async def info(self, writer: str = "") -> WriterFacts:
        """Facts of a writer (the base when "") for /model."""
        reply = await self._call({"op": "info", "writer": writer})
        return facts_from(reply["info"])
