"""`python -m bot migrate --from data/relaytale.db --to postgresql://user@host:port/db`: a bot
that outgrew one process moves its SQLite file into an empty PostgreSQL database, in one
transaction, checked table by table (storage/transfer.py). The password, if any, comes from
PGPASSWORD (never from the command line or a file in the repo)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from storage import Database, PostgresDatabase, StorageError, is_postgres_url, safe_url
from storage.transfer import copy_to_postgres


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot migrate",
        description="Copy every story, round, vote, novel, writer version and training run "
        "from a SQLite file into an empty PostgreSQL database.",
    )
    parser.add_argument("--from", dest="source", required=True, help="the SQLite file")
    parser.add_argument(
        "--to", dest="target", required=True, help="postgresql://user@host:port/database"
    )
    args = parser.parse_args(argv)
    if not Path(args.source).is_file():
        print(f"migrate: no SQLite file at {args.source}", file=sys.stderr)
        return 2
    if not is_postgres_url(args.target):
        print(
            f"migrate: --to must be a postgresql:// URL, not {safe_url(args.target)}",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(_move(args.source, args.target))
    except StorageError as exc:
        print(f"migrate: {exc}; nothing was written", file=sys.stderr)
        return 1


async def _move(source_path: str, target_url: str) -> int:
    started = time.perf_counter()
    async with Database(source_path) as source, PostgresDatabase(target_url) as target:
        copied = await copy_to_postgres(source, target)
    width = max(len(c.table) for c in copied)
    for item in copied:
        print(f"  {item.table:<{width}}  {item.rows:>8,} rows")
    total = sum(c.rows for c in copied)
    print(
        f"moved {total:,} rows from {source_path} to {safe_url(target_url)} "
        f"in {time.perf_counter() - started:.1f} s; start the bot with --db {safe_url(target_url)}"
    )
    return 0
