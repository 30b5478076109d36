"""The Store: bot.core.ports.Store on a SQL database, SQLite or PostgreSQL.

The queries live in modules of one job each (_stories, _rounds, _lookups, _library, _writers),
mixed in here, written once in SQL both databases understand (storage/_sql.py); every
check-then-write method runs in one write transaction of the database's one writer.
"""

from __future__ import annotations

from storage._deliveries import DeliveryQueries
from storage._library import LibraryQueries
from storage._lookups import LookupQueries
from storage._periodic import PeriodicQueries
from storage._rounds import RoundQueries
from storage._sql import SqlDatabase
from storage._stories import StoryQueries
from storage._writers import WriterQueries


class SqlStore(
    StoryQueries,
    RoundQueries,
    LookupQueries,
    LibraryQueries,
    WriterQueries,
    DeliveryQueries,
    PeriodicQueries,
):
    """The store the bot runs on. Give it an opened database; closing that is the caller's job."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
