-- 0006: as SQLite's 0006: when each shared periodic job last ran (storage/_periodic.py).
CREATE TABLE periodic_jobs (
    name     TEXT PRIMARY KEY,
    last_at  DOUBLE PRECISION NOT NULL
);
