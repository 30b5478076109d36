"""Deliveries: which platform updates were already taken, so one delivered twice is handled once.

Portable SQL (`?` placeholders, INSERT ... ON CONFLICT DO NOTHING RETURNING), one write
transaction per delivery: the first process to insert the key takes the update, every other
(a webhook retry landing on another process) finds the row and skips it.
"""

from __future__ import annotations

from storage._sql import SqlDatabase

# Telegram keeps an undelivered update for 24 hours; a retry never comes later than that.
REMEMBER_SECONDS = 86_400.0

SQL_FORGET_OLD_DELIVERIES = "DELETE FROM processed_updates WHERE at < ?"
SQL_TAKE_DELIVERY = """
INSERT INTO processed_updates (platform, update_id, at) VALUES (?, ?, ?)
ON CONFLICT (platform, update_id) DO NOTHING
RETURNING update_id
"""


class DeliveryQueries:
    """Processed updates; mixed into SqlStore."""

    _db: SqlDatabase

    async def first_delivery(self, platform: str, update_id: int, at: float) -> bool:
        """True the first time this update is delivered (and it is recorded), False after.
        Rows older than a day are pruned in the same transaction."""
        async with self._db.transaction() as tx:
            await tx.execute(SQL_FORGET_OLD_DELIVERIES, (at - REMEMBER_SECONDS,))
            taken = await tx.fetch_one(SQL_TAKE_DELIVERY, (platform, update_id, at))
        return taken is not None
