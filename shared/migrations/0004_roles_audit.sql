-- Roles and the audit trail. Three things 0002 left open:
-- 1. A foreign-key check does not see row-level security, so a row of one practice could point at a
--    row of another. References now carry the practice: (practice_id, id) keys, composite FKs.
-- 2. Every policy let every member do everything. Now, by `app_metadata.practice_role`: staff read,
--    send and mark threads reviewed; only admins change rules and settings; nobody deletes consent
--    records, messages or threads as `authenticated`. Column GRANTs limit what an UPDATE may touch.
-- 3. Consent, rule and settings changes are written to an append-only `audit_log` by triggers.
-- Needs PostgreSQL 15+ (`ON DELETE SET NULL (column)` on a composite key); Supabase runs 15+.

-- 1. References that carry the practice -------------------------------------------------------

ALTER TABLE sms_conversations ADD CONSTRAINT sms_conversations_practice_id_id_key UNIQUE (practice_id, id);
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_practice_id_id_key UNIQUE (practice_id, id);

ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_conversation_id_fkey;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_conversation_fkey
    FOREIGN KEY (practice_id, conversation_id) REFERENCES sms_conversations (practice_id, id) ON DELETE CASCADE;

-- Deleting the message replied to clears only reply_to_id (practice_id is NOT NULL and stays).
ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_reply_to_id_fkey;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_reply_to_fkey
    FOREIGN KEY (practice_id, reply_to_id) REFERENCES sms_messages (practice_id, id) ON DELETE SET NULL (reply_to_id);

-- 2. Roles ------------------------------------------------------------------------------------

-- The caller's role in its practice (`staff` or `admin`), from the verified JWT of this transaction.
CREATE FUNCTION auth_practice_role() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb #>> '{app_metadata,practice_role}'
$$;

-- A member (staff or admin) of `p_practice_id`.
CREATE FUNCTION auth_is_member(p_practice_id uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_practice_id = auth_practice_id() AND auth_practice_role() IN ('staff', 'admin'), false)
$$;

-- An admin of `p_practice_id`.
CREATE FUNCTION auth_is_admin(p_practice_id uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_practice_id = auth_practice_id() AND auth_practice_role() = 'admin', false)
$$;

GRANT EXECUTE ON FUNCTION auth_practice_role(), auth_is_member(uuid), auth_is_admin(uuid) TO authenticated, service_role;

-- Start from nothing but reading, then grant each role what it needs.
REVOKE INSERT, UPDATE, DELETE ON sms_conversations, sms_messages, sms_opt_outs, auto_response_rules FROM authenticated;
DROP POLICY sms_conversations_own ON sms_conversations;
DROP POLICY sms_messages_own ON sms_messages;
DROP POLICY sms_opt_outs_own ON sms_opt_outs;
DROP POLICY auto_response_rules_own ON auto_response_rules;

-- Threads: members read, start (by sending) and mark reviewed. The columns are those sending and
-- reviewing change; a thread's practice, number and contact never change, and no thread is deleted
-- (that would take its inbound texts with it).
CREATE POLICY sms_conversations_read ON sms_conversations FOR SELECT TO authenticated
    USING (auth_is_member(practice_id));
CREATE POLICY sms_conversations_start ON sms_conversations FOR INSERT TO authenticated
    WITH CHECK (auth_is_member(practice_id));
CREATE POLICY sms_conversations_update ON sms_conversations FOR UPDATE TO authenticated
    USING (auth_is_member(practice_id)) WITH CHECK (auth_is_member(practice_id));
GRANT INSERT ON sms_conversations TO authenticated;
GRANT UPDATE (last_message_at, last_message_preview, unread_count, needs_review, review_reason)
    ON sms_conversations TO authenticated;

-- Messages: members read and send (outbound texts of their own, `origin = 'api'`); inbound texts
-- and automatic replies are written by the service role only. Nothing is deleted.
CREATE POLICY sms_messages_read ON sms_messages FOR SELECT TO authenticated
    USING (auth_is_member(practice_id));
CREATE POLICY sms_messages_send ON sms_messages FOR INSERT TO authenticated
    WITH CHECK (auth_is_member(practice_id) AND direction = 'outbound' AND origin = 'api');
CREATE POLICY sms_messages_update ON sms_messages FOR UPDATE TO authenticated
    USING (auth_is_member(practice_id)) WITH CHECK (auth_is_member(practice_id));
GRANT INSERT ON sms_messages TO authenticated;
GRANT UPDATE (provider, provider_message_ids, status, segments, error, needs_review, review_reason)
    ON sms_messages TO authenticated;

