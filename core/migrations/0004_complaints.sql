-- Complaints: the pipeline (verification -> OPD follow-up -> citizen response), its working-day
-- clocks, dispositions per OPD, escalations, teguran, categories (Open311 services), cuti bersama.
-- Instants are UTC (timestamptz); the clock's days are WIB days, computed in complaints/clock.py,
-- and the yellow/due instants of the running stage are stored so colours are plain comparisons.

-- Collective leave (cuti bersama) an admin enters per year; public holidays come from the code.
CREATE TABLE collective_leave (
    day         date PRIMARY KEY,
    note        text NOT NULL DEFAULT '',
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Categories an admin manages; each is an Open311 service.
CREATE TABLE complaint_category (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    group_name      text NOT NULL DEFAULT '',
    keywords        text[] NOT NULL DEFAULT '{}',
    -- the OPD a complaint in this category usually goes to (a suggestion for the verifier)
    default_opd_id  bigint REFERENCES agency(id),
    -- Open311 service definition attributes (list of {code, datatype, required, description, order,
    -- values}); metadata = true when the list is non-empty
    attributes      jsonb NOT NULL DEFAULT '[]'::jsonb,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Keys for Open311 clients that POST requests (only a SHA-256 of the key is kept).
CREATE TABLE open311_client (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaint (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- what the citizen is given to follow the complaint (also the Open311 service_request_id)
    tracking_id       text NOT NULL UNIQUE,
    -- the Open311 token returned on POST
    token             text NOT NULL UNIQUE,
    kind              text NOT NULL DEFAULT 'pengaduan'
                        CHECK (kind IN ('pengaduan', 'aspirasi', 'permintaan_informasi')),
    channel           text NOT NULL CHECK (channel IN ('web', 'open311', 'app', 'dispatch', 'desk')),
    status            text NOT NULL DEFAULT 'verifikasi' CHECK (status IN
                        ('verifikasi', 'tunda', 'disposisi', 'tindak_lanjut', 'selesai', 'bukan_wewenang',
                         'arsip')),
    title             text NOT NULL DEFAULT '',
    description       text NOT NULL,
    category_id       bigint REFERENCES complaint_category(id),
    -- the OPD it is disposed to now (NULL outside the disposisi/tindak_lanjut stages)
    opd_id            bigint REFERENCES agency(id),
    lat               double precision,
    lon               double precision,
    address           text,
    desa_code         text,
    desa_name         text,
    kecamatan_code    text,
    kecamatan_name    text,
    reporter_name     text,
    reporter_email    text,
    reporter_phone    text,
    anonim            boolean NOT NULL DEFAULT false,
    rahasia           boolean NOT NULL DEFAULT false,
    media_url         text,
    attributes        jsonb NOT NULL DEFAULT '{}'::jsonb,
    open311_client_id bigint REFERENCES open311_client(id),
    -- the emergency this came from (handover from dispatch); incident.complaint_id links back
    incident_id       uuid UNIQUE REFERENCES incident(id),
    synthetic         boolean NOT NULL DEFAULT false,
    received_at       timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    -- the running stage and its clock
    stage             text CHECK (stage IN ('verifikasi', 'tindak_lanjut', 'tanggapan')),
    stage_started_at  timestamptz,
    yellow_at         timestamptz,
    due_at            timestamptz,
    red_at            timestamptz,
    -- set while waiting on the citizen in tunda (the verification and end-to-end clocks stand still)
    paused_at         timestamptz,
    bounce_count      integer NOT NULL DEFAULT 0,
    rounds            integer NOT NULL DEFAULT 0,
    closed_at         timestamptz,
    close_reason      text,
    -- working seconds from receipt to close, pauses excluded (the end-to-end clock)
    e2e_working_s     double precision,
    CHECK ((status IN ('selesai', 'bukan_wewenang', 'arsip')) = (closed_at IS NOT NULL))
);
CREATE INDEX complaint_open_due_idx ON complaint (due_at) WHERE closed_at IS NULL;
-- colours of open stages from the index alone
CREATE INDEX complaint_open_stage_idx ON complaint (stage, due_at, yellow_at) WHERE closed_at IS NULL;
-- the red list
CREATE INDEX complaint_red_idx ON complaint (due_at) WHERE closed_at IS NULL AND stage = 'tindak_lanjut';
CREATE INDEX complaint_status_idx ON complaint (status, received_at DESC);
CREATE INDEX complaint_opd_idx ON complaint (opd_id, status) WHERE opd_id IS NOT NULL;
CREATE INDEX complaint_received_idx ON complaint (received_at) INCLUDE (status);
CREATE INDEX complaint_updated_idx ON complaint (updated_at);
CREATE INDEX complaint_kecamatan_idx ON complaint (kecamatan_code, received_at);
CREATE INDEX complaint_category_idx ON complaint (category_id, received_at);

ALTER TABLE incident ADD COLUMN complaint_id bigint UNIQUE REFERENCES complaint(id);

CREATE TABLE complaint_pause (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id  bigint NOT NULL REFERENCES complaint(id),
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    -- tunda stops the verification and end-to-end clocks; tanggapan (waiting for the citizen's
    -- response to a follow-up) stops only the end-to-end clock
    kind          text NOT NULL CHECK (kind IN ('tunda', 'tanggapan')),
    reason        text NOT NULL DEFAULT '',
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX complaint_pause_idx ON complaint_pause (complaint_id);
CREATE UNIQUE INDEX complaint_pause_open_idx ON complaint_pause (complaint_id) WHERE ended_at IS NULL;

-- One row per time a complaint is sent to an OPD: that OPD's own clock and record.
CREATE TABLE complaint_disposition (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id          bigint NOT NULL REFERENCES complaint(id),
    opd_id                bigint NOT NULL REFERENCES agency(id),
    round                 integer NOT NULL,
    disposed_at           timestamptz NOT NULL,
    disposed_by           text,
    note                  text NOT NULL DEFAULT '',
    yellow_at             timestamptz NOT NULL,
    due_at                timestamptz NOT NULL,
    red_at                timestamptz,
    opd_head_notified_at  timestamptz,
    sekda_due_at          timestamptz,
    sekda_notified_at     timestamptz,
    finished_at           timestamptz,
    outcome               text CHECK (outcome IN ('followed_up', 'returned', 'withdrawn')),
    followup_text         text,
    followup_photo        bytea,
    followup_photo_type   text,
    return_reason         text,
    -- working seconds the OPD took (set when finished)
    working_s             double precision,
    on_time               boolean,
    synthetic             boolean NOT NULL DEFAULT false,
    UNIQUE (complaint_id, round)
);
CREATE UNIQUE INDEX complaint_disposition_open_idx ON complaint_disposition (complaint_id) WHERE finished_at IS NULL;
CREATE INDEX complaint_disposition_opd_idx ON complaint_disposition (opd_id, disposed_at);
CREATE INDEX complaint_disposition_due_idx ON complaint_disposition (due_at) WHERE finished_at IS NULL;

-- Every change of a complaint: who, what, before and after.
CREATE TABLE complaint_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id  bigint NOT NULL REFERENCES complaint(id),
    at            timestamptz NOT NULL,
    action        text NOT NULL,
    actor_user_id bigint,
    actor_name    text NOT NULL,
    actor_role    text NOT NULL,
    before        jsonb,
    after         jsonb,
    note          text NOT NULL DEFAULT ''
);
CREATE INDEX complaint_history_idx ON complaint_history (complaint_id, id);

-- Notifications of red complaints (to the OPD head at red, to the Sekda two working days later).
CREATE TABLE complaint_escalation (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id    bigint NOT NULL REFERENCES complaint(id),
    disposition_id  bigint NOT NULL REFERENCES complaint_disposition(id),
    opd_id          bigint NOT NULL REFERENCES agency(id),
    level           text NOT NULL CHECK (level IN ('opd_head', 'sekda')),
    at              timestamptz NOT NULL,
    UNIQUE (disposition_id, level)
);

-- A reprimand from a leader to an OPD with red complaints.
CREATE TABLE teguran (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    opd_id         bigint NOT NULL REFERENCES agency(id),
    issued_by      bigint,
    issued_by_name text NOT NULL,
    issued_at      timestamptz NOT NULL,
    text           text NOT NULL,
    complaint_ids  bigint[] NOT NULL DEFAULT '{}',
    read_at        timestamptz,
    read_by        text
);
CREATE INDEX teguran_opd_idx ON teguran (opd_id, issued_at DESC);

-- --- rollups for the dashboard --------------------------------------------------------------
-- Counts per WIB day kept by statement-level triggers (one aggregated upsert per statement, keys in
-- order so concurrent writers cannot deadlock), so a year of dashboard reads a few thousand rows
-- instead of a million.
CREATE TABLE complaint_daily (
    day             date NOT NULL,
    status          text NOT NULL,
    -- '' when the complaint has no place
    kecamatan_code  text NOT NULL,
    n               bigint NOT NULL,
    PRIMARY KEY (day, status, kecamatan_code)
);

CREATE FUNCTION complaint_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- each transition table exists only for its operations, so each branch names only its own
    IF TG_OP = 'INSERT' THEN
        INSERT INTO complaint_daily (day, status, kecamatan_code, n)
        SELECT (received_at AT TIME ZONE 'Asia/Jakarta')::date, status, coalesce(kecamatan_code, ''), count(*)
          FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (day, status, kecamatan_code) DO UPDATE SET n = complaint_daily.n + EXCLUDED.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO complaint_daily (day, status, kecamatan_code, n)
        SELECT day, status, kec, sum(d) FROM (
                SELECT (received_at AT TIME ZONE 'Asia/Jakarta')::date AS day, status,
                       coalesce(kecamatan_code, '') AS kec, 1 AS d FROM new_rows
                UNION ALL
                SELECT (received_at AT TIME ZONE 'Asia/Jakarta')::date, status, coalesce(kecamatan_code, ''), -1
                  FROM old_rows) x
         GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (day, status, kecamatan_code) DO UPDATE SET n = complaint_daily.n + EXCLUDED.n;
    ELSE
        INSERT INTO complaint_daily (day, status, kecamatan_code, n)
        SELECT (received_at AT TIME ZONE 'Asia/Jakarta')::date, status, coalesce(kecamatan_code, ''), -count(*)
          FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (day, status, kecamatan_code) DO UPDATE SET n = complaint_daily.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER complaint_daily_insert AFTER INSERT ON complaint
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION complaint_daily_apply();
CREATE TRIGGER complaint_daily_update AFTER UPDATE ON complaint
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION complaint_daily_apply();
CREATE TRIGGER complaint_daily_delete AFTER DELETE ON complaint
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION complaint_daily_apply();

-- Per OPD and WIB day of disposition: how its finished dispositions went. Open ones that are
-- overdue are counted live (few rows, indexed).
CREATE TABLE complaint_disposition_daily (
    day       date NOT NULL,
    opd_id    bigint NOT NULL,
    total     bigint NOT NULL,
    on_time   bigint NOT NULL,
    late      bigint NOT NULL,
    returned  bigint NOT NULL,
    PRIMARY KEY (day, opd_id)
);

CREATE FUNCTION complaint_disposition_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- each transition table exists only for its operations, so each branch names only its own
    IF TG_OP = 'INSERT' THEN
        INSERT INTO complaint_disposition_daily (day, opd_id, total, on_time, late, returned)
        SELECT day, opd_id, sum(total), sum(on_time), sum(late), sum(returned) FROM (
                SELECT (disposed_at AT TIME ZONE 'Asia/Jakarta')::date AS day, opd_id, 1 AS total,
                       CASE WHEN outcome = 'followed_up' AND on_time THEN 1 ELSE 0 END AS on_time,
                       CASE WHEN outcome = 'followed_up' AND NOT on_time THEN 1 ELSE 0 END AS late,
                       CASE WHEN outcome = 'returned' THEN 1 ELSE 0 END AS returned
                  FROM new_rows) x
         GROUP BY 1, 2
        HAVING sum(total) <> 0 OR sum(on_time) <> 0 OR sum(late) <> 0 OR sum(returned) <> 0
         ORDER BY 1, 2
        ON CONFLICT (day, opd_id) DO UPDATE
            SET total = complaint_disposition_daily.total + EXCLUDED.total,
                on_time = complaint_disposition_daily.on_time + EXCLUDED.on_time,
                late = complaint_disposition_daily.late + EXCLUDED.late,
                returned = complaint_disposition_daily.returned + EXCLUDED.returned;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO complaint_disposition_daily (day, opd_id, total, on_time, late, returned)
        SELECT day, opd_id, sum(total), sum(on_time), sum(late), sum(returned) FROM (
                SELECT (disposed_at AT TIME ZONE 'Asia/Jakarta')::date AS day, opd_id, 1 AS total,
                       CASE WHEN outcome = 'followed_up' AND on_time THEN 1 ELSE 0 END AS on_time,
                       CASE WHEN outcome = 'followed_up' AND NOT on_time THEN 1 ELSE 0 END AS late,
                       CASE WHEN outcome = 'returned' THEN 1 ELSE 0 END AS returned
                  FROM new_rows
                UNION ALL
                SELECT (disposed_at AT TIME ZONE 'Asia/Jakarta')::date AS day, opd_id, -1 AS total,
                       CASE WHEN outcome = 'followed_up' AND on_time THEN -1 ELSE 0 END AS on_time,
                       CASE WHEN outcome = 'followed_up' AND NOT on_time THEN -1 ELSE 0 END AS late,
                       CASE WHEN outcome = 'returned' THEN -1 ELSE 0 END AS returned
                  FROM old_rows) x
         GROUP BY 1, 2
        HAVING sum(total) <> 0 OR sum(on_time) <> 0 OR sum(late) <> 0 OR sum(returned) <> 0
         ORDER BY 1, 2
        ON CONFLICT (day, opd_id) DO UPDATE
            SET total = complaint_disposition_daily.total + EXCLUDED.total,
                on_time = complaint_disposition_daily.on_time + EXCLUDED.on_time,
                late = complaint_disposition_daily.late + EXCLUDED.late,
                returned = complaint_disposition_daily.returned + EXCLUDED.returned;
    ELSE
        INSERT INTO complaint_disposition_daily (day, opd_id, total, on_time, late, returned)
        SELECT day, opd_id, sum(total), sum(on_time), sum(late), sum(returned) FROM (
                SELECT (disposed_at AT TIME ZONE 'Asia/Jakarta')::date AS day, opd_id, -1 AS total,
                       CASE WHEN outcome = 'followed_up' AND on_time THEN -1 ELSE 0 END AS on_time,
                       CASE WHEN outcome = 'followed_up' AND NOT on_time THEN -1 ELSE 0 END AS late,
                       CASE WHEN outcome = 'returned' THEN -1 ELSE 0 END AS returned
                  FROM old_rows) x
         GROUP BY 1, 2
        HAVING sum(total) <> 0 OR sum(on_time) <> 0 OR sum(late) <> 0 OR sum(returned) <> 0
         ORDER BY 1, 2
        ON CONFLICT (day, opd_id) DO UPDATE
            SET total = complaint_disposition_daily.total + EXCLUDED.total,
                on_time = complaint_disposition_daily.on_time + EXCLUDED.on_time,
                late = complaint_disposition_daily.late + EXCLUDED.late,
                returned = complaint_disposition_daily.returned + EXCLUDED.returned;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER complaint_disposition_daily_insert AFTER INSERT ON complaint_disposition
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION complaint_disposition_daily_apply();
CREATE TRIGGER complaint_disposition_daily_update AFTER UPDATE ON complaint_disposition
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION complaint_disposition_daily_apply();
CREATE TRIGGER complaint_disposition_daily_delete AFTER DELETE ON complaint_disposition
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION complaint_disposition_daily_apply();

-- incidents by kecamatan over a period for the dashboard, from the index alone
CREATE INDEX incident_dashboard_idx ON incident (created_at) INCLUDE (kecamatan_code);

CREATE INDEX event_complaint_idx ON event (complaint_id, id) WHERE complaint_id IS NOT NULL;
