-- 0002: as SQLite's 0002: seeds_used (each /continue reserves its own block of sampling seeds)
-- and revision (bumped by every change a member can see, so live counts never go back).
ALTER TABLE rounds ADD COLUMN seeds_used BIGINT NOT NULL DEFAULT 0 CHECK (seeds_used >= 0);
ALTER TABLE rounds ADD COLUMN revision BIGINT NOT NULL DEFAULT 0 CHECK (revision >= 0);
