"""Moving up: everything in a SQLite file copied into an empty PostgreSQL database.

One transaction on the target: every table in the order its references need, row ids kept (so
every reference still points where it did), the identity sequences moved past them, and each
table's row count checked against the source before the commit. A target that already holds
data is refused before anything is written. The bot then goes on where it was, open rounds
and their deadlines included.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from storage.database import Database
from storage.errors import StorageError
from storage.postgres import PostgresDatabase, safe_url

# Parents before children. rounds.winner_candidate_id points forward (at candidates), so rounds
# are copied without it and it is set once the candidates are in.
TABLES = (
    "chats",
    "stories",
    "rounds",
    "lines",
    "candidates",
    "votes",
    "novels",
    "writer_versions",
    "writer_heads",
    "training_runs",
    "processed_updates",
)

SQL_SQLITE_COLUMNS = "SELECT name FROM pragma_table_info(?) ORDER BY cid"
SQL_PG_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
SQL_IDENTITY = "SELECT pg_get_serial_sequence($1, 'id')"
SQL_MOVE_SEQUENCE = "SELECT setval($1, GREATEST((SELECT MAX(id) FROM {table}), 1))"
SQL_SET_WINNERS = """
UPDATE rounds SET winner_candidate_id = w.winner
FROM unnest($1::bigint[], $2::bigint[]) AS w(id, winner) WHERE rounds.id = w.id
"""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


async def copy_to_postgres(source: Database, target: PostgresDatabase) -> list[Copied]:
    """Copy every table of `source` into `target` (both opened, so both at the latest schema);
    the rows copied per table. StorageError, with nothing written, when the target holds data
    or the two schemas differ."""
    tables = [t for t in TABLES if await _columns(source, t)]
    async with target.pool.acquire() as conn, conn.transaction():
        known = {r[0] for r in await conn.fetch(SQL_PG_TABLES)}
        for table in tables:
            if table not in known:
                raise StorageError(f"{safe_url(target.url)} has no table {table}")
            if await conn.fetchval(f"SELECT COUNT(*) FROM {table}"):
                raise StorageError(
                    f"{safe_url(target.url)} already holds data ({table}); "
                    "move up only into an empty database"
                )
        copied = []
        winners: list[tuple[int, int]] = []  # (round id, winning candidate id), set last
        for table in tables:
            columns = await _columns(source, table)
            rows = await source.fetch_all(f"SELECT {', '.join(columns)} FROM {table}")
            records = [tuple(row) for row in rows]
            if table == "rounds":  # its winner points forward, at candidates: set once they are in
                at = columns.index("winner_candidate_id")
                winners = [(row[0], row[at]) for row in rows if row[at] is not None]
                records = [(*r[:at], None, *r[at + 1 :]) for r in records]
            try:
                await conn.copy_records_to_table(table, records=records, columns=columns)
            except (asyncpg.PostgresError, asyncpg.DataError) as exc:
                raise StorageError(f"{table} could not be copied: {exc}") from exc
            sequence = await conn.fetchval(SQL_IDENTITY, table) if "id" in columns else None
            if sequence is not None:
                await conn.fetchval(SQL_MOVE_SEQUENCE.format(table=table), sequence)
            stored = await conn.fetchval(f"SELECT COUNT(*) FROM {table}")
            if stored != len(rows):
                raise StorageError(f"{table}: {len(rows)} rows read but {stored} stored")
            copied.append(Copied(table, len(rows)))
        await conn.execute(SQL_SET_WINNERS, [w[0] for w in winners], [w[1] for w in winners])
    return copied


async def _columns(db: Database, table: str) -> list[str]:
    return [row[0] for row in await db.fetch_all(SQL_SQLITE_COLUMNS, (table,))]
