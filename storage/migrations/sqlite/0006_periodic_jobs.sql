-- 0006: periodic jobs several bot processes share (the fine-tune schedule): when each last ran,
-- so that in each interval one process runs it and the others skip (storage/_periodic.py).
CREATE TABLE periodic_jobs (
    name     TEXT PRIMARY KEY,
    last_at  REAL NOT NULL
);
