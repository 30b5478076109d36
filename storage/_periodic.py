"""Periodic jobs shared by several bot processes: each interval, one process runs the job.

Every process's scheduler wakes the job (the fine-tune schedule, say) on its own clock; the
first to claim it in an interval records when, in the same write transaction, and the others
find it claimed and skip. With one process it always claims. A row per job, not a lock held
while the job runs, so a process that dies mid-job costs one interval, never the job for good.
"""

from __future__ import annotations

from storage._sql import SqlDatabase

# A claim within this share of the interval since the last one is the same interval: schedules
# of different processes drift, and a job fired a little early must not run twice.
SAME_INTERVAL = 0.9

SQL_CLAIM_PERIODIC = """
INSERT INTO periodic_jobs (name, last_at) VALUES (?1, ?2)
ON CONFLICT (name) DO UPDATE SET last_at = excluded.last_at
WHERE periodic_jobs.last_at <= CAST(?2 AS DOUBLE PRECISION) - CAST(?3 AS DOUBLE PRECISION)
RETURNING name
"""


class PeriodicQueries:
    """Claims of periodic jobs; mixed into the store."""

    _db: SqlDatabase

    async def claim_periodic(self, name: str, every_seconds: float, at: float) -> bool:
        """True when this process runs job `name` now: nobody ran it this interval."""
        async with self._db.transaction() as tx:
            claimed = await tx.fetch_one(
                SQL_CLAIM_PERIODIC, (name, at, every_seconds * SAME_INTERVAL)
            )
        return claimed is not None
