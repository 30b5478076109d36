-- 0008: a round opened for votes on a platform that shows it as a message (Telegram, Discord)
-- must have that message recorded by show_by; past it with none recorded (its process died
-- between the store and the post), any process may take the showing and post it. NULL: no
-- showing pending (the message is recorded, or the platform shows rounds in its reply).
ALTER TABLE rounds ADD COLUMN show_by REAL;
