-- 0001: the first schema. Times are Unix seconds (REAL). Booleans are 0/1.
-- A migration runs inside one transaction opened by storage/database.py: no BEGIN/COMMIT here.
-- The partial unique indexes restate, in the database itself, the invariants that the store
-- checks in its BEGIN IMMEDIATE transactions (one open story per chat, one open round per story).

CREATE TABLE chats (
    id            INTEGER PRIMARY KEY,
    platform      TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    title         TEXT    NOT NULL DEFAULT '',
    -- /settings overrides; NULL means the config.toml default
    temperature   REAL,
    candidates    INTEGER,
    vote_seconds  INTEGER,
    created_at    REAL    NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    UNIQUE (platform, external_id)
);

CREATE TABLE stories (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (id),
    title       TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended')),
    created_by  TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    ended_at    REAL
);
CREATE INDEX stories_by_chat ON stories (chat_id, id);
CREATE UNIQUE INDEX stories_one_open_per_chat ON stories (chat_id) WHERE status = 'open';

CREATE TABLE rounds (
    id                   INTEGER PRIMARY KEY,
    story_id             INTEGER NOT NULL REFERENCES stories (id),
    status               TEXT    NOT NULL DEFAULT 'generating'
                         CHECK (status IN ('generating', 'voting', 'closed', 'cancelled')),
    opened_by            TEXT    NOT NULL,
    opened_by_name       TEXT    NOT NULL,
    created_at           REAL    NOT NULL,
    deadline             REAL,
    closed_at            REAL,
    winner_candidate_id  INTEGER REFERENCES candidates (id),
    close_reason         TEXT    NOT NULL DEFAULT '',
    message_ref          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX rounds_by_story ON rounds (story_id, id);
CREATE INDEX rounds_by_status ON rounds (status);
CREATE INDEX rounds_by_message ON rounds (message_ref) WHERE message_ref <> '';
CREATE UNIQUE INDEX rounds_one_open_per_story ON rounds (story_id)
    WHERE status IN ('generating', 'voting');

CREATE TABLE lines (
    id           INTEGER PRIMARY KEY,
    story_id     INTEGER NOT NULL REFERENCES stories (id),
    -- 1, 2, 3 ... per story, never reused: an undone line keeps its position
    position     INTEGER NOT NULL CHECK (position >= 1),
    kind         TEXT    NOT NULL CHECK (kind IN ('human', 'ai')),
    author_id    TEXT    NOT NULL,
    author_name  TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    round_id     INTEGER REFERENCES rounds (id),
    removed      INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    removed_at   REAL,
    created_at   REAL    NOT NULL,
    UNIQUE (story_id, position)
);
CREATE INDEX lines_by_round ON lines (round_id) WHERE round_id IS NOT NULL;

CREATE TABLE candidates (
    id                 INTEGER PRIMARY KEY,
    round_id           INTEGER NOT NULL REFERENCES rounds (id),
    ordinal            INTEGER NOT NULL CHECK (ordinal >= 1),
    text               TEXT    NOT NULL,
    mean_logprob       REAL    NOT NULL,
    keyword            TEXT    NOT NULL DEFAULT '',
    length             INTEGER NOT NULL,
    temperature        REAL    NOT NULL,
    seed               INTEGER NOT NULL,
    requested_by       TEXT    NOT NULL,
    requested_by_name  TEXT    NOT NULL,
    UNIQUE (round_id, ordinal)
);

CREATE TABLE votes (
    round_id     INTEGER NOT NULL REFERENCES rounds (id),
    member_id    TEXT    NOT NULL,
    member_name  TEXT    NOT NULL,
    ordinal      INTEGER NOT NULL,
    cast_at      REAL    NOT NULL,
    PRIMARY KEY (round_id, member_id),
    FOREIGN KEY (round_id, ordinal) REFERENCES candidates (round_id, ordinal)
) WITHOUT ROWID;

CREATE TABLE novels (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (id),
    title       TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    chars       INTEGER NOT NULL,
    text        TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'trained', 'removed')),
    added_by    TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    removed_at  REAL
);
CREATE INDEX novels_by_chat ON novels (chat_id, id);
CREATE UNIQUE INDEX novels_one_sha_per_chat ON novels (chat_id, sha256) WHERE status <> 'removed';

CREATE TABLE model_versions (
    id          INTEGER PRIMARY KEY,
    path        TEXT    NOT NULL,
    parent_id   INTEGER REFERENCES model_versions (id),
    status      TEXT    NOT NULL CHECK (status IN ('active', 'retired', 'rejected')),
    val_loss    REAL,
    info_json   TEXT    NOT NULL DEFAULT '{}',
    created_at  REAL    NOT NULL
);
CREATE UNIQUE INDEX model_versions_one_active ON model_versions (status) WHERE status = 'active';

CREATE TABLE training_runs (
    id            INTEGER PRIMARY KEY,
    status        TEXT    NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at    REAL    NOT NULL,
    finished_at   REAL,
    version_id    INTEGER REFERENCES model_versions (id),
    metrics_json  TEXT    NOT NULL DEFAULT '{}',
    error         TEXT    NOT NULL DEFAULT ''
);
