-- Analytics: when a person marked a flagged text reviewed, the indexes the figures are read
-- through, and daily rollups per practice and local day that are marked stale whenever a row they
-- were computed from changes, so a rollup always says what the live tables say.

-- When a person marked the text reviewed (NULL while it is flagged, and for flags cleared before
-- this migration). A flag raised again clears it.
ALTER TABLE sms_messages ADD COLUMN reviewed_at timestamptz;
GRANT UPDATE (reviewed_at) ON sms_messages TO authenticated;

-- Members may still only clear the review flag, and record when they did it while doing so.
CREATE OR REPLACE FUNCTION sms_messages_member_update_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = 'authenticated'
       AND NOT (OLD.direction = 'outbound' AND OLD.status = 'sending')
       AND (NEW.provider, NEW.provider_message_ids, NEW.status, NEW.segments, NEW.error, NEW.review_reason)
           IS DISTINCT FROM
           (OLD.provider, OLD.provider_message_ids, OLD.status, OLD.segments, OLD.error, OLD.review_reason) THEN
        RAISE EXCEPTION 'members may only mark this message reviewed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF current_user = 'authenticated' AND NEW.reviewed_at IS DISTINCT FROM OLD.reviewed_at
       AND NOT (OLD.needs_review AND NOT NEW.needs_review) THEN
        RAISE EXCEPTION 'the review time is set only when the flag is cleared' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION sms_messages_review_reopened() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.needs_review THEN
        NEW.reviewed_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sms_messages_review_reopened BEFORE UPDATE OF needs_review ON sms_messages
    FOR EACH ROW EXECUTE FUNCTION sms_messages_review_reopened();

-- The figures read a practice's rows by time (a missed caller's threads are found through
-- sms_conversations_contact, a call back through phone_calls_contact).
CREATE INDEX sms_messages_practice_time ON sms_messages (practice_id, occurred_at);
-- Inbound texts flagged for a person, and when: a small part of all texts.
CREATE INDEX sms_messages_flagged ON sms_messages (practice_id, occurred_at)
    WHERE direction = 'inbound' AND (review_reason IS NOT NULL OR needs_review);
CREATE INDEX call_recordings_practice_time ON call_recordings (practice_id, recorded_at);
CREATE INDEX sms_opt_outs_practice_time ON sms_opt_outs (practice_id, opted_out_at);

-- One row per practice and local day: the day's figures (counts, sums, and the review waits
-- themselves, so medians and percentiles over any range are exact), as the daily job computed them.
CREATE TABLE analytics_daily (
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    day date NOT NULL,
    -- The zone the day was cut in, and its bounds: [starts_at, ends_at), 23 to 25 hours.
    timezone text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    -- The version of the figures' shape; a rollup of another version is computed again.
    format integer NOT NULL,
    figures jsonb NOT NULL,
    -- A row the day's figures depend on changed after it was computed: read live, computed again.
    stale boolean NOT NULL DEFAULT false,
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (practice_id, day)
);
CREATE INDEX analytics_daily_span ON analytics_daily (practice_id, starts_at) WHERE NOT stale;

-- The daily job holds this lock (exclusively) while it computes and stores a practice's rollups;
-- every change to the rows they are computed from holds it shared until it commits. So a change
-- either commits before the job reads, or marks the rollup the job stored stale.
CREATE FUNCTION analytics_lock_key(p_practice_id uuid) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('analytics:' || p_practice_id::text, 0)
$$;

