-- Duty roster (piket) and console presence.
--
-- * shift_pattern: per agency, the shifts of a day as WIB wall-clock start + length (an 8-hour
--   night shift 23:00 runs into the next WIB day). The active patterns of an agency never overlap
--   (checked by dispatch/roster.py on every change), so each instant falls in at most one shift.
-- * roster_entry: who works which shift on which WIB day; starts_at/ends_at are the UTC instants.
-- * console_presence: one row per console WebSocket, kept after it closes so the hours with no
--   one present are computable. Present = not ended, beat within the staleness window, session
--   still signed in. A killed web process leaves rows whose beat goes stale.
-- * agency_attendance: the last "someone present / no one present" state the dispatch loop saw
--   per agency, so the alarm for the last operator leaving is raised once per transition.
-- * incident_cover: an incident handed to the command centre because an agency it was routed to
--   had no one present (one row per incident and empty agency: idempotent with two dispatchers).

ALTER TABLE incident_assignment DROP CONSTRAINT incident_assignment_reason_check;
ALTER TABLE incident_assignment ADD CONSTRAINT incident_assignment_reason_check
    CHECK (reason IN ('rule', 'fallback', 'escalation', 'manual', 'unattended', 'on_call'));

CREATE TABLE shift_pattern (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id   bigint NOT NULL REFERENCES agency(id),
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,16}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    starts      time NOT NULL,                       -- WIB wall clock
    duration    interval NOT NULL CHECK (duration > interval '0' AND duration <= interval '24 hours'),
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (agency_id, code)
);

CREATE TABLE roster_entry (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id   bigint NOT NULL REFERENCES agency(id),
    shift_id    bigint NOT NULL REFERENCES shift_pattern(id),
    day         date NOT NULL,                       -- the WIB day the shift starts
    user_id     bigint NOT NULL REFERENCES app_user(id),
    on_call     boolean NOT NULL DEFAULT false,      -- the shift's on-call supervisor
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    UNIQUE (shift_id, day, user_id)
);
CREATE INDEX roster_entry_month_idx ON roster_entry (agency_id, day);
CREATE INDEX roster_entry_now_idx ON roster_entry (agency_id, starts_at, ends_at) WHERE on_call;

CREATE TABLE console_presence (
    socket_id     uuid PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES app_user(id),
    agency_id     bigint REFERENCES agency(id),
    session_key   bytea,                             -- user_session.token_hash of the socket's session
    connected_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_beat     timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at      timestamptz,
    end_reason    text CHECK (end_reason IN ('closed', 'stale', 'signed_out'))
);
CREATE INDEX console_presence_live_idx ON console_presence (agency_id) WHERE ended_at IS NULL;
CREATE INDEX console_presence_agency_idx ON console_presence (agency_id, connected_at);

