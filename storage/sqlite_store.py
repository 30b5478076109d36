"""SqliteStore: bot.core.ports.Store on a storage.Database.

The queries live in modules of one job each (_stories, _rounds, _lookups, _library, _writers),
mixed in here; every check-then-write method runs in one BEGIN IMMEDIATE transaction behind the one
writer.
"""

from __future__ import annotations

from storage._deliveries import DeliveryQueries
from storage._library import LibraryQueries
from storage._lookups import LookupQueries
from storage._rounds import RoundQueries
from storage._stories import StoryQueries
from storage._writers import WriterQueries
from storage.database import Database


class SqliteStore(
    StoryQueries, RoundQueries, LookupQueries, LibraryQueries, WriterQueries, DeliveryQueries
):
    """The store the bot runs on. Give it an opened Database; closing that is the caller's job."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db