-- Statement-level, over the transition tables: TG_ARGV[0] is the column that says which day a row
-- belongs to, TG_ARGV[1] how far before it the row still counts (a call or text answers a missed
-- call of the hour before), TG_ARGV[2] the columns the figures read (comma separated; empty: all):
-- an update that changes none of them (a send's claim, a retention pass) leaves the rollups alone.
-- Rows are taken by the hour, so a bulk load costs one pass.
CREATE FUNCTION analytics_mark_stale() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
DECLARE
    at_column text := TG_ARGV[0];
    look_back interval := TG_ARGV[1]::interval;
    watched text[] := string_to_array(nullif(TG_ARGV[2], ''), ',');
    touched text;
    practice uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        touched := format('SELECT practice_id, %I AS at FROM new_rows', at_column);
    ELSIF TG_OP = 'DELETE' THEN
        touched := format('SELECT practice_id, %I AS at FROM old_rows', at_column);
    ELSIF watched IS NULL THEN
        touched := format('SELECT practice_id, %1$I AS at FROM old_rows UNION ALL SELECT practice_id, %1$I FROM new_rows',
                          at_column);
    ELSE
        -- The rows in which a watched column changed, as they were and as they are.
        touched := format(
            'SELECT x.practice_id, x.at FROM old_rows o JOIN new_rows n ON n.id = o.id '
            'CROSS JOIN LATERAL (VALUES (o.practice_id, o.%1$I), (n.practice_id, n.%1$I)) AS x (practice_id, at) '
            'WHERE (%2$s) IS DISTINCT FROM (%3$s)',
            at_column,
            (SELECT string_agg('o.' || quote_ident(c), ', ') FROM unnest(watched) AS c),
            (SELECT string_agg('n.' || quote_ident(c), ', ') FROM unnest(watched) AS c));
    END IF;
    FOR practice IN EXECUTE format('SELECT DISTINCT practice_id FROM (%s) t ORDER BY 1', touched) LOOP
        PERFORM pg_advisory_xact_lock_shared(analytics_lock_key(practice));
    END LOOP;
    EXECUTE format(
        'UPDATE analytics_daily a SET stale = true '
        'FROM (SELECT DISTINCT practice_id, date_trunc(''hour'', at) AS hour FROM (%s) r) t '
        'WHERE a.practice_id = t.practice_id AND NOT a.stale '
        'AND a.starts_at < t.hour + interval ''1 hour'' AND a.ends_at > t.hour - $1',
        touched) USING look_back;
    RETURN NULL;
END
$$;

CREATE TRIGGER phone_calls_analytics_insert AFTER INSERT ON phone_calls
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('started_at', '1 hour');
CREATE TRIGGER phone_calls_analytics_update AFTER UPDATE ON phone_calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('started_at', '1 hour',
        'practice_id,direction,contact,started_at,duration_seconds,disposition,completed');
CREATE TRIGGER phone_calls_analytics_delete AFTER DELETE ON phone_calls
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('started_at', '1 hour');

CREATE TRIGGER sms_messages_analytics_insert AFTER INSERT ON sms_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('occurred_at', '1 hour');
CREATE TRIGGER sms_messages_analytics_update AFTER UPDATE ON sms_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('occurred_at', '1 hour',
        'practice_id,conversation_id,direction,status,origin,occurred_at,arrived_at,auto_response_category,'
        'needs_review,review_reason,reviewed_at');
CREATE TRIGGER sms_messages_analytics_delete AFTER DELETE ON sms_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('occurred_at', '1 hour');

CREATE TRIGGER sms_opt_outs_analytics_insert AFTER INSERT ON sms_opt_outs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('opted_out_at', '0');
CREATE TRIGGER sms_opt_outs_analytics_update AFTER UPDATE ON sms_opt_outs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('opted_out_at', '0', '');
CREATE TRIGGER sms_opt_outs_analytics_delete AFTER DELETE ON sms_opt_outs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('opted_out_at', '0');

-- A transcript is stored, or removed, together with a change to its recording's transcription.
CREATE TRIGGER call_recordings_analytics_insert AFTER INSERT ON call_recordings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('recorded_at', '0');
CREATE TRIGGER call_recordings_analytics_update AFTER UPDATE ON call_recordings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('recorded_at', '0',
        'practice_id,recorded_at,duration_ms,transcription_status,transcription_failures');
CREATE TRIGGER call_recordings_analytics_delete AFTER DELETE ON call_recordings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_mark_stale('recorded_at', '0');

-- Admins read their practice's rollups (the endpoint is admins only); the daily job writes them.
-- On Supabase, tables created in `public` give `anon` and `authenticated` every privilege by
-- default: start from none.
ALTER TABLE analytics_daily ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON analytics_daily FROM PUBLIC, anon, authenticated;
GRANT SELECT ON analytics_daily TO authenticated;
CREATE POLICY analytics_daily_read ON analytics_daily FOR SELECT TO authenticated USING (auth_is_admin(practice_id));
GRANT ALL ON analytics_daily TO service_role;
GRANT EXECUTE ON FUNCTION analytics_lock_key(uuid) TO authenticated, service_role;
