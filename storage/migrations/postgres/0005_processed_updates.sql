-- 0005: as SQLite's 0005: updates a platform delivered, so that one delivered twice (a Telegram
-- webhook retry that lands on another bot process) is handled once; rows older than a day go.
CREATE TABLE processed_updates (
    platform   TEXT    NOT NULL,
    update_id  BIGINT  NOT NULL,
    at         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, update_id)
);
CREATE INDEX processed_updates_by_age ON processed_updates (at);
