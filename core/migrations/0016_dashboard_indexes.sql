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
    INCLUDE (opd_id, outcome, on_time) WHERE finished_at IS NOT NULL;