-- Consoles that count now. stale_s = the staleness window (a setting).
CREATE FUNCTION present_consoles(stale_s float8)
RETURNS TABLE (socket_id uuid, user_id bigint, agency_id bigint, connected_at timestamptz, last_beat timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p.socket_id, p.user_id, p.agency_id, p.connected_at, p.last_beat
      FROM console_presence p
      JOIN app_user u ON u.id = p.user_id AND u.active
      LEFT JOIN user_session s ON s.token_hash = p.session_key
     WHERE p.ended_at IS NULL
       AND p.last_beat > clock_timestamp() - make_interval(secs => stale_s)
       AND (p.session_key IS NULL OR (s.revoked_at IS NULL AND s.expires_at > clock_timestamp()))
$$;

CREATE TABLE agency_attendance (
    agency_id   bigint PRIMARY KEY REFERENCES agency(id),
    present     boolean NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE incident_cover (
    incident_id     uuid NOT NULL REFERENCES incident(id),
    empty_agency_id bigint NOT NULL REFERENCES agency(id),
    covered_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    on_call_user_ids bigint[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (incident_id, empty_agency_id)
);

-- The shift report: one row per agency and shift instance overlapping [p_from, p_to), plus one
-- row per agency (shift_code NULL) for alerts outside every shift. An alert belongs to the
-- agencies it was routed to (reason rule or fallback), and to the one shift instance of each that
-- contains its creation instant, so the rows add up exactly to the incident rows. Test alerts are
-- left out, as on the time-to-acknowledge table. Hours with no one present: the shift window
-- (cut to [p_from, min(p_to, now)]) minus the union of the agency's console intervals.
CREATE FUNCTION shift_report(p_from timestamptz, p_to timestamptz, stale_s float8)
RETURNS TABLE (agency_id bigint, agency text, shift_code text, shift_name text, day date,
               starts_at timestamptz, ends_at timestamptz, alerts bigint, acknowledged bigint,
               ack_p50_s float8, ack_p90_s float8, unacked_escalations bigint, hours_unattended float8)
LANGUAGE sql STABLE AS $$
WITH inst AS (
    SELECT p.agency_id, p.id AS shift_id, p.code, p.name, d::date AS day,
           ((d::date + p.starts) AT TIME ZONE 'Asia/Jakarta') AS s,
           ((d::date + p.starts) AT TIME ZONE 'Asia/Jakarta') + p.duration AS e
      FROM shift_pattern p,
           generate_series(((p_from AT TIME ZONE 'Asia/Jakarta')::date - 1)::timestamp,
                           (p_to AT TIME ZONE 'Asia/Jakarta')::date::timestamp, interval '1 day') d
     WHERE p.active
),
inst_in AS (SELECT * FROM inst WHERE e > p_from AND s < p_to),
alert AS (
    SELECT a.agency_id, i.id, i.created_at, t.acknowledged_at, coalesce(t.escalation_level, 0) AS level
      FROM incident i
      JOIN incident_assignment a ON a.incident_id = i.id AND a.reason IN ('rule', 'fallback')
      LEFT JOIN incident_track t ON t.incident_id = i.id
     WHERE i.created_at >= p_from AND i.created_at < p_to AND i.type <> 'test'
),
placed AS (
    -- the one shift of the agency containing the alert, by arithmetic on the WIB wall clock: the
    -- instance that could contain it started on the WIB day of (local time - shift start)
    SELECT al.*, p.id AS shift_id,
           ((al.created_at AT TIME ZONE 'Asia/Jakarta') - p.starts::interval)::date AS day
      FROM alert al
      LEFT JOIN shift_pattern p
        ON p.agency_id = al.agency_id AND p.active
       AND (al.created_at AT TIME ZONE 'Asia/Jakarta')
           - (((al.created_at AT TIME ZONE 'Asia/Jakarta') - p.starts::interval)::date + p.starts) < p.duration
),
stats AS (
    SELECT pl.agency_id, pl.shift_id, pl.day, count(*) AS alerts, count(pl.acknowledged_at) AS acknowledged,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM pl.acknowledged_at - pl.created_at)) AS p50,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM pl.acknowledged_at - pl.created_at)) AS p90,
           count(*) FILTER (WHERE pl.level > 0) AS esc
      FROM placed pl GROUP BY 1, 2, 3
),
cover AS (
    SELECT c.agency_id,
           range_agg(tstzrange(c.connected_at,
                               coalesce(c.ended_at, least(clock_timestamp(), c.last_beat + make_interval(secs => stale_s))))) AS m
      FROM console_presence c
     WHERE c.agency_id IS NOT NULL AND c.connected_at < p_to
       AND coalesce(c.ended_at, c.last_beat + make_interval(secs => stale_s)) > p_from - interval '1 day'
       AND coalesce(c.ended_at, least(clock_timestamp(), c.last_beat + make_interval(secs => stale_s))) > c.connected_at
     GROUP BY c.agency_id
)
SELECT n.agency_id, g.name, n.code, n.name, n.day, n.s, n.e,
       coalesce(st.alerts, 0), coalesce(st.acknowledged, 0), st.p50, st.p90, coalesce(st.esc, 0),
       CASE WHEN greatest(n.s, p_from) < least(n.e, p_to, clock_timestamp()) THEN
           coalesce((SELECT sum(extract(epoch FROM upper(r) - lower(r))) / 3600.0
                       FROM unnest(tstzmultirange(tstzrange(greatest(n.s, p_from), least(n.e, p_to, clock_timestamp())))
                                   - coalesce(cv.m, '{}'::tstzmultirange)) r), 0)
       ELSE 0 END::float8
  FROM inst_in n
  JOIN agency g ON g.id = n.agency_id
  LEFT JOIN stats st ON st.agency_id = n.agency_id AND st.shift_id = n.shift_id AND st.day = n.day
  LEFT JOIN cover cv ON cv.agency_id = n.agency_id
UNION ALL
SELECT st.agency_id, g.name, NULL, 'di luar jadwal', NULL, NULL, NULL, st.alerts, st.acknowledged,
       st.p50, st.p90, st.esc, NULL
  FROM stats st JOIN agency g ON g.id = st.agency_id
 WHERE st.shift_id IS NULL
$$;
