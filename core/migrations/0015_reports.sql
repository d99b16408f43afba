-- The weekly reports (issue 16): the regent's and one per OPD, as PDF, kept and downloadable.
--
-- The PDF is kept as made, so a report read next year says what the figures were on the day it was
-- made, not what a recount says now. The schedule makes a week's report once however many dispatch
-- processes run: the unique index below (besides their advisory lock); reports made on demand may
-- be made again for the same period.
CREATE TABLE dashboard_report (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('bupati', 'opd')),
    opd_id      bigint REFERENCES agency(id),
    first_day   date NOT NULL,
    last_day    date NOT NULL,
    scheduled   boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- who asked for it; NULL for the schedule
    created_by  bigint REFERENCES app_user(id),
    pdf         bytea NOT NULL,
    size        integer NOT NULL,
    pages       integer NOT NULL,
    CHECK (last_day >= first_day),
    CHECK ((kind = 'opd') = (opd_id IS NOT NULL)),
    -- a scheduled report is nobody's; one made on demand names who asked when a person did
    CHECK (NOT scheduled OR created_by IS NULL)
);

CREATE UNIQUE INDEX dashboard_report_weekly_once ON dashboard_report (kind, opd_id, first_day)
    NULLS NOT DISTINCT WHERE scheduled;
-- the list page: newest first, an OPD officer's own OPD
CREATE INDEX dashboard_report_created_idx ON dashboard_report (created_at DESC);
CREATE INDEX dashboard_report_opd_idx ON dashboard_report (opd_id, created_at DESC) WHERE opd_id IS NOT NULL;
