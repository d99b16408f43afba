-- A refused payload is kept only up to a few KiB (SIAGA_DEAD_LETTER_KEEP_BYTES): a device that
-- sent 20 MiB must not cost 20 MiB of disk per attempt. What was received is still on record:
-- its full length, and the SHA-256 of the whole payload, so a kept prefix can be matched to what
-- the sender says it sent. Rows from before this migration hold their whole payload.
ALTER TABLE dead_letter ADD COLUMN payload_length bigint CHECK (payload_length >= 0);
ALTER TABLE dead_letter ADD COLUMN payload_sha256 bytea CHECK (octet_length(payload_sha256) = 32);
UPDATE dead_letter SET payload_length = octet_length(payload), payload_sha256 = sha256(payload);
ALTER TABLE dead_letter ALTER COLUMN payload_length SET NOT NULL;
ALTER TABLE dead_letter ALTER COLUMN payload_sha256 SET NOT NULL;
ALTER TABLE dead_letter ADD CONSTRAINT dead_letter_payload_kept_within_length
    CHECK (octet_length(payload) <= payload_length);
