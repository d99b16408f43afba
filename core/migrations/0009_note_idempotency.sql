-- A note retried after its reply was lost (a dropped connection, a proxy timeout) must not be
-- stored twice: the client sends an Idempotency-Key, kept per user; the retry gets the note back.
ALTER TABLE incident_note ADD COLUMN request_key text CHECK (length(request_key) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX incident_note_request_key_idx ON incident_note (user_id, request_key)
    WHERE request_key IS NOT NULL;
