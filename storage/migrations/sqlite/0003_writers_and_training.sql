-- 0003: the living writer. Each chat (or, with training.shared_writer, the whole bot) has a
-- lineage of fine-tuned writer versions; which one writes is a row (no row: the shipped base);
-- training runs are a queue that survives restarts.
-- model_versions and training_runs of 0001 had no chat and nothing ever wrote them: replaced.

DROP TABLE training_runs;
DROP TABLE model_versions;

-- Who added a novel, as people read it (/novel list); how its text was read (UTF-8, CP949...).
ALTER TABLE novels ADD COLUMN added_by_name TEXT NOT NULL DEFAULT '';
ALTER TABLE novels ADD COLUMN encoding TEXT NOT NULL DEFAULT 'UTF-8';

-- Every version ever made, kept: promoted ones can be rolled back to; rejected ones keep their
-- figures and the reason. A version is an immutable checkpoint folder (`path`).
CREATE TABLE writer_versions (
    id                INTEGER PRIMARY KEY,
    lineage           TEXT    NOT NULL,  -- "chat-<chat id>" or "shared"
    number            INTEGER NOT NULL CHECK (number >= 1),  -- 1, 2, 3 ... in the lineage
    parent_id         INTEGER REFERENCES writer_versions (id),  -- NULL: the shipped base
    path              TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('promoted', 'rejected')),
    reason            TEXT    NOT NULL DEFAULT '',
    chars             INTEGER NOT NULL DEFAULT 0,  -- characters of the chat's text it learned
    chat_bits_before  REAL,
    chat_bits_after   REAL,
    base_bits_before  REAL,
    base_bits_after   REAL,
    info_json         TEXT    NOT NULL DEFAULT '{}',
    created_at        REAL    NOT NULL,
    UNIQUE (lineage, number)
);

-- The version a lineage writes with now; no row: the shipped base (copy on write).
CREATE TABLE writer_heads (
    lineage     TEXT    PRIMARY KEY,
    version_id  INTEGER NOT NULL REFERENCES writer_versions (id),
    changed_at  REAL    NOT NULL
);

-- The queue: queued -> running -> succeeded | failed. A lineage has at most one run pending.
-- novel_mark/line_mark: the newest novel and line ids the run read, so the next schedule can
-- tell how much text is new since.
CREATE TABLE training_runs (
    id            INTEGER PRIMARY KEY,
    lineage       TEXT    NOT NULL,
    chat_id       INTEGER REFERENCES chats (id),  -- the chat told of the result (NULL: all)
    status        TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    trigger       TEXT    NOT NULL CHECK (trigger IN ('schedule', 'moderator')),
    requested_by  TEXT    NOT NULL DEFAULT '',
    queued_at     REAL    NOT NULL,
    started_at    REAL,
    heartbeat_at  REAL,
    progress      REAL    NOT NULL DEFAULT 0,
    finished_at   REAL,
    parent_id     INTEGER REFERENCES writer_versions (id),
    version_id    INTEGER REFERENCES writer_versions (id),
    novel_mark    INTEGER NOT NULL DEFAULT 0,
    line_mark     INTEGER NOT NULL DEFAULT 0,
    chars         INTEGER NOT NULL DEFAULT 0,
    error         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX training_runs_by_lineage ON training_runs (lineage, id);
CREATE UNIQUE INDEX training_runs_one_pending_per_lineage ON training_runs (lineage)
    WHERE status IN ('queued', 'running');
