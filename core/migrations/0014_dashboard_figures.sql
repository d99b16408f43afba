-- The dashboard's figures (issue 16).
--
-- Who acknowledged: an incident routed to Polres and Dishub and acknowledged by a Polres operator
-- was counted as acknowledged by both. The acknowledging user and their agency are kept, and every
-- per-agency acknowledgement figure credits that agency only.
ALTER TABLE incident_track
    ADD COLUMN acknowledged_by bigint REFERENCES app_user(id),
    ADD COLUMN acknowledged_agency_id bigint REFERENCES agency(id);

-- incidents acknowledged before this migration: the audit log names who did it
UPDATE incident_track t
   SET acknowledged_by = a.user_id, acknowledged_agency_id = u.agency_id
  FROM (SELECT DISTINCT ON (object_id) object_id, user_id
          FROM audit_log
         WHERE object_type = 'incident' AND action = 'incident.acknowledged' AND user_id IS NOT NULL
         ORDER BY object_id, id) a
  JOIN app_user u ON u.id = a.user_id
 WHERE t.incident_id::text = a.object_id AND t.acknowledged_at IS NOT NULL;

CREATE INDEX incident_track_ack_agency_idx ON incident_track (acknowledged_agency_id) WHERE acknowledged_at IS NOT NULL;

-- The shift report listed unstaffed shifts from before any data existed: it now starts at SIAGA's
-- first record (below). A pattern knows when it was made, one of those records; for the existing
-- ones, the earlier of its last change and its first roster day.
ALTER TABLE shift_pattern ADD COLUMN created_at timestamptz;
UPDATE shift_pattern p
   SET created_at = least(p.updated_at, (SELECT min(e.starts_at) FROM roster_entry e WHERE e.shift_id = p.id));
ALTER TABLE shift_pattern ALTER COLUMN created_at SET NOT NULL,
                          ALTER COLUMN created_at SET DEFAULT clock_timestamp();

CREATE OR REPLACE FUNCTION shift_report(p_from timestamptz, p_to timestamptz, stale_s float8)
RETURNS TABLE (agency_id bigint, agency text, shift_code text, shift_name text, day date,
               starts_at timestamptz, ends_at timestamptz, alerts bigint, acknowledged bigint,
               ack_p50_s float8, ack_p90_s float8, unacked_escalations bigint, hours_unattended float8)
LANGUAGE sql STABLE AS $$
WITH first_fact AS (
    -- SIAGA's first record of anything on duty: a shift made, a roster day, a console, an alert.
    -- Before it there was no one to be missing, so no shift instance is reported from before it.
    SELECT least((SELECT min(created_at) FROM shift_pattern), (SELECT min(starts_at) FROM roster_entry),
                 (SELECT min(connected_at) FROM console_presence), (SELECT min(created_at) FROM incident)) AS t
),
inst AS (
    SELECT p.agency_id, p.id AS shift_id, p.code, p.name, d::date AS day, f.t AS first_at,
           ((d::date + p.starts) AT TIME ZONE 'Asia/Jakarta') AS s,
           ((d::date + p.starts) AT TIME ZONE 'Asia/Jakarta') + p.duration AS e
      FROM first_fact f, shift_pattern p,
           generate_series(((p_from AT TIME ZONE 'Asia/Jakarta')::date - 1)::timestamp,
                           (p_to AT TIME ZONE 'Asia/Jakarta')::date::timestamp, interval '1 day') d
     WHERE p.active
),
inst_in AS (SELECT * FROM inst WHERE e > p_from AND s < p_to AND e > first_at),
alert AS (
    -- an agency is credited only with the acknowledgements its own operators made
    SELECT a.agency_id, i.id, i.created_at,
           CASE WHEN t.acknowledged_agency_id = a.agency_id THEN t.acknowledged_at END AS acknowledged_at,
           coalesce(t.escalation_level, 0) AS level
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
       CASE WHEN greatest(n.s, p_from, n.first_at) < least(n.e, p_to, clock_timestamp()) THEN
           coalesce((SELECT sum(extract(epoch FROM upper(r) - lower(r))) / 3600.0
                       FROM unnest(tstzmultirange(tstzrange(greatest(n.s, p_from, n.first_at), least(n.e, p_to, clock_timestamp())))
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
