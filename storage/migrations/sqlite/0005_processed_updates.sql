-- 0005: updates a platform delivered, so that one delivered twice is handled once (a Telegram
-- webhook retry that lands on another bot process). Keyed by the platform's own id of the
-- delivery (Telegram's update_id); `at` (seconds since the epoch) lets rows older than a day be
-- pruned: Telegram keeps an undelivered update for 24 hours, so no retry comes later than that.
CREATE TABLE processed_updates (
    platform TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (platform, update_id)
);
CREATE INDEX processed_updates_by_age ON processed_updates (at);
