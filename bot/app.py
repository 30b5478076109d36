"""Wiring: config -> database -> writer (worker or fleet) -> relay core -> scheduler -> platforms.

The only module that knows every part. `python -m bot` lands in `main()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot import move_up
from bot.announce import Announcers
from bot.config import Config, ConfigError, TrainingConfig, WriterConfig, load_config
from bot.core.ports import Announcer, StoreUnavailable, WriterUnavailable
from bot.core.relay import Relay
from bot.core.router import CommandRouter
from bot.engine_client import EngineClient
from bot.fleet_client import FleetClient
from bot.fleet_trainer import FleetTrainer
from bot.i18n import languages
from bot.platforms.console import ConsolePlatform
from bot.scheduler import Scheduler
from bot.trainer_client import EngineTrainer
from storage import Database, PostgresDatabase, SqlStore, StorageError, open_database

log = logging.getLogger("relaytale")

TOKEN_VARIABLES = {"telegram": "TELEGRAM_TOKEN", "discord": "DISCORD_TOKEN"}
# How often every process closes overdue rounds (a round closes within this of its deadline
# even when the process that armed its timer is gone).
SWEEP_SECONDS = 5.0
FORGET_DELIVERIES_SECONDS = 3600.0  # how often webhook deliveries older than a day are deleted


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass(frozen=True)
class Options:
    platform: str
    config_path: str | None
    db_path: str | None


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="relaytale: write a story together with a "
        "neural writer, on Discord, Telegram or here.",
    )
    parser.add_argument(
        "--platform",
        choices=["auto", "console", "telegram", "discord"],
        default="auto",
        help="auto: the platforms whose tokens are set, else the console",
    )
    parser.add_argument(
        "--config", default=None, help="config file (default: ./config.toml when it exists)"
    )
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite file or postgresql://user@host:port/database URL (default: storage.database)",
    )
    args = parser.parse_args(argv)
    config_path = args.config
    if config_path is None and Path("config.toml").exists():
        config_path = "config.toml"
    return Options(platform=args.platform, config_path=config_path, db_path=args.db)


def choose_platforms(requested: str, environ: dict[str, str]) -> list[str]:
    """auto: every platform whose token is set; none set: the console."""
    if requested != "auto":
        return [requested]
    chosen = [name for name, variable in TOKEN_VARIABLES.items() if environ.get(variable)]
    return chosen or ["console"]


async def run(options: Options, config: Config) -> int:
    platform_names = choose_platforms(options.platform, dict(os.environ))
    for name in platform_names:
        if name != "console" and not os.environ.get(TOKEN_VARIABLES[name]):
            log.error(
                "--platform %s needs the %s environment variable", name, TOKEN_VARIABLES[name]
            )
            return 2
    if "telegram" in platform_names and config.telegram.mode == "webhook":
        from bot.platforms.telegram.webhook import SECRET_VARIABLE, secret_problem

        problem = secret_problem(os.environ.get(SECRET_VARIABLE))
        if problem is not None:  # it names the variable, never its value
            log.error("%s", problem)
            return 2
    target = options.db_path or config.storage.database
    try:
        database = open_database(target)
    except StorageError as exc:
        log.error("--db / storage.database: %s", exc)
        return 2
    # Writer versions and exports sit beside a SQLite file; with PostgreSQL, in ./data.
    data_dir = Path(target).parent if isinstance(database, Database) else Path("data")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        await database.open()
    except StorageError as exc:  # unreachable, or a schema newer than this code
        log.error("%s", exc)
        return 1
    writer = build_writer(config.writer)
    scheduler = Scheduler()
    announcers = Announcers()
    async with database as db:
        relay = Relay(
            SqlStore(db),
            writer,
            SystemClock(),
            scheduler,
            config.relay,
            config.novels,
            policy=config.writer,
            announcer=announcers,
            trainer=build_trainer(config.training),
            training=config.training,
            writers_url=config.training.writers_url or str(data_dir / "writers"),
            languages=languages(),
            shared_database=isinstance(db, PostgresDatabase),
        )
        router = CommandRouter(relay)
        await relay.start()

        async def round_due(round_id: int) -> None:
            await relay.close_due(round_id)  # the end is announced by the core

        scheduler.on_round_due = round_due
        if config.storage.backup_minutes and isinstance(db, Database):
            sqlite_db, backup_dir = db, Path(config.storage.backup_dir)

            async def backup() -> None:
                await backup_database(sqlite_db, backup_dir, config.storage.backups_kept)

            scheduler.every("backup", config.storage.backup_minutes * 60, backup)
        elif config.storage.backup_minutes:
            log.info("PostgreSQL is backed up by its own tools (pg_dump); storage.backup_* unused")
        if config.training.enabled:
            every = config.training.interval_minutes * 60
            scheduler.every("training", every, queue_training(relay, every))
        scheduler.every("sweep", SWEEP_SECONDS, sweep(relay))
        scheduler.every("deliveries", FORGET_DELIVERIES_SECONDS, forget_deliveries(relay))
        try:
            await writer.start()
        except WriterUnavailable as exc:
            log.error("%s: is %s a checkpoint folder?", exc, config.writer.model_dir)
            return 1
        platforms = build_platforms(platform_names, router, config, data_dir)
        for name, platform in platforms.items():
            announcers.register(name, platform)
        started: list[ChatPlatform] = []
        try:
            for platform in platforms.values():
                await platform.start()
                started.append(platform)
            # Rounds that ended while the bot was down close now (and are announced), before
            # any new command; fine-tunes a stop interrupted are failed, queued ones go on.
            await relay.recover()
            await relay.training.recover()
            settle_memory()
            scheduler.start()
            trainer = asyncio.create_task(relay.training.work(), name="trainer")
            try:
                await run_until_done(platforms)
            finally:
                trainer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await trainer
        finally:
            scheduler.shutdown()
            for platform in reversed(started):
                await platform.stop()
            await writer.close()
    return 0


def settle_memory() -> None:
    """Leave what start-up built (modules, catalogues, config, the platforms' clients) out of
    every later full garbage collection: it lives as long as the process, and each full
    collection would walk it again while every reply in flight waits (under
    bench/cluster_load.py they took 30–100 ms before, 11–67 ms after). Collected first, so
    that no start-up garbage is kept."""
    gc.collect()
    gc.freeze()


def build_writer(config: WriterConfig) -> EngineClient | FleetClient:
    """The writer backend config.toml names: a worker process of this bot, or the fleet."""
    if config.backend == "fleet":
        return FleetClient(config.fleet_url, config.timeout_seconds)
    return EngineClient(
        config.model_dir,
        config.device,
        config.timeout_seconds,
        config.batch_wait_ms,
        config.max_loaded,
        config.quantize,
    )


def build_trainer(config: TrainingConfig) -> EngineTrainer | FleetTrainer:
    """The trainer config.toml names: a process of this bot per run, or the fleet's tasks."""
    if config.backend == "fleet":
        return FleetTrainer(config.fleet_url, config.hang_seconds, config.gpus)
    return EngineTrainer(config.hang_seconds)


def sweep(relay: Relay) -> Callable[[], Awaitable[None]]:
    """The sweep: overdue rounds close (a process that died leaves its rounds to the others)."""

    async def job() -> None:
        try:
            await relay.close_overdue()
        except StoreUnavailable:  # the database is restarting: the next sweep closes them
            log.warning("the sweep of overdue rounds waits for the database")

    return job


def forget_deliveries(relay: Relay) -> Callable[[], Awaitable[None]]:
    """Deliveries older than a day no longer count; deleting them keeps the table small."""

    async def job() -> None:
        try:
            await relay.forget_deliveries()
        except StoreUnavailable:
            log.warning("old deliveries are deleted once the database answers")

    return job


def queue_training(relay: Relay, every_seconds: float) -> Callable[[], Awaitable[None]]:
    """The periodic job: chats with enough new text get a fine-tune queued (by one process
    per interval, however many share the database)."""

    async def job() -> None:
        if not await relay.claim_periodic("training", every_seconds):
            return
        queued = await relay.training.queue_due()
        if queued:
            log.info("queued %d fine-tune(s): runs %s", len(queued), [r.id for r in queued])

    return job


class ChatPlatform(Announcer, Protocol):
    """What app.py needs of a platform adapter: the Announcer port, plus a lifecycle."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def build_platforms(
    names: list[str], router: CommandRouter, config: Config, data_dir: Path
) -> dict[str, ChatPlatform]:
    """Adapters are imported only when used, so a console session never loads discord.py."""
    platforms: dict[str, ChatPlatform] = {}
    if "console" in names:
        platforms["console"] = ConsolePlatform(
            router,
            config.console.member,
            export_dir=data_dir / "exports",
            max_upload_bytes=config.novels.max_bytes,
        )
    if "telegram" in names:
        from bot.platforms.telegram import TelegramPlatform
        from bot.platforms.telegram.webhook import SECRET_VARIABLE

        platforms["telegram"] = TelegramPlatform(
            router,
            os.environ["TELEGRAM_TOKEN"],
            config.telegram,
            webhook_secret=os.environ.get(SECRET_VARIABLE),  # webhook mode only; checked above
        )
    if "discord" in names:
        from bot.platforms.discord import DiscordPlatform

        platforms["discord"] = DiscordPlatform(router, os.environ["DISCORD_TOKEN"], config.discord)
    return platforms


async def run_until_done(platforms: dict[str, ChatPlatform]) -> None:
    """The console ends at end of input; chat platforms run until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    console = platforms.get("console")
    if isinstance(console, ConsolePlatform):
        waiters.append(asyncio.create_task(console.run()))
    try:
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # re-raise a crash of the console loop
    finally:
        for task in waiters:
            task.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def backup_database(db: Database, folder: Path, keep: int) -> Path:
    """An online backup with a timestamped name; only the newest `keep` are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    path = await db.backup(folder / time.strftime("relaytale-%Y%m%d-%H%M%S.db"))
    for old in sorted(folder.glob("relaytale-*.db"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("RELAYTALE_LOG", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["migrate"]:  # python -m bot migrate --from FILE --to URL
        return move_up.main(args[1:])
    options = parse_args(args)
    try:
        config = load_config(options.config_path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C or SIGTERM end the session; open rounds stay in the database.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory()) as runner,
    ):
        return runner.run(run(options, config))
    return 0


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a dependency on Linux and macOS), else
    asyncio's own (None); `RELAYTALE_EVENT_LOOP=asyncio` asks for asyncio's anyway. A vote on
    Telegram is mostly trips over sockets (the webhook, PostgreSQL, the Bot API): py-spy found
    asyncio's own frames (the loop, its sockets' writes) in a third of a bot process's samples
    under bench/cluster_load.py."""
    if os.environ.get("RELAYTALE_EVENT_LOOP", "uvloop") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
