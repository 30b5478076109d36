-- 0002: what a round needs so that its candidates never repeat and its live counts never go
-- back in time.
-- seeds_used: how many sampling seeds the round's /continue requests have taken so far; each
--   request reserves its own block, so a second /continue never re-samples the first one's seeds.
-- revision: bumped by every change a member can see (a vote cast, moved or taken back, new
--   candidates), so a platform showing live counts can tell a newer view from an older one.
ALTER TABLE rounds ADD COLUMN seeds_used INTEGER NOT NULL DEFAULT 0 CHECK (seeds_used >= 0);
ALTER TABLE rounds ADD COLUMN revision INTEGER NOT NULL DEFAULT 0 CHECK (revision >= 0);
