-- The audit log made tamper-evident: each row is sealed with the SHA-256 of its content chained to
-- the row sealed before it. Sealing happens after commit, in commit order (txid, id, below the same
-- horizon as the event bus), by `audit_log_seal()`, which the dispatch loop and
-- `siaga audit verify` call; writers take no lock. `siaga audit verify` walks the chain: an edited
-- row breaks its hash, a deleted row leaves a gap in `chain_pos`, and a cut-off tail shows against
-- a head (count and hash) recorded outside the database. Rows not yet sealed (the last moments)
-- are reported as pending.

ALTER TABLE audit_log
    ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    ADD COLUMN chain_pos bigint,
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash bytea;
CREATE UNIQUE INDEX audit_log_chain_idx ON audit_log (chain_pos);
CREATE INDEX audit_log_unsealed_idx ON audit_log (txid, id) WHERE chain_pos IS NULL;

CREATE FUNCTION audit_row_hash(prev bytea, r audit_log) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(jsonb_build_array(
        r.chain_pos, r.id, extract(epoch FROM r.at), r.user_id, r.username, r.role, r.action,
        r.object_type, r.object_id, r.before, r.after, r.client_ip)::text, 'UTF8'))
$$;

-- Append-only, except that the sealer may fill in the seal of a row that has none.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.chain_pos IS NULL AND NEW.chain_pos IS NOT NULL
       AND current_setting('siaga.audit_sealing', true) = 'on'
       AND (to_jsonb(NEW) - ARRAY['chain_pos', 'prev_hash', 'hash'])
           = (to_jsonb(OLD) - ARRAY['chain_pos', 'prev_hash', 'hash']) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER audit_log_no_update ON audit_log;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

-- Seal committed rows in commit order; returns how many. Safe to call from several processes.
CREATE FUNCTION audit_log_seal(max_rows integer DEFAULT 10000) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    last audit_log;
    r audit_log;
    horizon xid8;
    n integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('siaga.audit_log.seal'));
    PERFORM set_config('siaga.audit_sealing', 'on', true);
    horizon := bus_horizon();  -- commit order, as the event bus reads it
    SELECT * INTO last FROM audit_log WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1;
    FOR r IN SELECT * FROM audit_log WHERE chain_pos IS NULL AND txid < horizon
              ORDER BY txid, id LIMIT max_rows LOOP
        r.chain_pos := coalesce(last.chain_pos, 0) + 1;
        r.prev_hash := last.hash;
        r.hash := audit_row_hash(last.hash, r);
        UPDATE audit_log SET chain_pos = r.chain_pos, prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
        last := r;
        n := n + 1;
    END LOOP;
    PERFORM set_config('siaga.audit_sealing', 'off', true);
    RETURN n;
END $$;

-- (sealed rows checked, first broken row's id or NULL, head hash of the intact part, rows pending)
CREATE FUNCTION audit_log_verify() RETURNS TABLE (checked bigint, broken_id bigint, head bytea, pending bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r audit_log;
    prev bytea := NULL;
    n bigint := 0;
    waiting bigint;
BEGIN
    SELECT count(*) INTO waiting FROM audit_log WHERE chain_pos IS NULL;
    FOR r IN SELECT * FROM audit_log WHERE chain_pos IS NOT NULL ORDER BY chain_pos LOOP
        n := n + 1;
        IF r.chain_pos <> n OR r.prev_hash IS DISTINCT FROM prev
           OR r.hash IS DISTINCT FROM audit_row_hash(prev, r) THEN
            RETURN QUERY SELECT n - 1, r.id, prev, waiting;
            RETURN;
        END IF;
        prev := r.hash;
    END LOOP;
    RETURN QUERY SELECT n, NULL::bigint, prev, waiting;
END $$;
