-- The dashboard at regency scale for years (issue 16: 1M complaints, 200k incidents, every page
-- and chart p95 < 300 ms, measured by `siaga bench dashboard`).
--
-- JIT off for this database. Measured at 1M/200k: `shift_report` over 7 days ran 2,047 ms with
-- JIT (about 1.8 s of it compiling) and 251 ms without; every dashboard query is a short read
-- where compiling never pays back. ALTER DATABASE needs the owner: a deployment whose migrating
-- role is not the owner keeps its setting and is told why (set jit = off in postgresql.conf).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'jit stays as configured: % is not the owner of the database; the dashboard is '
                 'faster with jit = off in postgresql.conf', current_user;
END $$;

-- Per-agency stage times over a period (new -> acknowledged -> dispatched -> on scene ->
-- resolved; p50/p90) and incidents per day by type, per desa and per kecamatan read incidents by
-- creation time with these columns only: an index-only range scan instead of the table.
CREATE INDEX incident_created_cover_idx ON incident (created_at)
    INCLUDE (id, type, state, kecamatan_code, desa_code);
-- the stamps of each incident, read by incident id for the rows above
CREATE INDEX incident_track_cover_idx ON incident_track (incident_id)
    INCLUDE (acknowledged_at, acknowledged_agency_id, escalation_level, dispatched_at, on_scene_at, closed_at);
-- who each incident was routed to, and why, by incident id (the PK leads with incident_id but
-- does not carry the reason the figures filter on)
CREATE INDEX incident_assignment_cover_idx ON incident_assignment (incident_id) INCLUDE (agency_id, reason);
-- drill-down lists of incidents: per desa and per type, newest first, LIMIT 100
CREATE INDEX incident_desa_idx ON incident (desa_code, created_at DESC);
CREATE INDEX incident_type_idx ON incident (type, created_at DESC);

-- Complaints per desa on the map, and the drill-down lists per desa and per OPD, newest first.
CREATE INDEX complaint_desa_idx ON complaint (desa_code, received_at DESC);
CREATE INDEX complaint_opd_received_idx ON complaint (opd_id, received_at DESC) WHERE opd_id IS NOT NULL;

-- Red dispositions at the end of each day of a period: a disposition is red at instant T when it
-- fell due by T and was not finished by T, so it is found by its due date with what decides it.
CREATE INDEX complaint_disposition_due_all_idx ON complaint_disposition (due_at)
    INCLUDE (opd_id, finished_at, red_at, outcome);
-- the OPD league table and its drill-down by when a disposition was finished
CREATE INDEX complaint_disposition_finished_idx ON complaint_disposition (finished_at)
    INCLUDE (opd_id, outcome, on_time, due_at) WHERE finished_at IS NOT NULL;
-- when a finished disposition stopped being red (or, finished before its due date, when it would
-- have turned red and stopped at once): the later of the two
-- (the columns are included too: without them PostgreSQL reads the table instead of the index)
CREATE INDEX complaint_disposition_red_end_idx ON complaint_disposition ((greatest(due_at, finished_at)))
    INCLUDE (opd_id, due_at, finished_at) WHERE finished_at IS NOT NULL;
-- the open ones by due date, with their OPD (0004's partial index on due_at lacks it)
CREATE INDEX complaint_disposition_open_due_idx ON complaint_disposition (due_at) INCLUDE (opd_id)
    WHERE finished_at IS NULL;

-- Red dispositions at the end of each WIB day from p_from to p_to, per OPD: a disposition is red
-- at instant E when it fell due by E and was not finished by E (due_at <= E AND (finished_at IS
-- NULL OR finished_at > E)), E the midnight WIB ending the day. Asked literally per day this is a
-- range join of every day with the whole table (17 s for 30 days at 1M complaints); counted as a
-- sweep it reads each disposition once: the red ones at the start, plus those falling due each
-- day, minus those leaving red each day (the later of due and finished falls that day).
-- Every OPD with a red disposition in the period gets every day, zeros included.
CREATE FUNCTION disposition_red_daily(p_from date, p_to date)
RETURNS TABLE (day date, opd_id bigint, red bigint)
LANGUAGE sql STABLE AS $$
WITH s AS (SELECT (p_from::timestamp AT TIME ZONE 'Asia/Jakarta') AS t,
                  ((p_to + 1)::timestamp AT TIME ZONE 'Asia/Jakarta') AS e),
base AS (
    SELECT d.opd_id, count(*) AS n FROM complaint_disposition d, s
     WHERE d.due_at <= s.t AND d.finished_at IS NULL GROUP BY 1
    UNION ALL
    SELECT d.opd_id, count(*) FROM complaint_disposition d, s
     WHERE d.due_at <= s.t AND d.finished_at > s.t GROUP BY 1
),
-- the day whose closing midnight is the first at or after the instant; WIB has no daylight
-- saving, so the day is binned from a WIB midnight by arithmetic (a time zone lookup per row cost
-- more than the rest), each side counted on its own before the two are put together
entered AS (
    SELECT d.opd_id, date_bin('1 day', d.due_at - interval '1 microsecond', timestamptz '2000-01-01 00:00+07') AS b,
           count(*) AS n
      FROM complaint_disposition d, s WHERE d.due_at > s.t AND d.due_at <= s.e GROUP BY 1, 2
),
left_red AS (
    SELECT d.opd_id,
           date_bin('1 day', greatest(d.due_at, d.finished_at) - interval '1 microsecond',
                    timestamptz '2000-01-01 00:00+07') AS b,
           count(*) AS n
      FROM complaint_disposition d, s
     WHERE d.finished_at IS NOT NULL AND greatest(d.due_at, d.finished_at) > s.t
       AND greatest(d.due_at, d.finished_at) <= s.e
     GROUP BY 1, 2
),
per_day AS (
    SELECT m.opd_id, (m.b AT TIME ZONE 'Asia/Jakarta')::date AS day, sum(m.n) AS n
      FROM (SELECT opd_id, b, n FROM entered UNION ALL SELECT opd_id, b, -n FROM left_red) m
     GROUP BY 1, 2
),
opds AS (SELECT b.opd_id FROM base b UNION SELECT p.opd_id FROM per_day p),
start AS (SELECT b.opd_id, sum(b.n) AS n FROM base b GROUP BY 1)
SELECT g.day::date, o.opd_id,
       (coalesce(st.n, 0) + sum(coalesce(p.n, 0)) OVER (PARTITION BY o.opd_id ORDER BY g.day))::bigint
  FROM opds o
 CROSS JOIN generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') g(day)
  LEFT JOIN start st ON st.opd_id = o.opd_id
  LEFT JOIN per_day p ON p.opd_id = o.opd_id AND p.day = g.day::date
$$;