-- A policy cannot compare old and new rows: this trigger lets `authenticated` record the outcome of
-- a send only while it is still sending; on every other message it may only clear the review flag
-- (an inbound emergency cannot be made to look answered or failed).
CREATE FUNCTION sms_messages_member_update_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = 'authenticated'
       AND NOT (OLD.direction = 'outbound' AND OLD.status = 'sending')
       AND (NEW.provider, NEW.provider_message_ids, NEW.status, NEW.segments, NEW.error, NEW.review_reason)
           IS DISTINCT FROM
           (OLD.provider, OLD.provider_message_ids, OLD.status, OLD.segments, OLD.error, OLD.review_reason) THEN
        RAISE EXCEPTION 'members may only mark this message reviewed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sms_messages_member_update_guard BEFORE UPDATE ON sms_messages
    FOR EACH ROW EXECUTE FUNCTION sms_messages_member_update_guard();

-- Consent: members read and may record an opt-out (a carrier can report one while staff send);
-- nobody removes or edits one as `authenticated` (that would re-subscribe a patient).
CREATE POLICY sms_opt_outs_read ON sms_opt_outs FOR SELECT TO authenticated
    USING (auth_is_member(practice_id));
CREATE POLICY sms_opt_outs_record ON sms_opt_outs FOR INSERT TO authenticated
    WITH CHECK (auth_is_member(practice_id));
GRANT INSERT ON sms_opt_outs TO authenticated;

-- Automatic replies: members read; admins add and edit (disable with `enabled`, never delete: the
-- carrier-keyword replies must stay).
CREATE POLICY auto_response_rules_read ON auto_response_rules FOR SELECT TO authenticated
    USING (auth_is_member(practice_id));
CREATE POLICY auto_response_rules_admin_add ON auto_response_rules FOR INSERT TO authenticated
    WITH CHECK (auth_is_admin(practice_id));
CREATE POLICY auto_response_rules_admin_edit ON auto_response_rules FOR UPDATE TO authenticated
    USING (auth_is_admin(practice_id)) WITH CHECK (auth_is_admin(practice_id));
GRANT INSERT ON auto_response_rules TO authenticated;
GRANT UPDATE (priority, keywords, weak_keywords, context_keywords, negations, reply_template, enabled, updated_at)
    ON auto_response_rules TO authenticated;

-- Practice settings: admins edit them; the id and creation time are not settings.
CREATE POLICY practices_admin_edit ON practices FOR UPDATE TO authenticated
    USING (auth_is_admin(id)) WITH CHECK (auth_is_admin(id));
GRANT UPDATE (name, phone, address, timezone, office_hours, holidays, auto_reply_quiet_hours, after_hours_note)
    ON practices TO authenticated;

-- 3. Audit trail ------------------------------------------------------------------------------

-- Who changed consent, rules or settings, when, and what. Append-only for everyone: rows are
-- written by the trigger below, never updated or deleted (not even by the service role).
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: the trail outlives a deleted practice.
    practice_id uuid,
    at timestamptz NOT NULL DEFAULT now(),
    -- The JWT's `sub` (a user), `service` (the service role: jobs, webhook, automatic replies), or
    -- the database user when no request set claims (migrations, psql).
    actor text NOT NULL,
    -- `staff`, `admin`, `service` or `database`.
    role text NOT NULL,
    table_name text NOT NULL,
    action text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    old_row jsonb,
    new_row jsonb
);
CREATE INDEX audit_log_practice ON audit_log (practice_id, at DESC);

-- SECURITY DEFINER: writes the trail although the caller may not; current_user is then the owner,
-- so the caller is read from the claims (and session_user for direct database work).
CREATE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
    old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
    practice_key text := CASE WHEN TG_TABLE_NAME = 'practices' THEN 'id' ELSE 'practice_id' END;
    service boolean := claims ->> 'role' = 'service_role';
BEGIN
    IF old_row = new_row THEN
        RETURN NULL;
    END IF;
    INSERT INTO audit_log (practice_id, actor, role, table_name, action, old_row, new_row)
    VALUES (
        (coalesce(new_row, old_row) ->> practice_key)::uuid,
        CASE WHEN service THEN 'service' ELSE coalesce(claims ->> 'sub', session_user::text) END,
        CASE WHEN service THEN 'service' ELSE coalesce(claims #>> '{app_metadata,practice_role}', 'database') END,
        TG_TABLE_NAME,
        lower(TG_OP),
        old_row,
        new_row
    );
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION audit_change() FROM PUBLIC;

CREATE TRIGGER sms_opt_outs_audit AFTER INSERT OR UPDATE OR DELETE ON sms_opt_outs
    FOR EACH ROW EXECUTE FUNCTION audit_change();
CREATE TRIGGER auto_response_rules_audit AFTER INSERT OR UPDATE OR DELETE ON auto_response_rules
    FOR EACH ROW EXECUTE FUNCTION audit_change();
CREATE TRIGGER practices_audit AFTER UPDATE OR DELETE ON practices
    FOR EACH ROW EXECUTE FUNCTION audit_change();

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Admins read their practice's trail; the service role reads all of it; nobody else anything.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_admin_read ON audit_log FOR SELECT TO authenticated USING (auth_is_admin(practice_id));
GRANT SELECT ON audit_log TO authenticated, service_role;
