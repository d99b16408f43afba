-- The citizen app: phone verification and app installs. OsmAnd and GT06 trackers need no
-- table of their own: they are `device` rows of kind 'osmand' (the OsmAnd id is the device id) and
-- 'gt06' (found by `imei`).

-- A pending registration: a one-time code sent to a phone. Only a hash of the code is kept; the
-- code is short, so attempts are capped and it expires.
CREATE TABLE app_registration (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    phone        text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    code_hash    bytea NOT NULL,
    client_ip    text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at   timestamptz NOT NULL,
    attempts     smallint NOT NULL DEFAULT 0,
    verified_at  timestamptz
);
CREATE INDEX app_registration_phone_idx ON app_registration (phone, created_at);

-- One app installation = one `device` row of kind 'app'. The bearer token is never stored, only
-- its SHA-256 (it is 256 random bits, so a fast hash is enough).
CREATE TABLE app_install (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    device_id       text NOT NULL UNIQUE REFERENCES device(id),
    registration_id uuid NOT NULL UNIQUE REFERENCES app_registration(id),
    phone           text NOT NULL,
    token_hash      bytea NOT NULL UNIQUE,
    platform        text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX app_install_phone_idx ON app_install (phone);
