"""Errors raised by storage/ itself (the core's StoreConflict lives in bot.core.ports).

StoreConflict is for states a user can cause (a second open story, a vote on a closed round);
these are for things that should not happen in a correct program or deployment.
"""

from __future__ import annotations


class StorageError(Exception):
    """Root of storage/'s own errors."""


class SchemaError(StorageError):
    """The file's schema cannot be used: newer than this code, or the migrations are broken."""


class NotFound(StorageError, LookupError):
    """A write named a row that does not exist (a LookupError, so callers need not import us)."""
