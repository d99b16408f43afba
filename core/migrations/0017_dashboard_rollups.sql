-- Per-WIB-day summaries of settled history for the dashboard (issue 16: every page and chart
-- p95 < 300 ms at 1M complaints / 200k incidents, every figure exact).
--
-- A summary row holds what a figure needs of one WIB day: counts, and for the quantiles the exact
-- seconds of every incident, so the percentile over a period's days is the one over the base rows,
-- not an estimate. The seconds are float8 values packed as float8send writes them (8 bytes, big
-- endian, one after the other): a year of them is gathered by concatenating bytes, ~10 ms, where
-- unnesting ~200k array elements, or sorting them for percentile_cont, took 40-300 ms. A day is summarised on
-- first need (dash_rollup_build, called by dashboard/rollup.py) and summarised again after any
-- write touches it: the triggers below bump the day's version, and a summary is valid only while
-- the version it was built from is the current one. Today and yesterday are never summarised
-- (the figures count them live from the base rows), so the dispatch hot path, which writes
-- today's incidents, only computes a date and returns.
--
-- Why versions and not "delete the summary": a builder that read the base rows before a write
-- committed would otherwise store what it read after the write's delete ran, and the stale row
-- would stay. Here the builder reads the versions first and records the one it saw; a write
-- committed after that has a newer version, so the day is rebuilt on the next read.
CREATE TABLE dash_rollup_day (
    kind          text NOT NULL,   -- 'incident', 'disposition', 'complaint'
    day           date NOT NULL,   -- WIB day
    version       bigint NOT NULL DEFAULT 1,
    built_version bigint,          -- the version the summary rows were built from; NULL: none
    PRIMARY KEY (kind, day)
);

-- Emergencies per WIB day of creation and agency routed to (reason rule or fallback), tests left
-- out: the time-to-acknowledge table. ack_s: seconds to the acknowledgement this agency's own
-- operators made, one value per acknowledged assignment.
CREATE TABLE dash_ack_day (
    day       date NOT NULL,
    agency_id bigint NOT NULL,
    n         bigint NOT NULL,
    acked     bigint NOT NULL,
    escalated bigint NOT NULL,
    ack_s     bytea NOT NULL,
    PRIMARY KEY (day, agency_id)
);

-- The same alerts outside every active shift of their agency: the shift report's
-- 'di luar jadwal' rows (they depend on shift_pattern too: a pattern change bumps every day).
CREATE TABLE dash_unscheduled_day (
    day       date NOT NULL,
    agency_id bigint NOT NULL,
    n         bigint NOT NULL,
    acked     bigint NOT NULL,
    escalated bigint NOT NULL,
    ack_s     bytea NOT NULL,
    PRIMARY KEY (day, agency_id)
);

-- Per WIB day and agency credited with the acknowledgement: the seconds of each stage (the
-- non-null ones; percentile_cont and count leave nulls out, so these do too).
CREATE TABLE dash_stage_day (
    day       date NOT NULL,
    agency_id bigint NOT NULL,
    diterima  bytea NOT NULL,
    dikirim   bytea NOT NULL,
    tiba      bytea NOT NULL,
    selesai   bytea NOT NULL,
    PRIMARY KEY (day, agency_id)
);

-- Emergencies (tests left out) per WIB day and type (the daily chart), and per WIB day, kecamatan
-- and desa (the map): apart, as together they would be nearly a row per incident.
CREATE TABLE dash_incident_type_day (
    day  date NOT NULL,
    type text NOT NULL,
    n    bigint NOT NULL,
    PRIMARY KEY (day, type)
);
CREATE TABLE dash_incident_area_day (
    day            date NOT NULL,
    kecamatan_code text,
    desa_code      text,
    n              bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (day, kecamatan_code, desa_code)
);

-- Complaints per WIB day of receipt and desa (the map per desa; complaint_daily has kecamatan).
CREATE TABLE dash_complaint_desa_day (
    day       date NOT NULL,
    desa_code text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (day, desa_code)
);

