-- Row-level security, Supabase's way: the roles anon / authenticated / service_role (created here
-- when absent, so plain Postgres behaves like Supabase), and policies that read the caller's
-- practice from the JWT claims the request sets per transaction (`request.jwt.claims`).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
END
$$;

-- The connecting user must be able to SET ROLE to the request roles (on Supabase it already can).
DO $$
BEGIN
    EXECUTE format('GRANT anon, authenticated, service_role TO %I', current_user);
EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
    RAISE NOTICE 'could not grant the request roles to %; assuming it already has them', current_user;
END
$$;

-- The caller's practice, from the verified JWT the request set for this transaction.
CREATE FUNCTION auth_practice_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb #>> '{app_metadata,practice_id}', '')::uuid
$$;

GRANT USAGE ON SCHEMA public TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth_practice_id() TO authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA public TO service_role;

-- Staff (through our API or Supabase's client API) see and change only their own practice's rows.
GRANT SELECT ON practices, practice_dids, job_runs, sandbox_outbox, auto_reply_claims TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON sms_conversations, sms_messages, sms_opt_outs, auto_response_rules TO authenticated;

ALTER TABLE practices ENABLE ROW LEVEL SECURITY;
CREATE POLICY practices_own ON practices FOR SELECT TO authenticated USING (id = auth_practice_id());

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['practice_dids', 'job_runs', 'sandbox_outbox', 'auto_reply_claims'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO authenticated USING (practice_id = auth_practice_id())',
                       t || '_own', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['sms_conversations', 'sms_messages', 'sms_opt_outs', 'auto_response_rules'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO authenticated '
                       'USING (practice_id = auth_practice_id()) WITH CHECK (practice_id = auth_practice_id())',
                       t || '_own', t);
    END LOOP;
END
$$;

-- Nobody but the owner and the service role touches the migration history.
ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY;
