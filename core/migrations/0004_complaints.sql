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
CREATE INDEX complaint_status_idx ON complaint (status, received_at DESC);
CREATE INDEX complaint_opd_idx ON complaint (opd_id, status) WHERE opd_id IS NOT NULL;
CREATE INDEX complaint_received_idx ON complaint (received_at);
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

CREATE INDEX event_complaint_idx ON event (complaint_id, id) WHERE complaint_id IS NOT NULL;
