-- The citizen's secret: a tracking id is printed on receipts and listed by Open311, so it
-- cannot authorise anything. Each complaint gets its own 128-bit secret, given to the reporter once;
-- only its SHA-256 is kept. Complaints filed before this migration have none: their reporters act
-- through the complaint desk only.
ALTER TABLE complaint ADD COLUMN citizen_secret_hash bytea CHECK (length(citizen_secret_hash) = 32);

-- Requests counted by core/ratelimit.py, one row per request let through, per (scope, key). Web roles
-- are stateless and there may be several, so the count lives here; rows older than the window of
-- their scope are pruned by the next request of the same key.
CREATE TABLE rate_limit_hit (
    scope  text NOT NULL,
    key    text NOT NULL,
    at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_limit_hit_key_idx ON rate_limit_hit (scope, key, at);
