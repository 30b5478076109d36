-- 0004: as SQLite's 0004: the language the bot speaks in a chat; NULL: not chosen.
ALTER TABLE chats ADD COLUMN language TEXT;
