-- 0004: the language the bot speaks in a chat (/settings language, or the language of the
-- member who started its first story); NULL: not chosen (the platform's or config's default).
ALTER TABLE chats ADD COLUMN language TEXT;
