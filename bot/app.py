"""Wiring: config -> database -> writer worker -> relay core -> scheduler -> platforms.

The only module that knows every part. `python -m bot` lands in `main()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot.announce import Announcers
from bot.config import Config, ConfigError, load_config
from bot.core.commands import CommandRouter
from bot.core.ports import WriterUnavailable
from bot.core.relay import Relay
from bot.engine_client import EngineClient
from bot.platforms.console import ConsolePlatform
from bot.scheduler import Scheduler
from storage import Database, SqliteStore

log = logging.getLogger("relaytale")

TOKEN_VARIABLES = {"telegram": "TELEGRAM_TOKEN", "discord": "DISCORD_TOKEN"}


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass(frozen=True)
class Options:
    platform: str
    config_path: str | None
    db_path: str | None


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bot",
                                     description="relaytale: write a story together with a "
                                                 "neural writer, on Discord, Telegram or here.")
    parser.add_argument("--platform", choices=["auto", "console", "telegram", "discord"],
                        default="auto", help="auto: the platforms whose tokens are set, "
                                             "else the console")
    parser.add_argument("--config", default=None,
                        help="config file (default: ./config.toml when it exists)")
    parser.add_argument("--db", default=None, help="SQLite file (default: storage.database)")
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
    platforms = choose_platforms(options.platform, dict(os.environ))
    missing = [p for p in platforms if p != "console"]
    if missing:
        log.error("the %s platform is not built yet; run with --platform console",
                  " and ".join(missing))
        return 2
    db_path = Path(options.db_path or config.storage.database)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    writer = EngineClient(config.writer.model_dir, config.writer.device,
                          config.writer.timeout_seconds, config.writer.batch_wait_ms)
    scheduler = Scheduler()
    announcers = Announcers()
    async with Database(db_path) as db:
        store = SqliteStore(db)
        relay = Relay(store, writer, SystemClock(), scheduler, config.relay, config.novels)

        async def round_due(round_id: int) -> None:
            closed = await relay.close_due(round_id)
            if closed is not None:
                await announcers.round_closed(*closed)

        scheduler.on_round_due = round_due
        if config.storage.backup_minutes:
            backup_dir = Path(config.storage.backup_dir)

            async def backup() -> None:
                await backup_database(db, backup_dir, config.storage.backups_kept)

            scheduler.every("backup", config.storage.backup_minutes, backup)
        console = ConsolePlatform(CommandRouter(relay), config.console.member,
                                  export_dir=db_path.parent / "exports",
                                  max_upload_bytes=config.novels.max_bytes)
        announcers.register("console", console)
        try:
            await writer.start()
        except WriterUnavailable as exc:
            log.error("%s: is %s a checkpoint folder?", exc, config.writer.model_dir)
            return 1
        try:
            open_rounds = await relay.recover()
            if open_rounds:
                log.info("re-armed %d open round(s)", len(open_rounds))
            scheduler.start()
            await console.run()
        finally:
            scheduler.shutdown()
            await writer.close()
    return 0


async def backup_database(db: Database, folder: Path, keep: int) -> Path:
    """An online backup with a timestamped name; only the newest `keep` are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    path = await db.backup(folder / time.strftime("relaytale-%Y%m%d-%H%M%S.db"))
    for old in sorted(folder.glob("relaytale-*.db"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("RELAYTALE_LOG", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    options = parse_args(argv)
    try:
        config = load_config(options.config_path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    # SIGTERM ends the session like Ctrl-C: open rounds stay in the database.
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(options, config))
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
