-- The alert path: devices, alerts, incidents, telemetry, dead letters, the event bus.

CREATE TABLE agency (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL UNIQUE,
    kind            text NOT NULL CHECK (kind IN
                      ('polres', 'polsek', 'dishub', 'damkar', 'psc119', 'bpbd', 'command_centre', 'opd', 'other')),
    name            text NOT NULL,
    short_name      text,
    -- the kecamatan (Kemendagri code, e.g. 33.07.09) a polsek covers
    kecamatan_code  text,
    parent_id       bigint REFERENCES agency(id),
    active          boolean NOT NULL DEFAULT true,
    source          text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agency_unit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id   bigint NOT NULL REFERENCES agency(id),
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'unit',
    lat         double precision,
    lon         double precision,
    active      boolean NOT NULL DEFAULT true,
    source      text,
    UNIQUE (agency_id, name)
);

CREATE TABLE device (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{3,64}$'),
    name            text NOT NULL,
    description     text,
    kind            text NOT NULL DEFAULT 'button' CHECK (kind IN ('button', 'app', 'osmand', 'gt06')),
    -- argon2 hash of the device secret (checked by SIAGA itself, e.g. the embedded broker)
    secret_hash     text,
    -- the same secret as Mosquitto's PBKDF2-SHA512 "$7$" hash, for the broker's password file
    broker_hash     text,
    imei            text UNIQUE,
    fixed           boolean NOT NULL DEFAULT false,
    install_lat     double precision,
    install_lon     double precision,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz,
    online          boolean NOT NULL DEFAULT false,
    status_at       timestamptz,
    last_seen_at    timestamptz,
    last_seq        bigint,
    battery         smallint,
    rssi            smallint,
    last_lat        double precision,
    last_lon        double precision,
    last_acc_m      real,
    last_fix_at     timestamptz,
    CHECK (NOT fixed OR (install_lat IS NOT NULL AND install_lon IS NOT NULL))
);

CREATE TABLE alert (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    text NOT NULL REFERENCES device(id),
    seq          bigint NOT NULL,
    type         text NOT NULL,
    device_ts    timestamptz,
    received_at  timestamptz NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    channel      text NOT NULL DEFAULT 'mqtt',
    payload      jsonb NOT NULL,
    -- the idempotency key of the wire contract: a redelivered alert is absorbed here
    UNIQUE (device_id, seq)
);

CREATE TABLE incident (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    alert_id            bigint NOT NULL UNIQUE REFERENCES alert(id),
    device_id           text NOT NULL REFERENCES device(id),
    type                text NOT NULL,
    state               text NOT NULL DEFAULT 'new',
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    lat                 double precision,
    lon                 double precision,
    accuracy_m          real,
    location_source     text NOT NULL DEFAULT 'unknown'
                          CHECK (location_source IN ('gps', 'cell', 'fixed', 'last_known', 'unknown')),
    desa_code           text,
    desa_name           text,
    kecamatan_code      text,
    kecamatan_name      text,
    -- metres from the point to the desa it was placed in (0 inside; > 0 for the gap fallback)
    area_distance_m     real,
    outside_regency     boolean NOT NULL DEFAULT false,
    police_agency_id    bigint REFERENCES agency(id),
    dishub_unit_id      bigint REFERENCES agency_unit(id),
    battery             smallint
);
CREATE INDEX incident_open_idx ON incident (created_at DESC) WHERE state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints');
CREATE INDEX incident_created_idx ON incident (created_at);
CREATE INDEX incident_kecamatan_idx ON incident (kecamatan_code, created_at);

-- Telemetry is high volume and append-only: no foreign key (the gateway checks the device), one index.
CREATE TABLE telemetry (
    device_id    text NOT NULL,
    seq          bigint,
    device_ts    timestamptz,
    received_at  timestamptz NOT NULL,
    battery      smallint,
    rssi         smallint,
    lat          double precision,
    lon          double precision,
    accuracy_m   real,
    mcc          smallint,
    mnc          smallint,
    lac          bigint,
    cid          bigint
);
CREATE INDEX telemetry_device_time_idx ON telemetry (device_id, received_at);
CREATE INDEX telemetry_time_brin ON telemetry USING brin (received_at);

CREATE TABLE dead_letter (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    channel      text NOT NULL,
    topic        text,
    device_id    text,
    reason       text NOT NULL,
    detail       text,
    payload      bytea NOT NULL
);
CREATE INDEX dead_letter_time_idx ON dead_letter (received_at);

-- Messages for a device's `down` topic. The gateway owns the MQTT connection, so any role that
-- wants to tell a device something writes a row here; the gateway publishes it and stamps sent_at.
CREATE TABLE downlink (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    text NOT NULL REFERENCES device(id),
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- a gateway claims a row before publishing; a claim older than a timeout may be taken over
    claimed_by   text,
    claimed_at   timestamptz,
    sent_at      timestamptz
);
CREATE INDEX downlink_unsent_idx ON downlink (id) WHERE sent_at IS NULL;

CREATE FUNCTION downlink_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('siaga_downlink', '');
    RETURN NULL;
END $$;
CREATE TRIGGER downlink_notify AFTER INSERT ON downlink
    FOR EACH STATEMENT EXECUTE FUNCTION downlink_notify();

-- The bus between roles. Readers page by (txid, id): every transaction older than the snapshot's
-- xmin has finished, so a row is never skipped because a slower transaction committed it late.
CREATE TABLE event (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind         text NOT NULL,
    incident_id  uuid,
    complaint_id bigint,
    data         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX event_cursor_idx ON event (txid, id);

-- Every txid below this has finished, or belongs to a transaction that pg_stat_activity places in
-- another database (so a long import next door does not hold SIAGA's readers back). Anything not
-- known to be elsewhere counts as ours: a race or missing privileges only delay, never skip.
CREATE FUNCTION bus_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
          WHERE (x::text::bigint % 4294967296) NOT IN (
                SELECT backend_xid::text::bigint FROM pg_stat_activity
                 WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database())),
        pg_snapshot_xmax(pg_current_snapshot()))
$$;

-- The wake-up for readers of the bus, once per inserting statement (delivered at commit).
CREATE FUNCTION event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('siaga_event', '');
    RETURN NULL;
END $$;
CREATE TRIGGER event_notify AFTER INSERT ON event
    FOR EACH STATEMENT EXECUTE FUNCTION event_notify();
CREATE INDEX event_incident_idx ON event (incident_id, id);