-- Red dispositions: red at instant E when due_at <= E and not finished by E, so the red at the end
-- of day D are those that fell due by then minus those that left red by then (finished, and the
-- later of due and finished by then). Per OPD and WIB day whose closing midnight is the first at
-- or after the instant: how many fell due (entered) and how many left red (left_red).
CREATE TABLE dash_red_day (
    day      date NOT NULL,
    opd_id   bigint NOT NULL,
    entered  bigint NOT NULL,
    left_red bigint NOT NULL,
    PRIMARY KEY (day, opd_id)
);

-- The WIB day an instant belongs to, and the day whose closing midnight is the first at or after it.
CREATE FUNCTION dash_wib_day(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (t AT TIME ZONE 'Asia/Jakarta')::date $$;
CREATE FUNCTION dash_wib_closing_day(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((t AT TIME ZONE 'Asia/Jakarta') - interval '1 microsecond')::date $$;

-- The last day a summary may hold: the day before yesterday (WIB). Writes to today and yesterday
-- are not recorded, so a write begun before midnight and committed after it cannot be missed.
CREATE FUNCTION dash_settled_last() RETURNS date LANGUAGE sql VOLATILE AS
$$ SELECT (clock_timestamp() AT TIME ZONE 'Asia/Jakarta')::date - 2 $$;

-- A write touched these days of a kind: their summaries are out of date. Settled days only.
CREATE FUNCTION dash_rollup_touch(p_kind text, p_days date[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    settled date := dash_settled_last();
BEGIN
    -- most writes are to today's rows: nothing to do, no row touched
    IF NOT EXISTS (SELECT 1 FROM unnest(p_days) d WHERE d <= settled) THEN
        RETURN;
    END IF;
    INSERT INTO dash_rollup_day AS r (kind, day)
    SELECT p_kind, d FROM unnest(p_days) d WHERE d <= settled GROUP BY d ORDER BY d
    ON CONFLICT (kind, day) DO UPDATE SET version = r.version + 1;
END $$;

-- incidents: the day of creation, before and after
CREATE FUNCTION dash_incident_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM dash_rollup_touch('incident', (SELECT array_agg(DISTINCT dash_wib_day(created_at)) FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM dash_rollup_touch('incident', (SELECT array_agg(DISTINCT dash_wib_day(created_at)) FROM old_rows));
    ELSE
        PERFORM dash_rollup_touch('incident', ARRAY[dash_wib_day(OLD.created_at), dash_wib_day(NEW.created_at)]);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER dash_incident_insert AFTER INSERT ON incident
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_incident_touch();
CREATE TRIGGER dash_incident_delete AFTER DELETE ON incident
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_incident_touch();
-- only the columns a summary reads (updated_at changes on every write)
CREATE TRIGGER dash_incident_update AFTER UPDATE ON incident FOR EACH ROW
    WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.type IS DISTINCT FROM NEW.type
          OR OLD.state IS DISTINCT FROM NEW.state OR OLD.kecamatan_code IS DISTINCT FROM NEW.kecamatan_code
          OR OLD.desa_code IS DISTINCT FROM NEW.desa_code)
    EXECUTE FUNCTION dash_incident_touch();

-- an incident's track or assignments: the day its incident was created
CREATE FUNCTION dash_incident_child_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM dash_rollup_touch('incident', (SELECT array_agg(DISTINCT dash_wib_day(i.created_at))
                                                 FROM new_rows n JOIN incident i ON i.id = n.incident_id));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM dash_rollup_touch('incident', (SELECT array_agg(DISTINCT dash_wib_day(i.created_at))
                                                 FROM old_rows o JOIN incident i ON i.id = o.incident_id));
    ELSE
        PERFORM dash_rollup_touch('incident', (SELECT array_agg(DISTINCT dash_wib_day(i.created_at)) FROM incident i
                                                WHERE i.id IN (OLD.incident_id, NEW.incident_id)));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER dash_track_insert AFTER INSERT ON incident_track
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_incident_child_touch();
CREATE TRIGGER dash_track_delete AFTER DELETE ON incident_track
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_incident_child_touch();
CREATE TRIGGER dash_track_update AFTER UPDATE ON incident_track FOR EACH ROW
    WHEN (OLD.incident_id IS DISTINCT FROM NEW.incident_id
          OR OLD.acknowledged_at IS DISTINCT FROM NEW.acknowledged_at
          OR OLD.acknowledged_agency_id IS DISTINCT FROM NEW.acknowledged_agency_id
          OR OLD.escalation_level IS DISTINCT FROM NEW.escalation_level
          OR OLD.dispatched_at IS DISTINCT FROM NEW.dispatched_at
          OR OLD.on_scene_at IS DISTINCT FROM NEW.on_scene_at OR OLD.closed_at IS DISTINCT FROM NEW.closed_at)
    EXECUTE FUNCTION dash_incident_child_touch();
CREATE TRIGGER dash_assignment_insert AFTER INSERT ON incident_assignment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_incident_child_touch();
CREATE TRIGGER dash_assignment_delete AFTER DELETE ON incident_assignment
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_incident_child_touch();
CREATE TRIGGER dash_assignment_update AFTER UPDATE ON incident_assignment FOR EACH ROW
    WHEN (OLD.incident_id IS DISTINCT FROM NEW.incident_id OR OLD.agency_id IS DISTINCT FROM NEW.agency_id
          OR OLD.reason IS DISTINCT FROM NEW.reason)
    EXECUTE FUNCTION dash_incident_child_touch();

-- which shift an alert falls in: a pattern change makes every summarised day out of date
CREATE FUNCTION dash_shift_pattern_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dash_rollup_day SET version = version + 1 WHERE kind = 'incident';
    RETURN NULL;
END $$;
CREATE TRIGGER dash_shift_pattern_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON shift_pattern
    FOR EACH STATEMENT EXECUTE FUNCTION dash_shift_pattern_touch();

-- complaints: the day of receipt (only receipt and desa are summarised)
CREATE FUNCTION dash_complaint_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM dash_rollup_touch('complaint', (SELECT array_agg(DISTINCT dash_wib_day(received_at)) FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM dash_rollup_touch('complaint', (SELECT array_agg(DISTINCT dash_wib_day(received_at)) FROM old_rows));
    ELSE
        PERFORM dash_rollup_touch('complaint', ARRAY[dash_wib_day(OLD.received_at), dash_wib_day(NEW.received_at)]);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER dash_complaint_insert AFTER INSERT ON complaint
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_complaint_touch();
CREATE TRIGGER dash_complaint_delete AFTER DELETE ON complaint
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_complaint_touch();
CREATE TRIGGER dash_complaint_update AFTER UPDATE ON complaint FOR EACH ROW
    WHEN (OLD.received_at IS DISTINCT FROM NEW.received_at OR OLD.desa_code IS DISTINCT FROM NEW.desa_code)
    EXECUTE FUNCTION dash_complaint_touch();

-- dispositions: the day each fell due and the day each left red, before and after
CREATE FUNCTION dash_disposition_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM dash_rollup_touch('disposition', (SELECT array_agg(DISTINCT x) FROM new_rows n,
            LATERAL (VALUES (dash_wib_closing_day(n.due_at)),
                            (dash_wib_closing_day(greatest(n.due_at, n.finished_at)))) v(x)));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM dash_rollup_touch('disposition', (SELECT array_agg(DISTINCT x) FROM old_rows o,
            LATERAL (VALUES (dash_wib_closing_day(o.due_at)),
                            (dash_wib_closing_day(greatest(o.due_at, o.finished_at)))) v(x)));
    ELSE
        PERFORM dash_rollup_touch('disposition', ARRAY[
            dash_wib_closing_day(OLD.due_at), dash_wib_closing_day(greatest(OLD.due_at, OLD.finished_at)),
            dash_wib_closing_day(NEW.due_at), dash_wib_closing_day(greatest(NEW.due_at, NEW.finished_at))]);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER dash_disposition_insert AFTER INSERT ON complaint_disposition
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_disposition_touch();
CREATE TRIGGER dash_disposition_delete AFTER DELETE ON complaint_disposition
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_disposition_touch();
CREATE TRIGGER dash_disposition_update AFTER UPDATE ON complaint_disposition FOR EACH ROW
    WHEN (OLD.due_at IS DISTINCT FROM NEW.due_at OR OLD.finished_at IS DISTINCT FROM NEW.finished_at
          OR OLD.opd_id IS DISTINCT FROM NEW.opd_id)
    EXECUTE FUNCTION dash_disposition_touch();

-- Build the summaries of p_kind for the days p_from..p_to that have none or an outdated one
-- (settled days only); returns the last day the summaries now cover (NULL: none). Builders of a
-- kind take turns (an advisory lock), so two requests needing the same days do not both build
-- them: the second finds them built. The versions are read before the base rows (the statements
-- of a plpgsql function each see what was committed when they began).
CREATE FUNCTION dash_rollup_build(p_kind text, p_from date, p_to date) RETURNS date LANGUAGE plpgsql AS $$
DECLARE
    last_day date := least(p_to, dash_settled_last());
    todo date[];
    seen bigint[];
BEGIN
    IF p_from > last_day THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM generate_series(p_from, last_day, interval '1 day') g(d)
          LEFT JOIN dash_rollup_day r ON r.kind = p_kind AND r.day = g.d::date
         WHERE r.built_version IS NULL OR r.built_version <> r.version) THEN
        RETURN last_day;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('siaga.dash_rollup'), hashtext(p_kind));
    SELECT array_agg(g.d::date ORDER BY g.d), array_agg(coalesce(r.version, 0) ORDER BY g.d) INTO todo, seen
      FROM generate_series(p_from, last_day, interval '1 day') g(d)
      LEFT JOIN dash_rollup_day r ON r.kind = p_kind AND r.day = g.d::date
     WHERE r.built_version IS NULL OR r.built_version <> r.version;
    IF todo IS NULL THEN
        RETURN last_day;
    END IF;
    IF p_kind = 'incident' THEN
        DELETE FROM dash_ack_day WHERE day = ANY (todo);
        DELETE FROM dash_unscheduled_day WHERE day = ANY (todo);
        DELETE FROM dash_stage_day WHERE day = ANY (todo);
        DELETE FROM dash_incident_type_day WHERE day = ANY (todo);
        DELETE FROM dash_incident_area_day WHERE day = ANY (todo);
        -- as tables.time_to_acknowledge and shift_report count them
        INSERT INTO dash_ack_day (day, agency_id, n, acked, escalated, ack_s)
        SELECT dash_wib_day(i.created_at), s.agency_id, count(*), count(ack.at),
               count(*) FILTER (WHERE t.escalation_level > 0),
               coalesce(string_agg(float8send(extract(epoch FROM ack.at - i.created_at)::float8), '')
                            FILTER (WHERE ack.at IS NOT NULL), '')
          FROM incident i
          JOIN incident_assignment s ON s.incident_id = i.id AND s.reason IN ('rule', 'fallback')
          LEFT JOIN incident_track t ON t.incident_id = i.id
         CROSS JOIN LATERAL (SELECT CASE WHEN t.acknowledged_agency_id = s.agency_id THEN t.acknowledged_at END AS at) ack
         WHERE dash_wib_day(i.created_at) = ANY (todo)
           AND i.created_at >= (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND i.created_at < ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND i.type <> 'test'
         GROUP BY 1, 2;
        -- shift_report's 'placed' rows that no active shift of the agency contains
        INSERT INTO dash_unscheduled_day (day, agency_id, n, acked, escalated, ack_s)
        SELECT dash_wib_day(i.created_at), s.agency_id, count(*), count(ack.at),
               count(*) FILTER (WHERE coalesce(t.escalation_level, 0) > 0),
               coalesce(string_agg(float8send(extract(epoch FROM ack.at - i.created_at)::float8), '')
                            FILTER (WHERE ack.at IS NOT NULL), '')
          FROM incident i
          JOIN incident_assignment s ON s.incident_id = i.id AND s.reason IN ('rule', 'fallback')
          LEFT JOIN incident_track t ON t.incident_id = i.id
         CROSS JOIN LATERAL (SELECT CASE WHEN t.acknowledged_agency_id = s.agency_id THEN t.acknowledged_at END AS at) ack
         WHERE dash_wib_day(i.created_at) = ANY (todo)
           AND i.created_at >= (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND i.created_at < ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND i.type <> 'test'
           AND NOT EXISTS (
               SELECT 1 FROM shift_pattern p
                WHERE p.agency_id = s.agency_id AND p.active
                  AND (i.created_at AT TIME ZONE 'Asia/Jakarta')
                      - (((i.created_at AT TIME ZONE 'Asia/Jakarta') - p.starts::interval)::date + p.starts) < p.duration)
         GROUP BY 1, 2;
        -- as charts.stage_times counts them
        INSERT INTO dash_stage_day (day, agency_id, diterima, dikirim, tiba, selesai)
        SELECT day, agency_id,
               coalesce(string_agg(float8send(diterima), '') FILTER (WHERE diterima IS NOT NULL), ''),
               coalesce(string_agg(float8send(dikirim), '') FILTER (WHERE dikirim IS NOT NULL), ''),
               coalesce(string_agg(float8send(tiba), '') FILTER (WHERE tiba IS NOT NULL), ''),
               coalesce(string_agg(float8send(selesai), '') FILTER (WHERE selesai IS NOT NULL), '')
          FROM (SELECT dash_wib_day(i.created_at) AS day, t.acknowledged_agency_id AS agency_id,
                       extract(epoch FROM t.acknowledged_at - i.created_at)::float8 AS diterima,
                       extract(epoch FROM t.dispatched_at - t.acknowledged_at)::float8 AS dikirim,
                       extract(epoch FROM t.on_scene_at - t.dispatched_at)::float8 AS tiba,
                       CASE WHEN i.state = 'resolved' THEN extract(epoch FROM t.closed_at - t.on_scene_at)::float8 END
                           AS selesai
                  FROM incident i JOIN incident_track t ON t.incident_id = i.id
                 WHERE dash_wib_day(i.created_at) = ANY (todo)
                   AND i.created_at >= (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
                   AND i.created_at < ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
                   AND i.type <> 'test'
                   AND t.acknowledged_at IS NOT NULL AND t.acknowledged_agency_id IS NOT NULL) s
         GROUP BY 1, 2;
        INSERT INTO dash_incident_type_day (day, type, n)
        SELECT dash_wib_day(created_at), type, count(*)
          FROM incident
         WHERE dash_wib_day(created_at) = ANY (todo)
           AND created_at >= (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND created_at < ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND type <> 'test'
         GROUP BY 1, 2;
        INSERT INTO dash_incident_area_day (day, kecamatan_code, desa_code, n)
        SELECT dash_wib_day(created_at), kecamatan_code, desa_code, count(*)
          FROM incident
         WHERE dash_wib_day(created_at) = ANY (todo)
           AND created_at >= (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND created_at < ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND type <> 'test'
         GROUP BY 1, 2, 3;
    ELSIF p_kind = 'complaint' THEN
        DELETE FROM dash_complaint_desa_day WHERE day = ANY (todo);
        INSERT INTO dash_complaint_desa_day (day, desa_code, n)
        SELECT dash_wib_day(received_at), desa_code, count(*)
          FROM complaint
         WHERE dash_wib_day(received_at) = ANY (todo)
           AND received_at >= (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND received_at < ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
           AND desa_code IS NOT NULL
         GROUP BY 1, 2;
    ELSIF p_kind = 'disposition' THEN
        DELETE FROM dash_red_day WHERE day = ANY (todo);
        INSERT INTO dash_red_day (day, opd_id, entered, left_red)
        SELECT day, opd_id, sum(e), sum(l) FROM (
            SELECT dash_wib_closing_day(due_at) AS day, opd_id, 1 AS e, 0 AS l FROM complaint_disposition
             WHERE due_at > (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
               AND due_at <= ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
            UNION ALL
            SELECT dash_wib_closing_day(greatest(due_at, finished_at)), opd_id, 0, 1 FROM complaint_disposition
             WHERE finished_at IS NOT NULL
               AND greatest(due_at, finished_at) > (todo[1]::timestamp AT TIME ZONE 'Asia/Jakarta')
               AND greatest(due_at, finished_at) <= ((todo[array_upper(todo, 1)] + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
        ) x
         WHERE day = ANY (todo)
         GROUP BY 1, 2;
    ELSE
        RAISE EXCEPTION 'unknown rollup kind %', p_kind;
    END IF;
    INSERT INTO dash_rollup_day AS r (kind, day, version, built_version)
    SELECT p_kind, d, v, v FROM unnest(todo, seen) u(d, v)
    ON CONFLICT (kind, day) DO UPDATE SET built_version = EXCLUDED.built_version;
    RETURN last_day;
END $$;
