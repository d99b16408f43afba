-- Telemetry retention: raw rows older than the retention setting are folded into an hourly
-- roll-up per device and deleted, in short batches (gateway/retention.py), so the table stays
-- bounded and no transaction is long enough to hold the event bus or the alert path back.

-- The pruner takes the oldest rows in order, a batch at a time. The BRIN index stops being
-- useful once deleted space is reused by new rows (every block range then spans old and new
-- times), so a b-tree on the receipt time replaces it.
DROP INDEX telemetry_time_brin;
CREATE INDEX telemetry_time_idx ON telemetry (received_at);

CREATE TABLE telemetry_hourly (
    device_id    text NOT NULL,
    hour         timestamptz NOT NULL,
    readings     integer NOT NULL,
    fixes        integer NOT NULL,          -- readings that carried a GPS fix
    battery_min  smallint,
    battery_max  smallint,
    rssi_min     smallint,
    rssi_max     smallint,
    rssi_sum     bigint NOT NULL DEFAULT 0, -- with rssi_n the mean survives further merging
    rssi_n       integer NOT NULL DEFAULT 0,
    last_at      timestamptz NOT NULL,      -- the hour's last reading
    last_fix_at  timestamptz,               -- and its last position
    last_lat     double precision,
    last_lon     double precision,
    PRIMARY KEY (device_id, hour)
);
CREATE INDEX telemetry_hourly_hour_idx ON telemetry_hourly (hour);
