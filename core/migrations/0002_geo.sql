-- Geolocation: cell towers (OpenCelliD format, `siaga cells import`) and the official code list
-- of desa/kelurahan and kecamatan (`siaga reference load`).

CREATE TABLE cell_tower (
    mcc             smallint NOT NULL,
    net             integer NOT NULL,           -- MNC
    area            integer NOT NULL,           -- LAC / TAC
    cell            bigint NOT NULL,            -- CID / ECI / NCI
    radio           text NOT NULL,              -- GSM, UMTS, LTE, NR, CDMA
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    range_m         integer NOT NULL DEFAULT 0, -- 0 = unknown
    samples         integer NOT NULL DEFAULT 0,
    changeable      boolean NOT NULL DEFAULT true,
    created         timestamptz,
    updated         timestamptz,
    average_signal  smallint,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    -- An alert's cell has no radio type, so the lookup key (mcc, net, area, cell) leads the key.
    PRIMARY KEY (mcc, net, area, cell, radio)
);

CREATE TABLE wilayah (
    code         text PRIMARY KEY,   -- Kemendagri, e.g. 33.07.09.1021
    name         text NOT NULL,
    level        text NOT NULL CHECK (level IN ('provinsi', 'kabupaten', 'kecamatan', 'desa', 'kelurahan')),
    parent_code  text,
    bps_code     text                -- kecamatan only: BPS 7-digit code, e.g. 3307090
);
CREATE INDEX wilayah_parent_idx ON wilayah (parent_code);
