-- 0009: as SQLite's 0009 (which has nothing to do): a chat's language is cached by every
-- process that speaks to the chat, so a change of it is told to all of them on the channel
-- below, with the chat's id, when the changing transaction commits (storage/_listening.py).
CREATE FUNCTION relaytale_chat_language_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('relaytale_chat_language', NEW.id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER chat_language_changed
    AFTER UPDATE OF language ON chats
    FOR EACH ROW
    WHEN (OLD.language IS DISTINCT FROM NEW.language)
    EXECUTE FUNCTION relaytale_chat_language_changed();
