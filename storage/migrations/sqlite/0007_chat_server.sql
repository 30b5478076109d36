-- 0007: the server a chat belongs to, as its platform names it (a Discord guild id), so that
-- any process can tell which of them holds the chat's rounds (the guild's gateway shard);
-- '': none, or not yet known (a chat from before 0007 until a command creates something in it).
ALTER TABLE chats ADD COLUMN server TEXT NOT NULL DEFAULT '';
