-- Dispatch: users, sessions, the audit log, routing rules, assignments, notes, escalation timers.

-- The command centre is the fallback of every routing rule, so it must exist.
INSERT INTO agency (code, kind, name, short_name, source)
SELECT 'PUSDALOPS', 'command_centre', 'Pusat Kendali Bupati Wonosobo', 'Command Centre', 'siaga seed'
 WHERE NOT EXISTS (SELECT 1 FROM agency WHERE kind = 'command_centre');

ALTER TABLE incident ADD CONSTRAINT incident_state_check CHECK (state IN
    ('new', 'acknowledged', 'dispatched', 'on_scene', 'resolved', 'false_alarm', 'handed_to_complaints'));

-- --- people -------------------------------------------------------------------------------
CREATE TABLE app_user (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    full_name      text NOT NULL DEFAULT '',
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN
                     ('operator', 'supervisor', 'command_centre', 'complaint_staff', 'opd_officer',
                      'leader', 'admin')),
    agency_id      bigint REFERENCES agency(id),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (username),
    -- an operator works for one agency, an OPD officer for one OPD
    CHECK (role NOT IN ('operator', 'opd_officer') OR agency_id IS NOT NULL)
);

-- Server-side sessions: only a SHA-256 of the token is stored, so a database dump grants nothing.
CREATE TABLE user_session (
    token_hash    bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES app_user(id),
    kind          text NOT NULL CHECK (kind IN ('web', 'api')),
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    client_ip     text,
    user_agent    text
);
CREATE INDEX user_session_user_idx ON user_session (user_id);

CREATE TABLE login_attempt (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    username   text NOT NULL,
    client_ip  text,
    ok         boolean NOT NULL
);
CREATE INDEX login_attempt_user_idx ON login_attempt (username, at) WHERE NOT ok;
CREATE INDEX login_attempt_ip_idx ON login_attempt (client_ip, at) WHERE NOT ok;

-- --- audit log: append-only ------------------------------------------------------------------
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_id      bigint,
    username     text NOT NULL,
    role         text,
    action       text NOT NULL,
    object_type  text,
    object_id    text,
    before       jsonb,
    after        jsonb,
    client_ip    text
);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id, id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- --- routing rules: data an admin can change --------------------------------------------------
-- One row = "alerts of this type go to this target". Targets:
--   covering_police  the police unit covering the incident's place (incident.police_agency_id)
--   covering_dishub  the Dishub agency of the incident's Dishub post, else any active Dishub
--   agency_kind      every active agency of agency_kind (e.g. damkar, psc119)
--   command_centre   the command centre
--   none             logged only, no dispatch (test alerts)
-- When a target finds no agency the command centre takes it (if fallback_command_centre).
CREATE TABLE routing_rule (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_type     text NOT NULL,
    target         text NOT NULL CHECK (target IN
                     ('covering_police', 'covering_dishub', 'agency_kind', 'command_centre', 'none')),
    agency_kind    text,
    fallback_command_centre boolean NOT NULL DEFAULT true,
    active         boolean NOT NULL DEFAULT true,
    note           text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((target = 'agency_kind') = (agency_kind IS NOT NULL)),
    UNIQUE (alert_type, target, agency_kind)
);

INSERT INTO routing_rule (alert_type, target, agency_kind, note) VALUES
    ('panic',    'covering_police', NULL,     'tombol darurat -> polsek setempat'),
    ('crime',    'covering_police', NULL,     'kejahatan -> polsek setempat'),
    ('accident', 'covering_police', NULL,     'kecelakaan -> polisi'),
    ('accident', 'covering_dishub', NULL,     'kecelakaan -> Dishub'),
    ('fire',     'agency_kind',     'damkar', 'kebakaran -> Damkar, bila tidak ada: command centre'),
    ('medical',  'agency_kind',     'psc119', 'medis -> PSC 119, bila tidak ada: command centre'),
    ('test',     'none',            NULL,     'uji: dicatat, tidak didispatch');

-- --- per-incident dispatch state ---------------------------------------------------------------
-- One row per routed incident (its presence means "routed"), the stamps of each step and the
-- escalation level, kept apart from the gateway's incident table.
CREATE TABLE incident_track (
    incident_id       uuid PRIMARY KEY REFERENCES incident(id),
    routed_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    dispatch          boolean NOT NULL,
    route_reason      text NOT NULL,
    escalation_level  smallint NOT NULL DEFAULT 0,
    escalated_at      timestamptz,
    flagged_at        timestamptz,
    acknowledged_at   timestamptz,
    dispatched_at     timestamptz,
    on_scene_at       timestamptz,
    closed_at         timestamptz
);

CREATE TABLE incident_assignment (
    incident_id  uuid NOT NULL REFERENCES incident(id),
    agency_id    bigint NOT NULL REFERENCES agency(id),
    reason       text NOT NULL CHECK (reason IN ('rule', 'fallback', 'escalation', 'manual')),
    assigned_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (incident_id, agency_id)
);
CREATE INDEX incident_assignment_agency_idx ON incident_assignment (agency_id, incident_id);

CREATE TABLE incident_note (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incident(id),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_id     bigint REFERENCES app_user(id),
    username    text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('note', 'dispatch', 'system')),
    body        text NOT NULL CHECK (length(body) <= 4000),
    unit_id     bigint REFERENCES agency_unit(id),
    unit_label  text
);
CREATE INDEX incident_note_incident_idx ON incident_note (incident_id, id);

-- Escalation timers. A dispatch process claims due rows with FOR UPDATE SKIP LOCKED and stamps
-- fired_at in the same transaction as the escalation, so each timer acts exactly once, whichever
-- process takes it and however often processes restart.
CREATE TABLE dispatch_timer (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  uuid NOT NULL REFERENCES incident(id),
    kind         text NOT NULL CHECK (kind IN ('ack_supervisor', 'ack_command_centre', 'on_scene')),
    due_at       timestamptz NOT NULL,
    fired_at     timestamptz,
    outcome      text,
    UNIQUE (incident_id, kind)
);
CREATE INDEX dispatch_timer_due_idx ON dispatch_timer (due_at) WHERE fired_at IS NULL;

-- What routing needs to know about an incident (read after the incident row is locked).
CREATE VIEW incident_routing_input AS
SELECT i.id, i.number, i.type, i.state, i.created_at, i.device_id, i.location_source, i.lat,
       i.outside_regency, i.police_agency_id, u.agency_id AS dishub_agency_id, a.seq
  FROM incident i
  JOIN alert a ON a.id = i.alert_id
  LEFT JOIN agency_unit u ON u.id = i.dishub_unit_id;

-- One row of the console's incident list.
CREATE VIEW incident_console AS
SELECT i.id, i.number, i.type, i.state, i.created_at, i.updated_at, i.device_id,
       d.name AS device_name, d.kind AS device_kind,
       i.lat, i.lon, i.accuracy_m, i.location_source, i.desa_code, i.desa_name,
       i.kecamatan_code, i.kecamatan_name, i.outside_regency, i.battery,
       coalesce(t.escalation_level, 0) AS escalation_level, t.flagged_at, t.acknowledged_at,
       t.routed_at, coalesce(t.dispatch, true) AS dispatch,
       array(SELECT x.agency_id FROM incident_assignment x WHERE x.incident_id = i.id
             ORDER BY x.agency_id) AS agencies
  FROM incident i
  JOIN device d ON d.id = i.device_id
  LEFT JOIN incident_track t ON t.incident_id = i.id;
