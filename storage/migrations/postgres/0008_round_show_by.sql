-- 0008: as SQLite's 0008: when a round's message must be recorded by, else any process shows it.
ALTER TABLE rounds ADD COLUMN show_by DOUBLE PRECISION;
