"""Deliveries: which platform updates were already taken, so one delivered twice is handled once.

Portable SQL (`?` placeholders, INSERT ... ON CONFLICT ... RETURNING). Taking a delivery is one
statement, atomic by itself, so it costs one trip to the database and holds up no other writer
(every webhook update takes one): the first process to insert the key takes the update, every
other (a webhook retry landing on another process) finds the row and skips it. A row older than
a day no longer counts, and such rows are deleted by a periodic job (`forget_deliveries`).
"""

from __future__ import annotations

from storage._sql import SqlDatabase

# Telegram keeps an undelivered update for 24 hours; a retry never comes later than that.
REMEMBER_SECONDS = 86_400.0

SQL_FORGET_OLD_DELIVERIES = "DELETE FROM processed_updates WHERE at < ?"
SQL_TAKE_DELIVERY = f"""
INSERT INTO processed_updates (platform, update_id, at) VALUES (?, ?, ?)
ON CONFLICT (platform, update_id) DO UPDATE SET at = excluded.at
    WHERE processed_updates.at < excluded.at - {REMEMBER_SECONDS}
RETURNING update_id
"""


class DeliveryQueries:
    """Processed updates; mixed into SqlStore."""

    _db: SqlDatabase

    async def first_delivery(self, platform: str, update_id: int, at: float) -> bool:
        """True the first time this update is delivered (and it is recorded), False after
        (until a day has passed: then it is a new update that reuses the id)."""
        return (
            await self._db.write_returning(SQL_TAKE_DELIVERY, (platform, update_id, at))
            is not None
        )

    async def forget_deliveries(self, at: float) -> int:
        """Delete the deliveries older than a day (they no longer count); how many went."""
        return await self._db.execute(SQL_FORGET_OLD_DELIVERIES, (at - REMEMBER_SECONDS,))
