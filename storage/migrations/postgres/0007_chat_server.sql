-- 0007: as SQLite's 0007: the server a chat belongs to (a Discord guild id); '': none or unknown.
ALTER TABLE chats ADD COLUMN server TEXT NOT NULL DEFAULT '';
