-- The daily disposition roll-up, written by one INSERT instead of one per trigger operation.
-- A transition table exists only for the operations that define it, so a static query naming
-- both would fail on INSERT and DELETE; each operation names its signed rows (+1 for a row as it
-- is now, -1 for a row as it was), and the one roll-up adds them. The counts are as before.
CREATE OR REPLACE FUNCTION complaint_disposition_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    signed_rows text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, disposed_at, opd_id, outcome, on_time FROM new_rows'
        WHEN 'UPDATE' THEN 'SELECT 1 AS sign, disposed_at, opd_id, outcome, on_time FROM new_rows
                            UNION ALL
                            SELECT -1, disposed_at, opd_id, outcome, on_time FROM old_rows'
        ELSE 'SELECT -1 AS sign, disposed_at, opd_id, outcome, on_time FROM old_rows'
    END;
BEGIN
    EXECUTE format(
        $sql$
        INSERT INTO complaint_disposition_daily (day, opd_id, total, on_time, late, returned)
        SELECT day, opd_id, sum(total), sum(on_time), sum(late), sum(returned) FROM (
                SELECT (disposed_at AT TIME ZONE 'Asia/Jakarta')::date AS day, opd_id, sign AS total,
                       CASE WHEN outcome = 'followed_up' AND on_time THEN sign ELSE 0 END AS on_time,
                       CASE WHEN outcome = 'followed_up' AND NOT on_time THEN sign ELSE 0 END AS late,
                       CASE WHEN outcome = 'returned' THEN sign ELSE 0 END AS returned
                  FROM (%s) s) x
         GROUP BY 1, 2
        HAVING sum(total) <> 0 OR sum(on_time) <> 0 OR sum(late) <> 0 OR sum(returned) <> 0
         ORDER BY 1, 2
        ON CONFLICT (day, opd_id) DO UPDATE
            SET total = complaint_disposition_daily.total + EXCLUDED.total,
                on_time = complaint_disposition_daily.on_time + EXCLUDED.on_time,
                late = complaint_disposition_daily.late + EXCLUDED.late,
                returned = complaint_disposition_daily.returned + EXCLUDED.returned
        $sql$,
        signed_rows
    );
    RETURN NULL;
END $$;
